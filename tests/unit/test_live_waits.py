"""The hall's live estimates: the call plan (policy run forward, fast) against the reference.

`CallPlan` walks each window's sorted lists once; `simulate_calls` re-ranks the whole pool at
every call with `rank_candidates` itself. On random halls (several windows, shared services,
priorities, transfers, breaks, busy windows, strict order) both must call every ticket at the
same moment; a new ticket's estimate must equal planning it with the queue.
"""
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hall_server.domain.estimate import (
    NEW_TICKET_ID,
    BreakPattern,
    CallPlan,
    HallSnapshot,
    LiveWaits,
    WindowNow,
    simulate_calls,
    wait_v3,
)
from hall_server.domain.policy import STRICT_ORDER, Candidate

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SERVICES = ("a", "b", "c", "d")
MIN = {"a": 6.0, "b": 10.0, "c": 3.0, "d": 15.0}


def random_hall(seed, priorities=False, strategy="longest_wait", n=120, arrivals=True):
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
        # whole seconds: distinct issue times, as the database's order (queued_at, id) would give
        waiting.append(Candidate(i, rng.choice(SERVICES), T0 - timedelta(seconds=rng.randint(0, 7200) * 10 + i),
                                 prio, target))
    rates = {(s, p): rng.uniform(0, 6) for s in SERVICES for p in (False, True)} if arrivals else {}
    return HallSnapshot(at=T0, windows=tuple(windows), waiting=tuple(waiting), minutes=MIN, v1_minutes=MIN,
                        hall_minutes=8.0, arrivals=rates, strategy=strategy, priority_ratio=3,
                        breaks=BreakPattern((36000.0, 40000.0), 10, 900.0), day_s=32400.0)


CASES = [{}, {"priorities": True}, {"strategy": STRICT_ORDER}, {"priorities": True, "strategy": STRICT_ORDER}]


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("case", CASES, ids=["longest", "priorities", "strict", "strict+priorities"])
def test_the_plan_calls_every_ticket_when_the_policy_would(seed, case):
    snap = random_hall(seed, **case)
    plan = CallPlan(snap)
    assert plan.calls == pytest.approx(simulate_calls(snap))


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("case", CASES, ids=["longest", "priorities", "strict", "strict+priorities"])
def test_a_new_ordinary_ticket_is_called_when_planning_it_with_the_queue_says(seed, case):
    snap = random_hall(seed, arrivals=False, **case)
    snap = replace(snap, breaks=BreakPattern())  # the plan alone: no overtaking, no breaks to add
    live = LiveWaits(snap)
    for service in SERVICES:
        me = Candidate(NEW_TICKET_ID, service, T0)
        reference = simulate_calls(replace(snap, waiting=(*snap.waiting, me)))
        expected = None if not live.active or all(service not in w.services for w in live.active) \
            else reference.get(NEW_TICKET_ID)
        got = live.new(service)
        if expected is None:
            assert got is None or all(service not in w.services for w in live.active)
        else:
            assert got == round(expected), service


@pytest.mark.parametrize("seed", range(6))
def test_every_waiting_ticket_and_priority_newcomers_match_v3(seed):
    snap = random_hall(seed, priorities=True)
    live = LiveWaits(snap)
    for t in snap.waiting[:40]:
        assert live.ticket(t) == wait_v3(snap, t.service, t.priority, t), t
    for service in SERVICES:
        assert live.new(service, "elderly") == wait_v3(snap, service, "elderly"), service


@pytest.mark.parametrize("seed", range(60))
@pytest.mark.parametrize("case", CASES, ids=["longest", "priorities", "strict", "strict+priorities"])
def test_a_new_priority_ticket_read_off_the_plan_matches_planning_it_with_the_queue(seed, case):
    """`LiveWaits.new` for a priority ticket reads its slot off the plan (`CallPlan.new_priority_slot`)
    instead of planning the whole queue again with it; on random halls (streaks, ratios from 1 to 4,
    small and large queues, busy, paused and closed windows) both give every service the same figure."""
    rng = random.Random(seed)
    snap = random_hall(seed, n=rng.choice((0, 3, 20, 120)), **case)
    snap = replace(snap, priority_ratio=rng.randint(1, 4))
    live = LiveWaits(snap)
    for service in SERVICES:
        for prio in ("elderly", "disabled"):
            assert live.new(service, prio) == wait_v3(snap, service, prio), (service, prio)


def test_no_staffed_window_means_no_estimate():
    snap = random_hall(1)
    closed = replace(snap, windows=tuple(WindowNow(w.number, "closed", w.services) for w in snap.windows))
    live = LiveWaits(closed)
    assert all(live.ticket(t) is None for t in closed.waiting)
    assert live.new("a") is None


def test_the_live_views_people_ahead_of_a_new_ticket_match_the_domain_rule():
    import random
    from datetime import timedelta

    from hall_server.application.estimates import LiveView
    from hall_server.domain.estimate import NEW_TICKET_ID, HallSnapshot, people_ahead
    from hall_server.domain.policy import Candidate
    rnd = random.Random(4)
    at = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    waiting = tuple(Candidate(i, rnd.choice("abc"), at - timedelta(seconds=rnd.randint(0, 3000)),
                              rnd.choice([None, None, None, "elderly"]), rnd.choice([None] * 5 + [2]))
                    for i in range(1, 400))
    # one ticket queued at the view's very moment (issued as it was read): earlier only by its id
    waiting += (Candidate(NEW_TICKET_ID - 1, "a", at, "elderly", None),)
    snap = HallSnapshot(at=at, windows=(), waiting=waiting, minutes={}, v1_minutes={}, hall_minutes=5.0)
    view = LiveView("kfs", 1, 0.0, snap, "v3", {}, {}, None)
    for service in "abcd":
        for priority in (None, "elderly"):
            assert view.new_ahead(service, priority) == people_ahead(snap, service, priority), (service, priority)
