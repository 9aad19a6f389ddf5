"""The coalesced `queue_changed`: its recomputation walks the whole queue, so it takes at most a share
of the time (estimates.REBUILD_SHARE): a slow one spaces the next out, a fast one brings it back."""
from __future__ import annotations

from typing import Any

import pytest

from hall_server import events as ev
from hall_server.application import Outcome
from hall_server.application.estimates import REBUILD_PAUSE_MAX_S, REBUILD_SHARE
from hall_server.realtime import Broadcaster


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeApp:
    """`queue_state` that takes `cost` seconds of the fake clock."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock, self.cost, self.calls = clock, 0.0, []

    def queue_state(self, hall: str, seq: int, fresh: bool = True, any_age: bool = False) -> dict[str, Any]:
        self.calls.append((hall, seq, fresh))
        self.clock.now += self.cost
        return {"waiting": seq}


class FakeSio:
    def __init__(self) -> None:
        self.slept: list[float] = []
        self.emitted: list[tuple[str, dict[str, Any], str | None]] = []
        self.tasks: list[tuple[Any, tuple[Any, ...]]] = []

    def sleep(self, s: float) -> None:
        self.slept.append(s)

    def emit(self, event: str, data: dict[str, Any], to: str | None = None) -> None:
        self.emitted.append((event, data, to))

    def start_background_task(self, fn: Any, *args: Any) -> None:
        self.tasks.append((fn, args))


def make() -> tuple[Broadcaster, FakeApp, FakeSio]:
    clock = FakeClock()
    app, sio = FakeApp(clock), FakeSio()
    return Broadcaster(app, sio, clock=clock), app, sio  # type: ignore[arg-type]


def change(b: Broadcaster, sio: FakeSio, seq: int) -> None:
    """A committed change with an event of its own in the hall room, then its scheduled recomputation."""
    b(Outcome(hall="kfs", seq=seq, emits=[ev.Emit("ticket_issued", {"n": seq}, ev.hall_room("kfs"))]))
    while sio.tasks:
        fn, args = sio.tasks.pop(0)
        fn(*args)


def test_a_fast_recomputation_keeps_the_base_interval():
    b, app, sio = make()
    app.cost = 0.004  # 4 ms: under 5% of 0.3 s
    change(b, sio, 1)
    change(b, sio, 2)
    assert sio.slept == [Broadcaster.QUEUE_COALESCE_S] * 2
    assert [e for e, _, _ in sio.emitted].count(ev.QUEUE_CHANGED) == 2


def test_a_slow_recomputation_spaces_the_next_one_out_and_a_fast_one_brings_it_back():
    b, app, sio = make()
    app.cost = 0.04  # a queue of thousands: 40 ms
    change(b, sio, 1)
    assert b.coalesce_s("kfs") == pytest.approx(0.04 / REBUILD_SHARE)  # 0.8 s: 5% of the time
    change(b, sio, 2)
    assert sio.slept[-1] == pytest.approx(0.04 / REBUILD_SHARE)
    app.cost = 0.5  # never more than the cap between two recomputations
    change(b, sio, 3)
    assert b.coalesce_s("kfs") == REBUILD_PAUSE_MAX_S
    app.cost = 0.001
    change(b, sio, 4)
    assert b.coalesce_s("kfs") == Broadcaster.QUEUE_COALESCE_S
    # every change's own event went out at once, and every recomputation carried the newest seq
    assert [d["seq"] for e, d, _ in sio.emitted if e == "ticket_issued"] == [1, 2, 3, 4]
    assert [d["seq"] for e, d, _ in sio.emitted if e == ev.QUEUE_CHANGED] == [1, 2, 3, 4]


def test_halls_are_paced_apart():
    b, app, sio = make()
    app.cost = 0.05
    change(b, sio, 1)
    assert b.coalesce_s("kfs") > Broadcaster.QUEUE_COALESCE_S
    assert b.coalesce_s("mnr") == Broadcaster.QUEUE_COALESCE_S
