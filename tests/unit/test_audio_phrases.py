"""The spoken call: part order, cache keys and texts."""

import pytest

from audio.phrases import AR_LETTER_NAMES, Part, Wording, call_parts, call_text, parse_ticket_number


def test_arabic_call_parts_in_order():
    parts = call_parts("A-023", 5)
    assert [(p.key, p.text, p.lang) for p in parts] == [
        ("ar/phrase/ticket", "التَّذْكِرَةُ رَقْم", "ar"),
        ("ar/letter/A", "إيه", "ar"),
        ("ar/num/23", "ثلاثة وعشرون", "ar"),
        ("ar/phrase/window", "إِلَى الشُّبَّاكِ رَقْم", "ar"),
        ("ar/num/5", "خمسة", "ar"),
    ]


def test_english_call_parts_in_order():
    parts = call_parts("A-023", 5, lang="en")
    assert [(p.key, p.text, p.lang) for p in parts] == [
        ("en/phrase/ticket", "Ticket number", "en"),
        ("en/letter/A", "A", "en"),
        ("en/num/23", "twenty-three", "en"),
        ("en/phrase/window", "please proceed to window", "en"),
        ("en/num/5", "five", "en"),
    ]
    assert all(p.spoken == p.text for p in parts)


def test_call_text():
    assert call_text("A-023", 5) == "التَّذْكِرَةُ رَقْم إيه ثلاثة وعشرون إِلَى الشُّبَّاكِ رَقْم خمسة"
    assert call_text("A-023", 5, "en") == "Ticket number A twenty-three please proceed to window five"


def test_number_without_prefix():
    keys = [p.key for p in call_parts("023", 7)]
    assert keys == ["ar/phrase/ticket", "ar/num/23", "ar/phrase/window", "ar/num/7"]


@pytest.mark.parametrize(
    ("number", "key", "text"),
    [
        ("B-007", "ar/num/7", "سبعة"),
        ("B-000", "ar/num/0", "صفر"),
        ("C-100", "ar/num/100", "مائة"),
        ("C-0468", "ar/num/468", "أربعمائة وثمانية وستون"),
        ("٠٢٣", "ar/num/23", "ثلاثة وعشرون"),
    ],
)
def test_leading_zeros_are_not_spoken(number, key, text):
    number_part = [p for p in call_parts(number, 1) if p.key.startswith("ar/num/")][0]
    assert (number_part.key, number_part.text) == (key, text)


def test_the_number_and_the_window_are_one_part_each():
    parts = call_parts("D-468", 12)
    assert [p.key for p in parts if "/num/" in p.key] == ["ar/num/468", "ar/num/12"]
    assert parts[-1].text == "اثنا عشر"


def test_arabic_numbers_carry_a_vowelled_spelling_for_the_engine():
    number = call_parts("A-023", 5)[2]
    assert number.text == "ثلاثة وعشرون"
    assert number.spoken == "ثَلَاثَه وَعِشْرُون"


@pytest.mark.parametrize(
    ("letter", "name"),
    [
        ("A", "إيه"), ("B", "بي"), ("C", "سي"), ("D", "دي"), ("E", "إي"), ("F", "إف"),
        ("G", "جي"), ("H", "إتش"), ("J", "جيه"), ("K", "كيه"), ("L", "إل"), ("M", "إم"),
        ("N", "إن"), ("P", "بي"), ("Q", "كيو"), ("R", "آر"), ("S", "إس"), ("T", "تي"),
        ("U", "يو"), ("V", "في"), ("W", "دبليو"), ("X", "إكس"), ("Y", "واي"), ("Z", "زد"),
    ],
)
def test_letter_names(letter, name):
    ar = call_parts(f"{letter}-001", 1)[1]
    en = call_parts(f"{letter}-001", 1, "en")[1]
    assert ar == Part(f"ar/letter/{letter}", name, "ar")
    assert en == Part(f"en/letter/{letter}", letter, "en")


def test_every_latin_letter_has_a_name():
    assert sorted(AR_LETTER_NAMES) == [chr(c) for c in range(ord("A"), ord("Z") + 1)]


def test_lowercase_prefix_and_two_letters():
    parts = call_parts("ab-5", 2)
    assert [p.key for p in parts[1:3]] == ["ar/letter/A", "ar/letter/B"]


def test_custom_wording():
    wording = Wording(ar_ticket="العَمِيلُ رَقْم", ar_window="يَتَوَجَّهُ إِلَى الشُّبَّاكِ رَقْم")
    parts = call_parts("A-1", 3, wording=wording)
    assert parts[0].text == "العَمِيلُ رَقْم"
    assert parts[3].text == "يَتَوَجَّهُ إِلَى الشُّبَّاكِ رَقْم"


def test_keys_are_file_safe():
    for lang in ("ar", "en"):
        for part in call_parts("Z-999", 99, lang):
            assert all(c.isascii() and (c.isalnum() or c in "/-_") for c in part.key)


def test_parse_ticket_number():
    assert parse_ticket_number("A-023") == ("A", 23)
    assert parse_ticket_number("023") == ("", 23)


@pytest.mark.parametrize("bad", ["", "A-", "A-2x", "-", "A_023", "1-2"])
def test_bad_numbers_are_rejected(bad):
    with pytest.raises(ValueError):
        call_parts(bad, 1)


def test_bad_language_and_window():
    with pytest.raises(ValueError):
        call_parts("A-1", 1, lang="fr")
    with pytest.raises(ValueError):
        call_parts("A-1", -1)
