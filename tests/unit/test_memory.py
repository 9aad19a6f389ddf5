"""When the memory reclaimer trims (hall_server/memory.py); the server-level check: tests/e2e/test_socket_memory.py."""
from __future__ import annotations

from hall_server import memory
from hall_server.memory import CHECK_S, CHURN_TRIM_S, DROP_TRIM, MIN_TRIM_INTERVAL_S, Reclaimer


def _reclaimer() -> Reclaimer:
    r = Reclaimer()
    r.last_trim = 1000.0 - MIN_TRIM_INTERVAL_S  # as at startup; the tests' clock starts at 1000
    return r


def _look(r: Reclaimer, counts: list[int], start: float = 1000.0) -> list[tuple[float, str]]:
    """Feed one count per CHECK_S; the trims, as (time, reason); a trim resets as in run()."""
    trims = []
    for i, count in enumerate(counts):
        now = start + i * CHECK_S
        why = r.due(count, now, hold_s=20)
        if why:
            trims.append((now, why))
            r.peak, r.last_trim = count, now
    return trims


def test_a_burst_of_disconnects_is_trimmed_once_it_ends_and_again_after_engineio_lets_go():
    r = _reclaimer()
    counts = [0, 500, 1000, 1000, 600, 200, 10] + [10] * 20
    trims = _look(r, counts)
    assert [why for _, why in trims] == ["burst", "after a burst"]
    (t_burst, _), (t_after, _) = trims
    assert t_burst == 1000 + counts.index(10, 6) * CHECK_S + CHECK_S  # the first look with no further drop
    assert t_after - t_burst >= 20  # engineio's service task holds closed sockets up to ping_timeout


def test_no_trim_while_connections_only_grow_or_drop_a_little():
    r = _reclaimer()
    assert _look(r, [0, 100, 2000, 2000 - DROP_TRIM + 1, 2000 - DROP_TRIM + 1, 3000, 3000]) == []


def test_trims_are_rate_limited_but_a_slow_churn_is_trimmed_eventually():
    r = _reclaimer()
    ticks = int(CHURN_TRIM_S / CHECK_S) + 2
    # a burst, then the next burst comes before MIN_TRIM_INTERVAL_S is over
    counts = [1000, 0, 0] + [1000, 0, 0] + [0] * 20 + [50, 40, 30] + [30] * ticks
    trims = _look(r, counts)
    times = [t for t, _ in trims]
    assert all(b - a >= MIN_TRIM_INTERVAL_S or why == "after a burst"
               for (a, _), (b, why) in zip(trims, trims[1:])), trims
    assert trims[-1][1] == "churn" and times[-1] - times[-2] >= CHURN_TRIM_S


def test_setup_does_nothing_for_other_commands_or_when_turned_off(monkeypatch):
    def reexec() -> None:
        raise AssertionError("setup went on")

    monkeypatch.setattr(memory, "_reexec_with_system_malloc", reexec)
    memory.setup(None)
    monkeypatch.setenv("HALL_MEMORY_TUNING", "0")
    memory.setup("gevent")
    assert not memory._state["prepared"]


def test_the_server_is_re_executed_only_when_it_is_the_hall_server_command(monkeypatch):
    calls = []
    monkeypatch.delenv("PYTHONMALLOC", raising=False)
    monkeypatch.delenv(memory._REEXEC_MARK, raising=False)
    monkeypatch.setattr(memory.os, "execv", lambda *a: calls.append(a))
    memory._reexec_with_system_malloc()  # pytest is running: never re-run it
    assert calls == [] and "PYTHONMALLOC" not in memory.os.environ
