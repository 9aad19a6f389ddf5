"""The wait estimators on hand-built snapshots: v2's queue model, v1 and the baseline, LES."""
from datetime import UTC, datetime, timedelta

import pytest

from hall_server.domain import estimate
from hall_server.domain.estimate import BreakPattern, HallSnapshot, WindowNow, typical_minutes, wait_v2
from hall_server.domain.policy import STRICT_ORDER, Candidate

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
MIN = {"a": 6.0, "b": 10.0}


def cand(i, service, minutes_ago, priority=None, target=None):
    return Candidate(i, service, T0 - timedelta(minutes=minutes_ago), priority, target)


def snap(windows, waiting=(), minutes=MIN, **kw):
    return HallSnapshot(at=T0, windows=tuple(windows), waiting=tuple(waiting), minutes=minutes,
                        v1_minutes=minutes, hall_minutes=kw.pop("hall_minutes", 8.0), **kw)


def win(n, services, state="open", **kw):
    return WindowNow(n, state, tuple(services), **kw)


def test_a_window_serving_two_services_calls_across_them():
    s = snap([win(1, ["a", "b"])], [cand(1, "a", 10), cand(2, "b", 8), cand(3, "b", 5)])
    # v2: everyone at the window is ahead of a new ticket, each with their own service's time
    assert wait_v2(s, "a") == (6 + 10 + 10) * 60
    # v1 and the baseline count only the same service: one "a" ahead
    assert estimate.wait_v1(s, "a") == 6 * 60
    assert estimate.wait_naive(s, "a") == 8 * 60


def test_strict_order_counts_only_what_the_window_calls_first():
    s = snap([win(1, ["a", "b"])], [cand(1, "a", 10), cand(2, "b", 8), cand(3, "b", 5)], strategy=STRICT_ORDER)
    assert wait_v2(s, "a") == 6 * 60  # the b tickets wait behind any a
    assert wait_v2(s, "b") == (6 + 10 + 10) * 60
    # later "a" arrivals overtake a "b" ticket under strict order: 5 an hour x 6 min = half the window
    busy = snap(s.windows, s.waiting, strategy=STRICT_ORDER, arrivals={("a", False): 5.0})
    assert wait_v2(busy, "b") == round((6 + 10 + 10) * 60 / (1 - 0.5))
    assert wait_v2(busy, "a") == 6 * 60


def test_the_ticket_at_the_window_and_breaks_hold_the_window():
    s = snap([win(1, ["a"], busy_s=120, busy_service="b")])
    assert wait_v2(s, "a") == 10 * 60 - 120
    late = snap([win(1, ["a"], busy_s=3600, busy_service="b")])  # long past its typical time
    assert wait_v2(late, "a") == round(estimate.RESIDUAL_FLOOR * 600)
    paused = snap([win(1, ["a"], state="paused", paused_s=300)], [cand(1, "a", 3)],
                  breaks=BreakPattern(mean_s=900.0))
    assert wait_v2(paused, "a") == 600 + 6 * 60
    assert estimate.wait_v1(paused, "a") is None  # v1 sees no open window and gives up


def test_windows_shared_between_services_split_the_work():
    windows = [win(1, ["a"]), win(2, ["a", "b"])]
    waiting = [cand(1, "b", 30), cand(2, "a", 20), cand(3, "a", 10)]
    s = snap(windows, waiting)
    # a new "a": both windows work on everything ahead of it (b1 only at window 2)
    assert wait_v2(s, "a") == (10 + 6 + 6) * 60 // 2
    # a new "b": only window 2 calls it; the a tickets ahead go half to window 1
    assert wait_v2(s, "b") == (10 + 6 / 2 + 6 / 2) * 60
    # a ticket sent to window 2 by a transfer is called only there
    sent = cand(4, "a", 40, target=2)
    assert wait_v2(snap(windows, [*waiting, sent]), "a", ticket=sent) == 0
    assert wait_v2(snap(windows, [*waiting, sent]), "b") == (6 + 10 + 6 / 2 + 6 / 2) * 60


def test_a_waiting_ticket_counts_only_those_called_before_it():
    waiting = [cand(1, "a", 30), cand(2, "b", 20), cand(3, "a", 10)]
    s = snap([win(1, ["a", "b"])], waiting)
    assert wait_v2(s, "a", ticket=waiting[1]) == 6 * 60
    assert wait_v2(s, "a", ticket=waiting[0]) == 0
    assert estimate.people_ahead(s, "a", ticket=waiting[2]) == 1


def test_priorities_go_first_and_overtake_ordinary_tickets():
    waiting = [cand(1, "a", 20), cand(2, "a", 5, priority="elderly")]
    s = snap([win(1, ["a"])], waiting)
    assert wait_v2(s, "a", priority="disabled") == 6 * 60  # only the earlier priority ticket
    assert estimate.people_ahead(s, "a", priority="disabled") == 1
    # after three priority calls in a row an ordinary ticket has its turn first
    s3 = snap([win(1, ["a"], priority_streak=3)], waiting)
    assert wait_v2(s3, "a", priority="disabled") == 2 * 6 * 60
    # 5 priority tickets an hour x 6 minutes: half the window goes to later priorities
    rush = snap([win(1, ["a"])], waiting, arrivals={("a", True): 5.0, ("a", False): 30.0})
    assert wait_v2(rush, "a") == 2 * 6 * 60 * 2
    assert wait_v2(rush, "a", priority="elderly") == 6 * 60
    jam = snap([win(1, ["a"])], waiting, arrivals={("a", True): 50.0})
    assert wait_v2(jam, "a") == round(2 * 6 * 60 / (1 - estimate.OVERTAKE_CAP))


def test_breaks_the_windows_will_take_while_the_ticket_waits():
    h = 3600.0
    breaks = BreakPattern(starts_s=(11 * h, 11.5 * h, 12 * h, 13 * h), window_days=4, mean_s=1200.0)
    assert breaks.p_start(10 * h, 11.25 * h) == pytest.approx(1 / 4)
    assert breaks.p_start(11.25 * h, 12 * h) == pytest.approx(2 / 3)  # 3 window-days still to break
    assert breaks.p_start(14 * h, 15 * h) == 0.0
    waiting = [cand(i, "b", 30 - i) for i in range(6)]  # an hour of work
    s = snap([win(1, ["b"])], waiting, breaks=breaks, day_s=10.5 * h)
    # between 10:30 and 11:40 half the window-days start a break of 20 min
    assert wait_v2(s, "b") == 3600 + 600
    done = snap([win(1, ["b"], paused_today=True)], waiting, breaks=breaks, day_s=10.5 * h)
    assert wait_v2(done, "b") == 3600  # it had its break already
    assert wait_v2(snap([win(1, ["b"])], waiting, breaks=breaks), "b") == 3600  # time of day unknown


def test_no_staffed_window_means_no_estimate():
    s = snap([win(1, ["a"], state="closed"), win(2, ["b"])], [cand(1, "a", 5)])
    assert estimate.estimate_all(s, "a") == {"naive": None, "v1": None, "v2": None, "v3": None, "les": None}


def test_typical_minutes_shrinks_recent_samples_toward_history_and_catalog():
    assert typical_minutes([], None, 0, 10) == 10.0
    assert typical_minutes([300.0] * 5, None, 0, 10) == pytest.approx((5 * 5 + 5 * 10) / 10)
    hist = typical_minutes([], 600.0 * 2, 95, 10)  # history says 20 minutes, from 95 tickets
    assert hist == pytest.approx(0.95 * 20 + 0.05 * 10)
    assert typical_minutes([60.0] * 50, 1200.0, 95, 10) == pytest.approx((50 * 1 + 5 * hist) / 55)


def test_last_to_enter_service():
    s = snap([win(1, ["a"]), win(2, ["a"])], last_calls={1: (600.0, 900.0), 2: (120.0, 1500.0)})
    assert estimate.wait_les(s, "a") == 1500  # the most recent call
    old = snap([win(1, ["a"])], last_calls={1: (estimate.LES_MAX_AGE_S + 1, 900.0)})
    assert estimate.wait_les(old, "a") is None


def test_registry_and_default():
    assert set(estimate.ESTIMATORS) == {"naive", "v1", "v2", "v3", "les"}
    # v3 (the call policy planned forward) replaced v2 as the default: bench/bench_estimates.py
    assert estimate.DEFAULT_ESTIMATOR == "v3"
    assert estimate.naive_wait_seconds(3, 5.0, 0) is None
    assert estimate.naive_wait_seconds(3, 5.0, 2) == 450
