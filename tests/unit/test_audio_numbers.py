"""Number words: every value 0..999 against an independently built table, plus spot checks."""

import re

import pytest

from audio.numbers import arabic_number_words, english_number_words

# Written out in full, not derived: the words a reader of the hall's announcements expects.
UNITS = {
    0: "صفر", 1: "واحد", 2: "اثنان", 3: "ثلاثة", 4: "أربعة", 5: "خمسة",
    6: "ستة", 7: "سبعة", 8: "ثمانية", 9: "تسعة", 10: "عشرة",
}
TEENS = {
    11: "أحد عشر", 12: "اثنا عشر", 13: "ثلاثة عشر", 14: "أربعة عشر", 15: "خمسة عشر",
    16: "ستة عشر", 17: "سبعة عشر", 18: "ثمانية عشر", 19: "تسعة عشر",
}
TENS = {
    "2": "عشرون", "3": "ثلاثون", "4": "أربعون", "5": "خمسون",
    "6": "ستون", "7": "سبعون", "8": "ثمانون", "9": "تسعون",
}
HUNDREDS = {
    "1": "مائة", "2": "مائتان", "3": "ثلاثمائة", "4": "أربعمائة", "5": "خمسمائة",
    "6": "ستمائة", "7": "سبعمائة", "8": "ثمانمائة", "9": "تسعمائة",
}
DIGIT_UNITS = {str(k): v for k, v in UNITS.items() if k < 10}


def expected_arabic(n: int) -> str:
    """Build the expected words from the three decimal digits, by the rules written out.

    Rule 1: the hundreds digit (if not 0) gives its own word.
    Rule 2: the last two digits read as: nothing (00); the unit word (01..10); the teen word
            (11..19); the tens word (x0); otherwise "<unit> و<tens>", units before tens.
    Rule 3: the words from rules 1 and 2 are joined with " و"; 0 alone is صفر.
    """
    if n == 0:
        return "صفر"
    h, t, u = f"{n:03d}"
    words = []
    if h != "0":
        words.append(HUNDREDS[h])
    last_two = int(t + u)
    if last_two == 0:
        pass
    elif last_two <= 10:
        words.append(UNITS[last_two])
    elif last_two < 20:
        words.append(TEENS[last_two])
    elif u == "0":
        words.append(TENS[t])
    else:
        words.append(DIGIT_UNITS[u] + " و" + TENS[t])
    return " و".join(words)


HAND_WRITTEN = {
    0: "صفر",
    1: "واحد",
    2: "اثنان",
    3: "ثلاثة",
    8: "ثمانية",
    10: "عشرة",
    11: "أحد عشر",
    12: "اثنا عشر",
    13: "ثلاثة عشر",
    19: "تسعة عشر",
    20: "عشرون",
    21: "واحد وعشرون",
    22: "اثنان وعشرون",
    23: "ثلاثة وعشرون",
    30: "ثلاثون",
    45: "خمسة وأربعون",
    66: "ستة وستون",
    70: "سبعون",
    88: "ثمانية وثمانون",
    99: "تسعة وتسعون",
    100: "مائة",
    101: "مائة وواحد",
    102: "مائة واثنان",
    110: "مائة وعشرة",
    111: "مائة وأحد عشر",
    112: "مائة واثنا عشر",
    119: "مائة وتسعة عشر",
    120: "مائة وعشرون",
    121: "مائة وواحد وعشرون",
    200: "مائتان",
    202: "مائتان واثنان",
    212: "مائتان واثنا عشر",
    250: "مائتان وخمسون",
    300: "ثلاثمائة",
    305: "ثلاثمائة وخمسة",
    468: "أربعمائة وثمانية وستون",
    500: "خمسمائة",
    617: "ستمائة وسبعة عشر",
    700: "سبعمائة",
    801: "ثمانمائة وواحد",
    890: "ثمانمائة وتسعون",
    900: "تسعمائة",
    999: "تسعمائة وتسعة وتسعون",
}


def test_expected_table_agrees_with_hand_written_values():
    """The composed table itself matches the hand-written values (guards the test's own rules)."""
    for n, words in HAND_WRITTEN.items():
        assert expected_arabic(n) == words, n


@pytest.mark.parametrize("n", range(1000))
def test_arabic_every_number_below_1000(n):
    assert arabic_number_words(n) == expected_arabic(n)


@pytest.mark.parametrize(("n", "words"), sorted(HAND_WRITTEN.items()))
def test_arabic_hand_written(n, words):
    assert arabic_number_words(n) == words


def test_units_are_read_before_tens():
    for n in range(21, 100):
        if n % 10:
            unit_word, tens_word = arabic_number_words(n).split(" و")
            assert unit_word == UNITS[n % 10]
            assert tens_word == TENS[str(n // 10)]


def test_spelling_is_maaa_not_mia():
    for n in range(100, 1000, 7):
        assert "مئة" not in arabic_number_words(n)


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (1000, "ألف"),
        (1001, "ألف وواحد"),
        (1100, "ألف ومائة"),
        (1468, "ألف وأربعمائة وثمانية وستون"),
        (2000, "ألفان"),
        (2002, "ألفان واثنان"),
        (3000, "ثلاثة آلاف"),
        (5023, "خمسة آلاف وثلاثة وعشرون"),
        (10000, "عشرة آلاف"),
        (11000, "أحد عشر ألفًا"),
        (12000, "اثنا عشر ألفًا"),
        (20000, "عشرون ألفًا"),
        (21000, "واحد وعشرون ألفًا"),
        (99999, "تسعة وتسعون ألفًا وتسعمائة وتسعة وتسعون"),
        (100000, "مائة ألف"),
        (101000, "مائة ألف وألف"),
        (102000, "مائة ألف وألفان"),
        (103000, "مائة وثلاثة آلاف"),
        (111000, "مائة وأحد عشر ألفًا"),
        (200000, "مائتا ألف"),
        (250000, "مائتان وخمسون ألفًا"),
        (300000, "ثلاثمائة ألف"),
        (468468, "أربعمائة وثمانية وستون ألفًا وأربعمائة وثمانية وستون"),
        (999999, "تسعمائة وتسعة وتسعون ألفًا وتسعمائة وتسعة وتسعون"),
    ],
)
def test_arabic_thousands(n, words):
    assert arabic_number_words(n) == words


_HARAKAT = re.compile("[\u064b-\u0652]")


def _unvowel(spoken: str) -> str:
    """Map the TTS spelling back to the written one: no harakat, مائة, pausal ه -> ة."""
    plain = _HARAKAT.sub("", spoken).replace("مئ", "مائ")
    return " ".join(w[:-1] + "ة" if w.endswith("ه") else w for w in plain.split(" "))


@pytest.mark.parametrize("n", [*range(1000), 1000, 2002, 3000, 11000, 101000, 200000, 999999])
def test_vocalized_form_says_the_same_words(n):
    # The written form keeps one tanween (ألفًا): compare both without harakat.
    assert _unvowel(arabic_number_words(n, vocalized=True)) == _HARAKAT.sub("", arabic_number_words(n))


def test_vocalized_form_carries_vowels():
    assert arabic_number_words(5, vocalized=True) == "خَمْسَه"
    assert arabic_number_words(102, vocalized=True) == "مِئَه وَاثْنَان"


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "zero"),
        (1, "one"),
        (11, "eleven"),
        (19, "nineteen"),
        (20, "twenty"),
        (21, "twenty-one"),
        (99, "ninety-nine"),
        (100, "one hundred"),
        (101, "one hundred one"),
        (110, "one hundred ten"),
        (468, "four hundred sixty-eight"),
        (999, "nine hundred ninety-nine"),
        (1000, "one thousand"),
        (2468, "two thousand four hundred sixty-eight"),
        (40000, "forty thousand"),
        (999999, "nine hundred ninety-nine thousand nine hundred ninety-nine"),
    ],
)
def test_english(n, words):
    assert english_number_words(n) == words


@pytest.mark.parametrize("bad", [-1, 1_000_000])
def test_out_of_range(bad):
    with pytest.raises(ValueError):
        arabic_number_words(bad)
    with pytest.raises(ValueError):
        english_number_words(bad)


@pytest.mark.parametrize("bad", ["12", 1.0, True])
def test_not_an_int(bad):
    with pytest.raises(TypeError):
        arabic_number_words(bad)
