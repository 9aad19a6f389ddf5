"""Numbers as spoken words: Modern Standard Arabic (nominative) and English, 0..999999."""

from __future__ import annotations

from dataclasses import dataclass

MAX_NUMBER = 999_999


@dataclass(frozen=True)
class _ArabicForms:
    """The word forms one Arabic spelling needs; the grammar that composes them is shared."""

    ones: tuple[str, ...]  # 0..10
    teen_units: tuple[str, ...]  # 3..9 in front of عشر (index 0 = 3)
    eleven: str
    twelve: str
    teen_ten: str
    tens: tuple[str, ...]  # 20, 30, ..., 90
    hundreds: tuple[str, ...]  # 100, 200, ..., 900
    hundreds_of_thousands: tuple[str, ...]  # 100..900 in construct with ألف
    units_of_thousands: tuple[str, ...]  # 3..10 in construct with آلاف (index 0 = 3)
    thousand: str
    two_thousand: str
    thousands_plural: str
    thousand_accusative: str
    conj: str  # " و", joined to the following word
    elide_wasl: bool = False  # drop the kasra of اِ after وَ (wa-thnān), as it is pronounced


# Written form: the spelling shown on screens, logs and captions (مائة, not مئة).
_WRITTEN = _ArabicForms(
    ones=(
        "صفر", "واحد", "اثنان", "ثلاثة", "أربعة", "خمسة",
        "ستة", "سبعة", "ثمانية", "تسعة", "عشرة",
    ),
    teen_units=("ثلاثة", "أربعة", "خمسة", "ستة", "سبعة", "ثمانية", "تسعة"),
    eleven="أحد عشر",
    twelve="اثنا عشر",
    teen_ten="عشر",
    tens=("عشرون", "ثلاثون", "أربعون", "خمسون", "ستون", "سبعون", "ثمانون", "تسعون"),
    hundreds=(
        "مائة", "مائتان", "ثلاثمائة", "أربعمائة", "خمسمائة",
        "ستمائة", "سبعمائة", "ثمانمائة", "تسعمائة",
    ),
    hundreds_of_thousands=(
        "مائة", "مائتا", "ثلاثمائة", "أربعمائة", "خمسمائة",
        "ستمائة", "سبعمائة", "ثمانمائة", "تسعمائة",
    ),
    units_of_thousands=("ثلاثة", "أربعة", "خمسة", "ستة", "سبعة", "ثمانية", "تسعة", "عشرة"),
    thousand="ألف",
    two_thousand="ألفان",
    thousands_plural="آلاف",
    thousand_accusative="ألفًا",
    conj=" و",
)

# Spoken form for espeak-ng, which mispronounces undiacritised Arabic (خمسة comes out "xmst").
# Vowelled, pausal ta marbuta written ه ("khamsah"), and مِئَة because the alif of مائة is silent.
_SPOKEN = _ArabicForms(
    ones=(
        "صِفْر", "وَاحِد", "اِثْنَان", "ثَلَاثَه", "أَرْبَعَه", "خَمْسَه", "سِتَّه", "سَبْعَه",
        "ثَمَانِيَه", "تِسْعَه", "عَشَرَه",
    ),
    teen_units=(
        "ثَلَاثَةَ", "أَرْبَعَةَ", "خَمْسَةَ", "سِتَّةَ",
        "سَبْعَةَ", "ثَمَانِيَةَ", "تِسْعَةَ",
    ),
    eleven="أَحَدَ عَشَرْ",
    twelve="اِثْنَا عَشَرْ",
    teen_ten="عَشَرْ",
    tens=(
        "عِشْرُون", "ثَلَاثُون", "أَرْبَعُون", "خَمْسُون",
        "سِتُّونْ", "سَبْعُون", "ثَمَانُون", "تِسْعُون",
    ),
    hundreds=(
        "مِئَه", "مِئَتَان", "ثَلَاثُمِئَه", "أَرْبَعُمِئَه",
        "خَمْسُمِئَه", "سِتُّمِئَه", "سَبْعُمِئَه",
        "ثَمَانِمِئَه", "تِسْعُمِئَه",
    ),
    hundreds_of_thousands=(
        "مِئَةُ", "مِئَتَا", "ثَلَاثُمِئَةِ", "أَرْبَعُمِئَةِ",
        "خَمْسُمِئَةِ", "سِتُّمِئَةِ", "سَبْعُمِئَةِ",
        "ثَمَانِمِئَةِ", "تِسْعُمِئَةِ",
    ),
    units_of_thousands=(
        "ثَلَاثَةُ", "أَرْبَعَةُ", "خَمْسَةُ", "سِتَّةُ",
        "سَبْعَةُ", "ثَمَانِيَةُ", "تِسْعَةُ", "عَشَرَةُ",
    ),
    thousand="أَلْف",
    two_thousand="أَلْفَان",
    thousands_plural="آلَاف",
    thousand_accusative="أَلْفًا",
    conj=" وَ",
    elide_wasl=True,
)

_EN_ONES = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
)
_EN_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")


def _check(n: int) -> None:
    """Reject anything that is not an int in 0..MAX_NUMBER."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"expected int, got {type(n).__name__}")
    if not 0 <= n <= MAX_NUMBER:
        raise ValueError(f"number out of range 0..{MAX_NUMBER}: {n}")


def _join(parts: list[str], f: _ArabicForms) -> str:
    """Join number parts with "and", eliding a hamzat al-wasl after it where the forms ask to."""
    if f.elide_wasl:
        parts = parts[:1] + ["ا" + p[2:] if p.startswith("اِ") else p for p in parts[1:]]
    return f.conj.join(parts)


def _ar_below_100(n: int, f: _ArabicForms) -> str:
    """Words for 1..99, units read before tens (واحد وعشرون)."""
    if n <= 10:
        return f.ones[n]
    if n == 11:
        return f.eleven
    if n == 12:
        return f.twelve
    if n < 20:
        return f"{f.teen_units[n - 13]} {f.teen_ten}"
    tens, unit = divmod(n, 10)
    if unit == 0:
        return f.tens[tens - 2]
    return _join([f.ones[unit], f.tens[tens - 2]], f)


def _ar_below_1000(n: int, f: _ArabicForms) -> str:
    """Words for 1..999: hundreds, then units-and-tens."""
    hundreds, rest = divmod(n, 100)
    parts = []
    if hundreds:
        parts.append(f.hundreds[hundreds - 1])
    if rest:
        parts.append(_ar_below_100(rest, f))
    return _join(parts, f)


def _ar_thousands(k: int, f: _ArabicForms) -> str:
    """Words for k thousands (1..999); the noun ألف agrees with k's last two digits."""
    if k == 1:
        return f.thousand
    if k == 2:
        return f.two_thousand
    hundreds, rest = divmod(k, 100)
    if rest == 0:
        # Construct with a singular thousand: مائة ألف, مائتا ألف (the dual drops its nun).
        return f"{f.hundreds_of_thousands[hundreds - 1]} {f.thousand}"
    if rest in (1, 2):
        # 101000 = مائة ألف وألف, 102000 = مائة ألف وألفان: the noun is repeated, not counted.
        return _join([_ar_thousands(hundreds * 100, f), _ar_thousands(rest, f)], f)
    if rest <= 10:
        counted = f"{f.units_of_thousands[rest - 3]} {f.thousands_plural}"
    else:
        counted = f"{_ar_below_100(rest, f)} {f.thousand_accusative}"
    return _join([f.hundreds[hundreds - 1], counted], f) if hundreds else counted


def arabic_number_words(n: int, vocalized: bool = False) -> str:
    """Spell n (0..999999) in Modern Standard Arabic as read in a hall announcement.

    With vocalized=True, return the diacritised text that espeak-ng pronounces correctly.
    """
    _check(n)
    forms = _SPOKEN if vocalized else _WRITTEN
    if n == 0:
        return forms.ones[0]
    thousands, rest = divmod(n, 1000)
    parts = []
    if thousands:
        parts.append(_ar_thousands(thousands, forms))
    if rest:
        parts.append(_ar_below_1000(rest, forms))
    return _join(parts, forms)


def _en_below_1000(n: int) -> str:
    """Words for 1..999 in English ("four hundred sixty-eight")."""
    hundreds, rest = divmod(n, 100)
    parts = []
    if hundreds:
        parts.append(f"{_EN_ONES[hundreds]} hundred")
    if rest:
        if rest < 20:
            parts.append(_EN_ONES[rest])
        else:
            tens, unit = divmod(rest, 10)
            parts.append(_EN_TENS[tens - 2] + (f"-{_EN_ONES[unit]}" if unit else ""))
    return " ".join(parts)


def english_number_words(n: int) -> str:
    """Spell n (0..999999) in English words, without "and"."""
    _check(n)
    if n == 0:
        return _EN_ONES[0]
    thousands, rest = divmod(n, 1000)
    parts = []
    if thousands:
        parts.append(f"{_en_below_1000(thousands)} thousand")
    if rest:
        parts.append(_en_below_1000(rest))
    return " ".join(parts)
