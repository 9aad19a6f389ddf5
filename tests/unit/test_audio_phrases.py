"""The spoken call: part order, cache keys and texts; the short form and the recall prefixes."""

from dataclasses import replace

import pytest

from audio.phrases import (
    AR_LETTER_NAMES,
    Part,
    RecallTracker,
    Wording,
    call_parts,
    call_text,
    is_last_call,
    parse_ticket_number,
    written,
)


def test_arabic_call_parts_in_order():
    parts = call_parts("A-023", 5)
    assert [(p.key, p.text, p.lang, p.comma) for p in parts] == [
        ("ar/phrase/ticket", "التذكرة", "ar", False),
        ("ar/letter/A", "إيه", "ar", False),
        ("ar/num/23", "ثلاثة وعشرون", "ar", False),
        ("ar/phrase/window", "تفضل إلى الشباك رقم", "ar", True),
        ("ar/num/5", "خمسة", "ar", False),
    ]
    # The engine is given the vowelled phrases.
    assert [p.spoken for p in parts][0::3] == ["التَّذْكِرَة", "تَفَضَّلْ إِلَى الشُّبَّاكِ رَقْم"]


def test_english_call_parts_in_order():
    parts = call_parts("A-023", 5, lang="en")
    assert [(p.key, p.text, p.lang) for p in parts] == [
        ("en/phrase/ticket", "Ticket", "en"),
        ("en/letter/A", "A", "en"),
        ("en/num/23", "twenty-three", "en"),
        ("en/phrase/window", "please go to window", "en"),
        ("en/num/5", "five", "en"),
    ]
    assert all(p.spoken == p.text for p in parts)


def test_call_text_is_the_fields_sentence_with_a_verb():
    assert call_text("D-002", 5) == "التذكرة دي اثنان، تفضل إلى الشباك رقم خمسة"
    assert call_text("D-002", 5, "en") == "Ticket D two, please go to window five"
    assert call_text("A-023", 5) == "التذكرة إيه ثلاثة وعشرون، تفضل إلى الشباك رقم خمسة"


def test_the_short_form_for_a_queued_call():
    assert call_text("D-002", 5, short=True) == "دي اثنان، شباك خمسة"
    assert call_text("D-002", 5, "en", short=True) == "D two, window five"
    assert [p.key for p in call_parts("D-002", 5, short=True)] == [
        "ar/letter/D", "ar/num/2", "ar/phrase/window-short", "ar/num/5"]


@pytest.mark.parametrize(("recall", "last", "ar", "en"), [
    (1, False, "نداء ثانٍ", "Second call"),
    (2, False, "نداء ثالث", "Third call"),
    (9, False, "نداء عاشر", "Tenth call"),
    (1, True, "نداء أخير", "Last call"),
    (2, True, "نداء أخير", "Last call"),
])
def test_a_recall_says_so(recall, last, ar, en):
    assert call_text("D-002", 5, recall=recall, last=last) == f"{ar}، التذكرة دي اثنان، تفضل إلى الشباك رقم خمسة"
    assert call_text("D-002", 5, "en", recall=recall, last=last) == f"{en}, Ticket D two, please go to window five"
    assert call_text("D-002", 5, recall=recall, last=last, short=True) == f"{ar}، دي اثنان، شباك خمسة"
    first = call_parts("D-002", 5)
    again = call_parts("D-002", 5, recall=recall, last=last)
    assert again[1:] == [replace(first[0], comma=True)] + first[1:]   # the same call after the prefix
    assert again[0].key.startswith("ar/phrase/") and again[0].key not in {p.key for p in first}


def test_recall_prefix_keys_and_speech():
    keys = {(r, last): call_parts("A-1", 1, recall=r, last=last)[0] for r, last in ((1, False), (1, True), (3, False))}
    assert keys[(1, False)] == Part("ar/phrase/second-call", "نداء ثانٍ", "ar", "نِدَاءٌ ثَانٍ")
    assert keys[(1, True)] == Part("ar/phrase/last-call", "نداء أخير", "ar", "نِدَاءٌ أَخِير")
    assert keys[(3, False)].key == "ar/phrase/call-4"
    with pytest.raises(ValueError):
        call_parts("A-1", 1, recall=-1)


@pytest.mark.parametrize(("recall", "limit", "last"), [
    (0, 2, False), (1, 2, False), (2, 2, True), (1, 1, True), (3, 10, False), (10, 10, True), (0, 0, False),
])
def test_the_last_recall_is_the_one_at_the_limit(recall, limit, last):
    # recall_limit recalls are allowed; the next recall makes the ticket a no-show.
    assert is_last_call(recall, limit) is last


def test_the_hall_files_recall_limit_says_which_recall_is_the_last():
    from audio.announcer import hall_voice
    from config import load_settings
    hall = load_settings(env={}).halls[0]
    assert hall_voice(hall).recall_limit == hall.queue.recall_limit == 2
    assert hall_voice(replace(hall, queue=replace(hall.queue, recall_limit=5))).recall_limit == 5


def test_recalls_are_counted_per_ticket_from_the_calls_in_order():
    t = RecallTracker()
    assert t.observe("kfs", 10, "A-001", False) == 0
    assert t.observe("kfs", 11, "B-001", False) == 0
    assert t.observe("kfs", 12, "A-001", True) == 1
    assert t.observe("kfs", 13, "A-001", True) == 2
    assert t.observe("kfs", 12, "A-001", True) == 1       # seen before: the same answer
    assert t.observe("kfs", 14, "B-001", True) == 1
    assert t.observe("other", 15, "A-001", True) == 1     # another hall's ticket
    assert t.observe("kfs", 16, "A-001", False) == 0      # called again (another day, a transfer)
    assert t.observe("kfs", 17, "A-001", True, count=2) == 2   # the server's own count wins
    assert t.get("kfs", 13) == 2 and t.get("kfs", 99) is None
    small = RecallTracker(limit=2)
    for i in range(5):
        small.observe("kfs", i, f"A-{i}", False)
    assert small.get("kfs", 0) is None and small.get("kfs", 4) == 0


def test_written_drops_the_vowel_marks_but_keeps_tanwin_kasr():
    assert written("نِدَاءٌ ثَانٍ") == "نداء ثانٍ"
    assert written("تَفَضَّلْ إِلَى الشُّبَّاكِ رَقْم") == "تفضل إلى الشباك رقم"


def test_number_without_prefix():
    keys = [p.key for p in call_parts("023", 7)]
    assert keys == ["ar/phrase/ticket", "ar/num/23", "ar/phrase/window", "ar/num/7"]
    assert call_text("023", 7, short=True) == "ثلاثة وعشرون، شباك سبعة"


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
    assert (parts[0].text, parts[0].spoken) == ("العميل رقم", "العَمِيلُ رَقْم")
    assert parts[3].spoken == "يَتَوَجَّهُ إِلَى الشُّبَّاكِ رَقْم"
    again = call_parts("A-1", 3, wording=Wording(ar_second_call="نِدَاءٌ مُكَرَّر"), recall=1)
    assert again[0].text == "نداء مكرر"


def test_keys_are_file_safe():
    for lang in ("ar", "en"):
        every = [call_parts("Z-999", 99, lang, recall=r, last=last, short=short)
                 for r in range(10) for last in (False, True) for short in (False, True)]
        for part in [p for parts in every for p in parts]:
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
