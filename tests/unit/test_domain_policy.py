"""The call policy: strategies, work profiles, priorities with anti-starvation, targeted transfers."""
from datetime import UTC, datetime, timedelta

import pytest

from hall_server.domain.policy import (
    LONGEST_WAIT,
    STRICT_ORDER,
    Candidate,
    WindowProfile,
    choose_next,
    eligible,
    rank_candidates,
)

T0 = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)


def c(id_, service, minute, priority=None, target=None):
    return Candidate(id_, service, T0 + timedelta(minutes=minute), priority, target)


def test_nothing_waiting_gives_none():
    assert choose_next(WindowProfile(1, ("a",)), []) is None


def test_only_the_windows_services_are_eligible():
    w = WindowProfile(1, ("a", "b"))
    pool = [c(1, "a", 0), c(2, "x", -5), c(3, "b", 1)]
    assert [x.id for x in eligible(w, pool)] == [1, 3]


def test_longest_wait_across_services_takes_the_oldest():
    w = WindowProfile(1, ("a", "b"), LONGEST_WAIT)
    assert choose_next(w, [c(1, "a", 5), c(2, "b", 1), c(3, "a", 3)]).ticket.id == 2


def test_strict_order_empties_the_first_service_first():
    w = WindowProfile(1, ("a", "b"), STRICT_ORDER)
    assert choose_next(w, [c(1, "a", 5), c(2, "b", 1), c(3, "a", 3)]).ticket.id == 3


def test_ties_break_by_id():
    w = WindowProfile(1, ("a",))
    assert choose_next(w, [c(7, "a", 0), c(4, "a", 0)]).ticket.id == 4


def test_priority_goes_first():
    w = WindowProfile(1, ("a",))
    ch = choose_next(w, [c(1, "a", 0), c(2, "a", 9, "elderly")])
    assert ch.ticket.id == 2 and ch.priority_streak == 1


@pytest.mark.parametrize("ratio", [1, 2, 3, 5])
def test_anti_starvation_lets_an_ordinary_ticket_through_after_ratio_priority_calls(ratio):
    w = WindowProfile(1, ("a",), priority_ratio=ratio)
    pool = [c(100, "a", 0)] + [c(i, "a", i, "disabled") for i in range(1, 20)]
    order = [ch.ticket.id for ch in rank_candidates(w, pool)]
    assert order[:ratio] == list(range(1, ratio + 1))
    assert order[ratio] == 100


def test_streak_carries_across_calls():
    w = WindowProfile(1, ("a",), priority_ratio=2)
    pool = [c(100, "a", 0), c(1, "a", 1, "pregnant")]
    assert choose_next(w, pool, priority_streak=2).ticket.id == 100
    assert choose_next(w, pool, priority_streak=1).ticket.id == 1


def test_streak_resets_after_an_ordinary_call():
    w = WindowProfile(1, ("a",), priority_ratio=1)
    ranked = rank_candidates(w, [c(10, "a", 0), c(11, "a", 1), c(1, "a", 2, "elderly"), c(2, "a", 3, "elderly")])
    assert [(r.ticket.id, r.priority_streak) for r in ranked] == [(1, 1), (10, 0), (2, 1), (11, 0)]


def test_priority_alone_is_never_blocked_by_the_ratio():
    w = WindowProfile(1, ("a",), priority_ratio=1)
    assert choose_next(w, [c(1, "a", 0, "elderly")], priority_streak=5).ticket.id == 1


def test_ticket_transferred_to_a_window_is_only_eligible_there_and_keeps_its_place():
    pool = [c(1, "a", 5), c(2, "zzz", 0, target=2)]
    assert choose_next(WindowProfile(1, ("a",)), pool).ticket.id == 1
    assert choose_next(WindowProfile(2, ("a",)), pool).ticket.id == 2
    # targeted elsewhere: not callable here even though the service matches
    assert eligible(WindowProfile(1, ("a",)), [c(3, "a", 0, target=2)]) == []


def test_unknown_strategy_is_an_error():
    with pytest.raises(ValueError):
        choose_next(WindowProfile(1, ("a",), "random"), [c(1, "a", 0)])
