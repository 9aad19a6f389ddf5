"""The spoken call as an ordered list of parts: [recall], phrase, letter, number, phrase, window."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TypeVar

from audio.numbers import arabic_number_words, english_number_words

LANGS = ("ar", "en")

# Latin ticket letters as Egyptians say them aloud.
AR_LETTER_NAMES = {
    "A": "إيه", "B": "بي", "C": "سي", "D": "دي", "E": "إي", "F": "إف", "G": "جي",
    "H": "إتش", "I": "آي", "J": "جيه", "K": "كيه", "L": "إل", "M": "إم", "N": "إن",
    "O": "أو", "P": "بي", "Q": "كيو", "R": "آر", "S": "إس", "T": "تي", "U": "يو",
    "V": "في", "W": "دبليو", "X": "إكس", "Y": "واي", "Z": "زد",
}

# The third to tenth call of a ticket, between «نداء ثانٍ» and «نداء أخير» (recall_limit is 0..10).
AR_CALL_ORDINALS = {
    3: "نِدَاءٌ ثَالِث", 4: "نِدَاءٌ رَابِع", 5: "نِدَاءٌ خَامِس", 6: "نِدَاءٌ سَادِس",
    7: "نِدَاءٌ سَابِع", 8: "نِدَاءٌ ثَامِن", 9: "نِدَاءٌ تَاسِع", 10: "نِدَاءٌ عَاشِر",
}
EN_CALL_ORDINALS = {
    3: "Third call", 4: "Fourth call", 5: "Fifth call", 6: "Sixth call",
    7: "Seventh call", 8: "Eighth call", 9: "Ninth call", 10: "Tenth call",
}

K = TypeVar("K")
_NUMBER_RE = re.compile(r"^\s*([A-Za-z]*)\s*-?\s*(\d+)\s*$")
# Short vowels, shadda and sukun: written in the phrases for espeak-ng, dropped from captions.
# Kasratan (ٍ) stays: «نداء ثانٍ» is printed with its tanwin.
_HARAKAT_RE = re.compile("[\u064b\u064c\u064e-\u0652]")


@dataclass(frozen=True)
class Wording:
    """Fixed phrases of a call; Arabic carries diacritics so espeak-ng pronounces it well.

    The field's form: «التذكرة دي اثنان، تفضل إلى الشباك رقم خمسة». A call queued behind another
    is said in the short form «دي اثنان، شباك خمسة» (no ticket phrase, `*_window_short`), and a
    recall is prefixed with «نداء ثانٍ» or, the last one before a no-show, «نداء أخير».
    """

    ar_ticket: str = "التَّذْكِرَة"
    ar_window: str = "تَفَضَّلْ إِلَى الشُّبَّاكِ رَقْم"
    en_ticket: str = "Ticket"
    en_window: str = "please go to window"
    ar_window_short: str = "شُبَّاك"
    en_window_short: str = "window"
    ar_second_call: str = "نِدَاءٌ ثَانٍ"
    en_second_call: str = "Second call"
    ar_last_call: str = "نِدَاءٌ أَخِير"
    en_last_call: str = "Last call"

    def phrase(self, lang: str, name: str) -> str:
        """The phrase called name ("ticket", "window", ...) in lang."""
        return str(getattr(self, f"{lang}_{name}"))


@dataclass(frozen=True)
class Part:
    """One clip of a call: a file-safe cache key, its text, language and optional TTS spelling."""

    key: str
    text: str
    lang: str
    # What the TTS engine is given when it differs from the written text (vowelled numbers).
    speech: str = ""
    # A comma comes before this part: a longer pause in the audio, "،"/"," in the text.
    comma: bool = False

    @property
    def spoken(self) -> str:
        """Return the text to hand to the TTS engine."""
        return self.speech or self.text


def written(phrase: str) -> str:
    """A phrase as printed: without the diacritics that only guide the TTS engine."""
    return _HARAKAT_RE.sub("", phrase)


def parse_ticket_number(number: str) -> tuple[str, int]:
    """Split "A-023" into ("A", 23); the letter prefix may be absent ("023" -> ("", 23))."""
    match = _NUMBER_RE.match(number)
    if not match:
        raise ValueError(f"not a ticket number: {number!r}")
    # int() also reads Eastern Arabic digits (٠٢٣).
    return match.group(1).upper(), int(match.group(2))


def is_last_call(recall: int, recall_limit: int) -> bool:
    """Whether the recall-th recall is the last one before the next recall makes a no-show."""
    return recall >= 1 and recall >= recall_limit


def _phrase_part(lang: str, key: str, phrase: str, comma: bool = False) -> Part:
    """A fixed phrase: written without diacritics, spoken with them."""
    text = written(phrase)
    return Part(f"{lang}/phrase/{key}", text, lang, "" if text == phrase else phrase, comma)


def _number_part(lang: str, n: int, comma: bool = False) -> Part:
    """The whole number as one part."""
    if lang == "ar":
        words, spoken = arabic_number_words(n), arabic_number_words(n, vocalized=True)
        return Part(f"ar/num/{n}", words, "ar", spoken, comma)
    return Part(f"en/num/{n}", english_number_words(n), "en", "", comma)


def _letter_part(lang: str, letter: str, comma: bool = False) -> Part:
    """One ticket letter, by its Egyptian name in Arabic or as itself in English."""
    text = AR_LETTER_NAMES[letter] if lang == "ar" else letter
    return Part(f"{lang}/letter/{letter}", text, lang, "", comma)


def recall_part(lang: str, recall: int, last: bool, wording: Wording | None = None) -> Part | None:
    """The prefix of a recall: «نداء ثانٍ», «نداء ثالث», ... or «نداء أخير»; None for a first call."""
    if isinstance(recall, bool) or not isinstance(recall, int) or recall < 0:
        raise ValueError(f"recall must be a non-negative int, got {recall!r}")
    if recall == 0:
        return None
    wording = wording or Wording()
    if last:
        return _phrase_part(lang, "last-call", wording.phrase(lang, "last_call"))
    if recall == 1:
        return _phrase_part(lang, "second-call", wording.phrase(lang, "second_call"))
    ordinals = AR_CALL_ORDINALS if lang == "ar" else EN_CALL_ORDINALS
    if recall + 1 not in ordinals:  # past the tenth call: recall_limit is at most 10, so the last
        return _phrase_part(lang, "last-call", wording.phrase(lang, "last_call"))
    return _phrase_part(lang, f"call-{recall + 1}", ordinals[recall + 1])


def call_parts(
    number: str,
    window: int,
    lang: str = "ar",
    wording: Wording | None = None,
    *,
    recall: int = 0,
    last: bool = False,
    short: bool = False,
) -> list[Part]:
    """Build a call's parts in speaking order.

    recall is 0 for a first call and k for the k-th recall (last: the final one before a no-show);
    short drops the ticket phrase and says only «شباك» before the window, for calls queued
    behind another.
    """
    if lang not in LANGS:
        raise ValueError(f"unsupported language {lang!r}; expected one of {LANGS}")
    if isinstance(window, bool) or not isinstance(window, int) or window < 0:
        raise ValueError(f"window must be a non-negative int, got {window!r}")
    wording = wording or Wording()
    prefix, n = parse_ticket_number(number)
    parts: list[Part] = []
    announced = recall_part(lang, recall, last, wording)
    if announced is not None:
        parts.append(announced)
    after_prefix = bool(parts)
    if not short:
        parts.append(_phrase_part(lang, "ticket", wording.phrase(lang, "ticket"), comma=after_prefix))
        after_prefix = False
    for letter in prefix:
        parts.append(_letter_part(lang, letter, comma=after_prefix))
        after_prefix = False
    parts.append(_number_part(lang, n, comma=after_prefix))
    if short:
        parts.append(_phrase_part(lang, "window-short", wording.phrase(lang, "window_short"), comma=True))
    else:
        parts.append(_phrase_part(lang, "window", wording.phrase(lang, "window"), comma=True))
    parts.append(_number_part(lang, window))
    return parts


def call_text(
    number: str,
    window: int,
    lang: str = "ar",
    wording: Wording | None = None,
    *,
    recall: int = 0,
    last: bool = False,
    short: bool = False,
) -> str:
    """The call as one written sentence, for logs, captions and tests."""
    comma = "،" if lang == "ar" else ","
    out = ""
    for part in call_parts(number, window, lang, wording, recall=recall, last=last, short=short):
        out += (comma if part.comma else "") + (" " if out else "") + part.text
    return out


class RecallTracker:
    """Which call of its ticket each call is (0 first, k the k-th recall), from the calls in order.

    `ticket_called` says only whether a call is a recall; the count is kept per ticket number as
    the calls go by (a first call resets it). Bounded: old numbers and call ids are forgotten.
    """

    def __init__(self, limit: int = 4096) -> None:
        """Remember at most limit ticket numbers and limit call ids."""
        self.limit = limit
        self._lock = threading.Lock()
        self._by_number: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._by_call: OrderedDict[tuple[str, int], int] = OrderedDict()

    def observe(self, hall: str, call_id: int, number: str, recall: bool, count: int | None = None) -> int:
        """Record a call (count: the server's recall count, when it sends one); return its recall count."""
        with self._lock:
            known = self._by_call.get((hall, call_id))
            if known is not None:
                return known
            if not recall:
                n = 0
            elif isinstance(count, int) and not isinstance(count, bool) and count >= 1:
                n = count
            else:
                n = self._by_number.get((hall, number), 0) + 1
            _put(self._by_number, (hall, number), n, self.limit)
            _put(self._by_call, (hall, call_id), n, self.limit)
            return n

    def get(self, hall: str, call_id: int) -> int | None:
        """The recall count of a call seen before, or None."""
        with self._lock:
            return self._by_call.get((hall, call_id))


def _put(table: OrderedDict[K, int], key: K, value: int, limit: int) -> None:
    """Set key as the newest entry of table, forgetting the oldest beyond limit."""
    table[key] = value
    table.move_to_end(key)
    while len(table) > limit:
        table.popitem(last=False)
