"""Ticket transitions, numbering by local day, and the v1 wait estimate."""
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from hall_server.domain.errors import InvalidTransition
from hall_server.domain.estimate import WaitInputs, estimate_wait_seconds, service_minutes
from hall_server.domain.numbering import format_number, local_day, parse_number
from hall_server.domain.tickets import Status, recall_outcome, transition

CAIRO = ZoneInfo("Africa/Cairo")


@pytest.mark.parametrize("state,action,to", [
    ("waiting", "call", "called"), ("parked", "call", "called"), ("called", "recall", "called"),
    ("called", "start", "serving"), ("serving", "complete", "done"), ("called", "complete", "done"),
    ("called", "no_show", "no_show"), ("waiting", "transfer", "waiting"), ("serving", "transfer", "waiting"),
    ("called", "park", "parked"), ("serving", "park", "parked"), ("waiting", "cancel", "cancelled"),
])
def test_allowed_transitions(state, action, to):
    assert transition(state, action) is Status(to)


@pytest.mark.parametrize("state,action", [
    ("waiting", "start"), ("waiting", "complete"), ("done", "call"), ("cancelled", "call"),
    ("serving", "no_show"), ("serving", "recall"), ("called", "cancel"), ("no_show", "transfer"),
    ("done", "transfer"), ("waiting", "park"),
])
def test_refused_transitions(state, action):
    with pytest.raises(InvalidTransition):
        transition(state, action)


def test_recall_limit_leads_to_no_show():
    assert recall_outcome(0, 2) is Status.CALLED
    assert recall_outcome(1, 2) is Status.CALLED
    assert recall_outcome(2, 2) is Status.NO_SHOW
    assert recall_outcome(0, 0) is Status.NO_SHOW


def test_local_day_uses_the_hall_time_zone():
    # 23:30 UTC on the 22nd is already the 23rd in Cairo (UTC+2)
    assert str(local_day(datetime(2026, 11, 22, 23, 30, tzinfo=UTC), CAIRO)) == "2026-11-23"
    assert str(local_day(datetime(2026, 11, 22, 21, 59, tzinfo=UTC), CAIRO)) == "2026-11-22"
    with pytest.raises(ValueError):
        local_day(datetime(2026, 11, 22), CAIRO)


def test_number_format_and_parse():
    assert format_number("A", 23) == "A-023"
    assert format_number("A", 1234) == "A-1234"
    assert parse_number("A-023") == ("A", 23)
    assert parse_number(" a23 ") == ("A", 23)
    assert parse_number("AB-1") is None and parse_number("") is None
    with pytest.raises(ValueError):
        format_number("A", 0)


def test_service_minutes_blends_few_samples_with_the_catalog():
    assert service_minutes([], 10) == 10
    assert service_minutes([120.0] * 9, 10) == pytest.approx(2.0)
    few = service_minutes([120.0] * 3, 10)
    assert 2.0 < few < 10.0


def test_estimate_v1():
    assert estimate_wait_seconds(WaitInputs(4, 5.0, 2)) == 600
    assert estimate_wait_seconds(WaitInputs(0, 5.0, 2)) == 0
    assert estimate_wait_seconds(WaitInputs(3, 5.0, 0)) is None
