"""Erlang C staffing against hand-worked values, and the history rules of the staffing hint."""
from datetime import date, timedelta

import pytest

from config import load_settings
from hall_server.domain import staffing
from hall_server.domain.staffing import (
    erlang_b,
    erlang_c,
    expected_arrivals,
    mean_wait_s,
    plan,
    service_level,
    service_pools,
    windows_needed,
)

# Hand-worked: λ = 10 citizens an hour, 12 minutes each -> a = 2 Erlangs.
# With c = 3: C = (a^c/c! · c/(c-a)) / (Σ_{k<c} a^k/k! + a^c/c! · c/(c-a)) = (8/6 · 3) / (1 + 2 + 2 + 4) = 4/9.


def test_erlang_c_hand_worked_example():
    assert erlang_b(3, 2.0) == pytest.approx(4 / 19)  # (8/6) / (1 + 2 + 2 + 8/6)
    assert erlang_c(3, 2.0) == pytest.approx(4 / 9)
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)  # (1/2 · 2) / (1 + 1 + 1)
    assert erlang_c(1, 0.5) == pytest.approx(0.5)  # M/M/1: waits with probability ρ


def test_service_level_and_mean_wait_hand_worked():
    # P(wait <= t) = 1 - C · exp(-(c - a) · t / S) with S = 720 s
    assert service_level(3, 2.0, 300, 720) == pytest.approx(1 - 4 / 9 * 2.718281828459045 ** (-5 / 12))
    assert service_level(3, 2.0, 300, 720) == pytest.approx(0.707004, abs=1e-6)  # e^(-5/12) = 0.659241
    assert service_level(3, 2.0, 900, 720) == pytest.approx(0.872665, abs=1e-6)  # e^(-1.25) = 0.286505
    assert mean_wait_s(3, 2.0, 720) == pytest.approx(4 / 9 * 720)  # 5 min 20 s
    assert erlang_c(4, 2.0) == pytest.approx(0.173913, abs=1e-6)
    assert service_level(4, 2.0, 300, 720) == pytest.approx(0.924418, abs=1e-6)


def test_windows_needed_is_the_smallest_c_meeting_the_goal():
    assert windows_needed(10, 12, target_min=15, goal=0.8) == 3  # 87 % with 3
    assert windows_needed(10, 12, target_min=5, goal=0.8) == 4  # 71 % with 3, 92 % with 4
    assert windows_needed(0, 12, 15) == 0
    # never fewer windows than the load itself, however lax the target
    assert windows_needed(100, 12, target_min=600, goal=0.5) == 21


def test_more_arrivals_never_need_fewer_windows():
    needed = [windows_needed(lam, 8.0, 15) for lam in range(0, 200, 5)]
    assert needed == sorted(needed)
    assert all(c > lam * 8 / 60 for c, lam in zip(needed[1:], range(5, 200, 5)))


def test_unstable_and_bad_inputs():
    assert erlang_c(2, 2.0) == 1.0 and service_level(2, 3.0, 900, 600) == 0.0
    assert mean_wait_s(2, 2.5, 600) == float("inf")
    with pytest.raises(ValueError):
        windows_needed(10, 12, 15, goal=1.0)
    with pytest.raises(ValueError):
        windows_needed(10, 0, 15)


def _counts(days, per_hour):
    return {d: {h: {"rent_payment": n} for h, n in per_hour(d).items()} for d in days}


def test_expected_arrivals_same_weekday_of_the_last_four_weeks():
    day = date(2026, 3, 29)  # a Sunday
    sundays = [day - timedelta(weeks=k) for k in (1, 2, 3, 4)]
    others = [day - timedelta(days=k) for k in (1, 2, 3, 4, 5)]
    older = [day - timedelta(weeks=5)]  # outside the lookback
    counts = _counts(sundays + others + older,
                     lambda d: {9: 20 + 4 * (d in sundays) + 100 * (d in older), 10: 10})
    expected, basis = expected_arrivals(counts, day)
    assert sorted(basis) == sorted(sundays)
    assert expected[9]["rent_payment"] == pytest.approx(24) and expected[10]["rent_payment"] == pytest.approx(10)


def test_expected_arrivals_fall_back_to_all_days_when_the_weekday_is_thin():
    day = date(2026, 3, 29)
    days = [day - timedelta(days=k) for k in (1, 2, 3, 7, 14)]  # two Sundays only
    counts = _counts(days, lambda d: {9: 10 if d.weekday() == 6 else 20})
    expected, basis = expected_arrivals(counts, day)
    assert sorted(basis) == sorted(days)
    assert expected[9]["rent_payment"] == pytest.approx((2 * 10 + 3 * 20) / 5)
    # an hour that some basis days lack counts as zero on those days
    counts[days[0]][15] = {"rent_payment": 5}
    assert expected_arrivals(counts, day)[0][15]["rent_payment"] == pytest.approx(1.0)
    assert expected_arrivals({}, day) == ({}, [])


def test_service_pools_of_the_default_hall():
    hall = load_settings(env={}).halls[0]
    pools = service_pools(w.services for w in hall.windows)
    # windows 1 and 2 share building permits; every other window is a pool of its own
    assert len(pools) == len(hall.windows) - 1
    assert {"building_permit", "violation_reconciliation", "site_suitability"} <= next(
        p for p in pools if "building_permit" in p)


def test_plan_per_hour():
    expected = {8: {"a": 6.0, "b": 4.0}, 9: {"a": 0.0}, 10: {"a": 30.0, "b": 30.0}}
    minutes = {"a": 12.0, "b": 12.0}
    rows = plan(expected, minutes, target_min=15, pools=[frozenset({"a"}), frozenset({"b"})])
    assert [r.hour for r in rows] == [8, 10]  # an hour with nobody expected needs nobody
    r8 = rows[0]
    assert (r8.expected_arrivals, r8.mean_service_minutes, r8.offered_load) == (10.0, 12.0, 2.0)
    assert r8.windows_needed == 3 and r8.service_level == pytest.approx(0.87267, abs=1e-5)
    # kept apart, each service needs its own windows: never fewer than pooled
    assert r8.windows_needed_as_assigned == windows_needed(6, 12, 15) + windows_needed(4, 12, 15) == 4
    assert rows[1].windows_needed_as_assigned >= rows[1].windows_needed == windows_needed(60, 12, 15)
    # the mix sets the mean time: 10 quick and 10 slow tickets
    mixed = plan({9: {"a": 10.0, "b": 10.0}}, {"a": 4.0, "b": 16.0}, 15)[0]
    assert mixed.mean_service_minutes == pytest.approx(10.0)
    assert staffing.DEFAULT_GOAL == 0.8
