"""National IDs, working-day deadlines, the file flow, file numbers and SMS segments."""
from datetime import date

import pytest

from hall_server.domain import files as fd
from hall_server.domain.errors import InvalidInput, InvalidTransition
from hall_server.sms import sms_segments

TODAY = date(2026, 11, 23)


def test_valid_national_id_tells_birth_date_governorate_and_sex():
    nid = fd.parse_national_id("29001011312345", TODAY)
    assert nid.birth_date == date(1990, 1, 1) and nid.governorate_code == "13" and nid.sex == "female"
    assert fd.parse_national_id("30512311301235", TODAY).birth_date == date(2005, 12, 31)
    assert fd.parse_national_id("٢٩٠٠١٠١١٣١٢٣٥٥", TODAY).sex == "male"  # Eastern digits, odd serial
    assert nid.masked == "**********2345"


@pytest.mark.parametrize("value,code", [
    ("2900101131234", "invalid_national_id_length"),      # 13 digits
    ("290010113123456", "invalid_national_id_length"),    # 15 digits
    ("2900101131234x", "invalid_national_id_length"),
    ("19001011312345", "invalid_national_id_century"),    # century digit 1
    ("49001011312345", "invalid_national_id_century"),
    ("29002301312345", "invalid_national_id_date"),       # 30 February
    ("29013011312345", "invalid_national_id_date"),       # month 13
    ("32712011312345", "invalid_national_id_date"),       # born in 2027: the future
    ("29001019912345", "invalid_national_id_governorate"),
])
def test_invalid_national_ids(value, code):
    with pytest.raises(InvalidInput) as e:
        fd.parse_national_id(value, TODAY)
    assert e.value.code == code


def test_mobile_numbers():
    assert fd.parse_mobile("01012345678") == "01012345678"
    assert fd.parse_mobile("+201012345678") == "01012345678"
    assert fd.parse_mobile("٠١٠١٢٣٤٥٦٧٨") == "01012345678"
    for bad in ("0101234567", "01312345678", "abc"):
        with pytest.raises(InvalidInput):
            fd.parse_mobile(bad)


def test_thursday_with_a_three_day_deadline_is_due_tuesday():
    thursday = date(2026, 11, 19)
    assert thursday.weekday() == 3
    assert fd.add_working_days(thursday, 3) == date(2026, 11, 24)  # Sun, Mon, Tue


def test_holidays_and_weekends_do_not_count():
    assert fd.add_working_days(date(2026, 11, 19), 3, holidays=[date(2026, 11, 23)]) == date(2026, 11, 25)
    assert fd.add_working_days(date(2026, 11, 20), 1) == date(2026, 11, 22)  # received Friday -> Sunday
    assert fd.add_working_days(date(2026, 11, 19), 0) == date(2026, 11, 19)
    assert fd.working_days_between(date(2026, 11, 19), date(2026, 11, 24)) == 3


@pytest.mark.parametrize("path", [
    ["under_review", "ready", "delivered"],
    ["needs_documents", "under_review", "ready", "delivered"],
    ["under_review", "rejected"],
])
def test_file_flows(path):
    state = "received"
    for target in path:
        state = fd.file_transition(state, target, reason="x")
    assert state == path[-1]


def test_refused_file_moves():
    with pytest.raises(InvalidTransition):
        fd.file_transition("received", "ready")
    with pytest.raises(InvalidTransition):
        fd.file_transition("delivered", "under_review")
    with pytest.raises(InvalidInput):
        fd.file_transition("under_review", "rejected")  # no reason
    with pytest.raises(InvalidInput):
        fd.file_transition("received", "lost")


def test_returning_citizen_routes():
    assert fd.returning_service("needs_documents") == "file_documents"
    assert fd.returning_service("ready") == "file_collect"
    assert fd.returning_service("under_review") == "file_status_inquiry"


def test_file_numbers():
    assert fd.format_file_number(2026, 123) == "2026-000123"
    assert fd.parse_file_number("2026-000123") == (2026, 123)
    assert fd.parse_file_number("٢٠٢٦/١٢٣") == (2026, 123)
    assert fd.parse_file_number("A-023") is None


def test_sms_segments():
    assert sms_segments("Your ticket A-023") == ("gsm7", 1)
    assert sms_segments("a" * 160) == ("gsm7", 1) and sms_segments("a" * 161) == ("gsm7", 2)
    assert sms_segments("ب" * 70) == ("ucs2", 1)
    assert sms_segments("ب" * 71) == ("ucs2", 2)
    assert sms_segments("ب" * 134) == ("ucs2", 2) and sms_segments("ب" * 135) == ("ucs2", 3)
