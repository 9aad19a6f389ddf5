"""The hall's live estimates (`LiveWaits`): one ranking per window gives v2 for every ticket.

Each check compares against `wait_v2` itself on the same snapshot, ticket by ticket: the one-pass
form must agree exactly wherever the windows agree on the order (longest wait, and always for a
new ordinary ticket), and stay close where priorities interleave differently per window.
"""
import random
from datetime import UTC, datetime, timedelta

import pytest

from hall_server.domain.estimate import BreakPattern, HallSnapshot, LiveWaits, WindowNow, wait_v2
from hall_server.domain.policy import STRICT_ORDER, Candidate

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SERVICES = ("a", "b", "c", "d")
MIN = {"a": 6.0, "b": 10.0, "c": 3.0, "d": 15.0}


def random_hall(seed, priorities=False, strategy="longest_wait", n=120):
    rng = random.Random(seed)
    windows = []
    for number in range(1, 7):
        services = tuple(rng.sample(SERVICES, rng.randint(1, 3)))
        state = rng.choice(("open", "open", "open", "paused", "closed"))
        busy = rng.random() < 0.5 and state != "closed"
        windows.append(WindowNow(number, state, services, priority_streak=rng.randint(0, 2),
                                 busy_s=rng.uniform(0, 900) if busy else None,
                                 busy_service=rng.choice(services) if busy else None,
                                 paused_s=rng.uniform(0, 600) if state == "paused" else None))
    waiting = []
    for i in range(1, n + 1):
        prio = "elderly" if priorities and rng.random() < 0.15 else None
        target = rng.randint(1, 6) if rng.random() < 0.05 else None
        waiting.append(Candidate(i, rng.choice(SERVICES), T0 - timedelta(seconds=rng.uniform(0, 7200)),
                                 prio, target))
    arrivals = {(s, p): rng.uniform(0, 6) for s in SERVICES for p in (False, True)}
    return HallSnapshot(at=T0, windows=tuple(windows), waiting=tuple(waiting), minutes=MIN, v1_minutes=MIN,
                        hall_minutes=8.0, arrivals=arrivals, strategy=strategy, priority_ratio=3,
                        breaks=BreakPattern((36000.0, 40000.0), 10, 900.0), day_s=32400.0)


@pytest.mark.parametrize("seed", range(12))
def test_every_waiting_ticket_matches_v2_under_longest_wait(seed):
    snap = random_hall(seed)
    live = LiveWaits(snap)
    for t in snap.waiting:
        assert live.ticket(t) == wait_v2(snap, t.service, t.priority, t), t


@pytest.mark.parametrize("seed", range(12))
def test_a_new_ticket_matches_v2_for_every_service(seed):
    for priorities in (False, True):
        snap = random_hall(seed, priorities=priorities)
        live = LiveWaits(snap)
        for service in SERVICES:
            assert live.new(service) == wait_v2(snap, service), service
            assert live.new(service, "elderly") == wait_v2(snap, service, "elderly"), service


@pytest.mark.parametrize("seed", range(8))
def test_priorities_interleaving_stays_close_to_v2(seed):
    snap = random_hall(seed, priorities=True)
    live = LiveWaits(snap)
    for t in snap.waiting:
        exact, fast = wait_v2(snap, t.service, t.priority, t), live.ticket(t)
        assert (exact is None) == (fast is None)
        if exact is not None:
            # windows interleave priorities at their own streaks: the prefixes differ by a few tickets
            assert abs(fast - exact) <= 0.35 * exact + 15 * 60, (t, exact, fast)


@pytest.mark.parametrize("seed", range(8))
def test_strict_order_stays_within_a_factor_of_v2(seed):
    # Under strict order windows disagree on the order itself (each its own service order), so
    # the per-window prefixes and v2's union of them part ways: same order of magnitude only.
    snap = random_hall(seed, strategy=STRICT_ORDER)
    live = LiveWaits(snap)
    for t in snap.waiting:
        exact, fast = wait_v2(snap, t.service, t.priority, t), live.ticket(t)
        assert (exact is None) == (fast is None)
        if exact:
            assert 0.4 <= fast / exact <= 2.5, (t, exact, fast)


def test_no_staffed_window_means_no_estimate():
    snap = random_hall(1)
    closed = HallSnapshot(at=T0, windows=tuple(WindowNow(w.number, "closed", w.services) for w in snap.windows),
                          waiting=snap.waiting, minutes=MIN, v1_minutes=MIN, hall_minutes=8.0)
    live = LiveWaits(closed)
    assert all(live.ticket(t) is None for t in closed.waiting)
    assert live.new("a") is None
