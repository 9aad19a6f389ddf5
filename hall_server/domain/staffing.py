"""Staffing: how many windows each hour needs so that enough citizens wait less than the target.

Erlang C (the M/M/c queue): with arrivals λ per hour, a mean window time 1/μ and c windows, the
offered load is a = λ/μ and the share called within t is

    P(wait <= t) = 1 - C(c, a) * exp(-(c - a) * μ * t),

where C(c, a) is the probability of waiting at all. The windows needed in an hour are the
smallest c with a < c and P(wait <= target) >= the goal share (0.8 within the hall's
`wait_target_minutes` by default, the "80 % within target" rule of shopfronts elsewhere).
Expected arrivals come from the hall's history: the mean of the same weekday over the last four
weeks, or every open day of those weeks when too few of that weekday exist.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

DEFAULT_GOAL = 0.8
LOOKBACK_DAYS = 28
MIN_SAME_WEEKDAY = 3  # of the 4 in the lookback: one holiday does not throw the weekday away
MAX_WINDOWS = 500


def erlang_b(c: int, a: float) -> float:
    """Blocking probability of c servers with offered load a (stable recursion, no factorials)."""
    if c < 0 or a < 0:
        raise ValueError("c and a must be >= 0")
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits at all, with c windows and offered load a (1 if a >= c)."""
    if a <= 0:
        return 0.0
    if c <= a:
        return 1.0
    b = erlang_b(c, a)
    return c * b / (c - a * (1.0 - b))


def service_level(c: int, a: float, target_s: float, mean_service_s: float) -> float:
    """Share of arrivals called within target_s (0 when the windows cannot keep up)."""
    if a <= 0:
        return 1.0
    if c <= a:
        return 0.0
    return 1.0 - erlang_c(c, a) * math.exp(-(c - a) * target_s / mean_service_s)


def mean_wait_s(c: int, a: float, mean_service_s: float) -> float:
    """Mean wait in seconds (infinite when the windows cannot keep up)."""
    if a <= 0:
        return 0.0
    if c <= a:
        return math.inf
    return erlang_c(c, a) * mean_service_s / (c - a)


def windows_needed(arrivals_per_hour: float, mean_service_min: float, target_min: float,
                   goal: float = DEFAULT_GOAL) -> int:
    """The fewest windows that call `goal` of the arrivals within `target_min` minutes."""
    if not 0 < goal < 1:
        raise ValueError("goal must be a share between 0 and 1")
    if arrivals_per_hour <= 0:
        return 0
    if mean_service_min <= 0:
        raise ValueError("mean service time must be > 0")
    a = arrivals_per_hour * mean_service_min / 60.0
    c = max(1, math.floor(a) + 1)
    while service_level(c, a, target_min * 60.0, mean_service_min * 60.0) < goal:
        c += 1
        if c > MAX_WINDOWS:
            raise ValueError(f"more than {MAX_WINDOWS} windows needed: check the inputs")
    return c


def expected_arrivals(counts: Mapping[date, Mapping[int, Mapping[str, int]]], day: date,
                      lookback_days: int = LOOKBACK_DAYS, min_same_weekday: int = MIN_SAME_WEEKDAY
                      ) -> tuple[dict[int, dict[str, float]], list[date]]:
    """Expected arrivals per hour and service on `day`, and the past days the mean is taken over.

    `counts` holds the open days of the history (day -> hour -> service -> tickets issued).
    Only days in the `lookback_days` before `day` count; the same weekday when at least
    `min_same_weekday` of them exist, else every open day in the lookback.
    """
    first = day - timedelta(days=lookback_days)
    past = sorted(d for d in counts if first <= d < day)
    same = [d for d in past if d.weekday() == day.weekday()]
    basis = same if len(same) >= min_same_weekday else past
    out: dict[int, dict[str, float]] = {}
    for d in basis:
        for hour, per_service in counts[d].items():
            slot = out.setdefault(hour, {})
            for service, n in per_service.items():
                slot[service] = slot.get(service, 0.0) + n / len(basis)
    return out, basis


def service_pools(windows: Iterable[Sequence[str]]) -> list[frozenset[str]]:
    """Groups of services that share windows (connected by any window serving two of them)."""
    pools: list[set[str]] = []
    for services in windows:
        merged = set(services)
        rest = []
        for p in pools:
            if p & merged:
                merged |= p
            else:
                rest.append(p)
        pools = rest + [merged]
    return [frozenset(p) for p in pools]


@dataclass(frozen=True)
class HourPlan:
    """One hour of the plan."""

    hour: int
    expected_arrivals: float
    mean_service_minutes: float
    offered_load: float  # windows kept busy on average (Erlangs)
    windows_needed: int  # with every staffed window able to take every service
    service_level: float  # the share called within target with windows_needed
    windows_needed_as_assigned: int  # with each group of services kept on its own windows


def _mix_minutes(per_service: Mapping[str, float], minutes: Mapping[str, float], fallback: float) -> float:
    total = sum(per_service.values())
    if total <= 0:
        return fallback
    return sum(n * minutes.get(s, fallback) for s, n in per_service.items()) / total


def plan(expected: Mapping[int, Mapping[str, float]], minutes: Mapping[str, float], target_min: float,
         goal: float = DEFAULT_GOAL, pools: Sequence[frozenset[str]] = ()) -> list[HourPlan]:
    """Windows needed per hour, from expected arrivals per service and window minutes per service."""
    fallback = sum(minutes.values()) / len(minutes) if minutes else 10.0
    out = []
    for hour in sorted(expected):
        per_service = expected[hour]
        lam = sum(per_service.values())
        if lam <= 0:
            continue
        m = _mix_minutes(per_service, minutes, fallback)
        c = windows_needed(lam, m, target_min, goal)
        a = lam * m / 60.0
        assigned = 0
        covered: set[str] = set()
        for pool in pools:
            part = {s: n for s, n in per_service.items() if s in pool}
            covered |= part.keys()
            if sum(part.values()) > 0:
                assigned += windows_needed(sum(part.values()), _mix_minutes(part, minutes, fallback),
                                           target_min, goal)
        orphan = {s: n for s, n in per_service.items() if s not in covered}
        if pools and sum(orphan.values()) > 0:  # services no window serves today: they would need one
            assigned += windows_needed(sum(orphan.values()), _mix_minutes(orphan, minutes, fallback),
                                       target_min, goal)
        out.append(HourPlan(hour, lam, m, a, c, service_level(c, a, target_min * 60.0, m * 60.0),
                            assigned if pools else c))
    return out
