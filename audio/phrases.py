"""The spoken call as an ordered list of parts: phrase, letter, number, phrase, window."""

from __future__ import annotations

import re
from dataclasses import dataclass

from audio.numbers import arabic_number_words, english_number_words

LANGS = ("ar", "en")

# Latin ticket letters as Egyptians say them aloud.
AR_LETTER_NAMES = {
    "A": "إيه", "B": "بي", "C": "سي", "D": "دي", "E": "إي", "F": "إف", "G": "جي",
    "H": "إتش", "I": "آي", "J": "جيه", "K": "كيه", "L": "إل", "M": "إم", "N": "إن",
    "O": "أو", "P": "بي", "Q": "كيو", "R": "آر", "S": "إس", "T": "تي", "U": "يو",
    "V": "في", "W": "دبليو", "X": "إكس", "Y": "واي", "Z": "زد",
}

_NUMBER_RE = re.compile(r"^\s*([A-Za-z]*)\s*-?\s*(\d+)\s*$")


@dataclass(frozen=True)
class Wording:
    """Fixed phrases of a call; Arabic carries diacritics so espeak-ng pronounces it well."""

    ar_ticket: str = "التَّذْكِرَةُ رَقْم"
    ar_window: str = "إِلَى الشُّبَّاكِ رَقْم"
    en_ticket: str = "Ticket number"
    en_window: str = "please proceed to window"


@dataclass(frozen=True)
class Part:
    """One clip of a call: a file-safe cache key, its text, language and optional TTS spelling."""

    key: str
    text: str
    lang: str
    # What the TTS engine is given when it differs from the written text (vowelled numbers).
    speech: str = ""

    @property
    def spoken(self) -> str:
        """Return the text to hand to the TTS engine."""
        return self.speech or self.text


def parse_ticket_number(number: str) -> tuple[str, int]:
    """Split "A-023" into ("A", 23); the letter prefix may be absent ("023" -> ("", 23))."""
    match = _NUMBER_RE.match(number)
    if not match:
        raise ValueError(f"not a ticket number: {number!r}")
    # int() also reads Eastern Arabic digits (٠٢٣).
    return match.group(1).upper(), int(match.group(2))


def _number_part(lang: str, n: int) -> Part:
    """The whole number as one part."""
    if lang == "ar":
        words, spoken = arabic_number_words(n), arabic_number_words(n, vocalized=True)
        return Part(f"ar/num/{n}", words, "ar", spoken)
    return Part(f"en/num/{n}", english_number_words(n), "en")


def _letter_part(lang: str, letter: str) -> Part:
    """One ticket letter, by its Egyptian name in Arabic or as itself in English."""
    text = AR_LETTER_NAMES[letter] if lang == "ar" else letter
    return Part(f"{lang}/letter/{letter}", text, lang)


def call_parts(
    number: str, window: int, lang: str = "ar", wording: Wording | None = None
) -> list[Part]:
    """Build a call's parts in speaking order: phrase, letters, number, window phrase, window."""
    if lang not in LANGS:
        raise ValueError(f"unsupported language {lang!r}; expected one of {LANGS}")
    if isinstance(window, bool) or not isinstance(window, int) or window < 0:
        raise ValueError(f"window must be a non-negative int, got {window!r}")
    wording = wording or Wording()
    prefix, n = parse_ticket_number(number)
    ticket_phrase = wording.ar_ticket if lang == "ar" else wording.en_ticket
    window_phrase = wording.ar_window if lang == "ar" else wording.en_window
    parts = [Part(f"{lang}/phrase/ticket", ticket_phrase, lang)]
    parts.extend(_letter_part(lang, letter) for letter in prefix)
    parts.append(_number_part(lang, n))
    parts.append(Part(f"{lang}/phrase/window", window_phrase, lang))
    parts.append(_number_part(lang, window))
    return parts


def call_text(
    number: str, window: int, lang: str = "ar", wording: Wording | None = None
) -> str:
    """Join the call's part texts with spaces, for logs, captions and tests."""
    return " ".join(part.text for part in call_parts(number, window, lang, wording))
