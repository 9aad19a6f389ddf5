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
    # a burst, then the next burst comes before MIN_TRIM_INTERVAL_S is over; the slow churn after
    # the bursts' follow-up trims
    counts = [1000, 0, 0] + [1000, 0, 0] + [0] * 40 + [50, 40, 30] + [30] * ticks
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


def test_a_second_burst_ending_as_the_first_ones_followup_fires_still_gets_its_own_followup():
    # Seen in bench_core: 1,000 boards left (burst, follow-up armed), 5,000 joined and left within
    # the follow-up's wait; the follow-up fired as the count reached bottom, reset the peak, and the
    # 5,000's closed sockets, still held by engineio then, were never trimmed (+99 MiB for good).
    r = _reclaimer()
    counts = [1000, 0, 0] + [2000, 5000, 5000, 2500, 10] + [10] * 40
    trims = _look(r, counts)
    assert [why for _, why in trims][:2] == ["burst", "after a burst"]
    t_drop_end = 1000 + (3 + 5) * CHECK_S  # the second drop reached bottom here
    assert any(why == "after a burst" and t - t_drop_end >= 20 for t, why in trims[2:]), trims


class _FakeWs:
    """A websocket whose send can be held (a slow client) and can fail."""

    def __init__(self, fail_on: str | None = None) -> None:
        import gevent.event
        self.sent: list[str] = []
        self.closed = False
        self.fail_on = fail_on
        self.gate = gevent.event.Event()
        self.gate.set()

    def send(self, data: str) -> None:
        self.gate.wait()
        if data == self.fail_on:
            raise OSError("broken pipe")
        self.sent.append(data)

    def close(self) -> None:
        self.closed = True


class _Pkt:
    def __init__(self, text: str) -> None:
        self.text = text

    def encode(self) -> str:
        return self.text


def test_the_lazy_writer_sends_in_order_and_lives_only_while_it_has_packets():
    import gevent
    ws = _FakeWs()
    q = memory._PushQueue(ws)
    ws.gate.clear()  # the client reads slowly: packets pile up behind the first
    for i in range(5):
        q.put(_Pkt(f"m{i}"))
    gevent.sleep(0)
    assert q._writing and ws.sent == []
    q.put(_Pkt("m5"))  # while writing: no second writer, same order
    ws.gate.set()
    q.join()
    assert ws.sent == [f"m{i}" for i in range(6)] and not q._writing
    q.put(_Pkt("later"))  # a new packet after a quiet spell starts a writer again
    q.join()
    assert ws.sent[-1] == "later" and not ws.closed
    q.put(None)  # the end: the websocket is closed, and nothing is sent after it
    q.put(_Pkt("after the end"))
    q.join()
    assert ws.closed and ws.sent[-1] == "later" and q.empty()


def test_the_lazy_writer_stops_and_closes_on_a_failed_send():
    ws = _FakeWs(fail_on="bad")
    q = memory._PushQueue(ws)
    for text in ("ok", "bad", "never"):
        q.put(_Pkt(text))
    q.join()
    assert ws.sent == ["ok"] and ws.closed
    q.put(_Pkt("dropped"))
    q.join()
    assert ws.sent == ["ok"]


def test_engineio_websocket_writers_are_replaced_and_queued_packets_move_over(monkeypatch):
    import engineio
    import gevent.queue
    monkeypatch.setattr(engineio.Server, "start_background_task", engineio.Server.start_background_task)
    monkeypatch.setattr(engineio.Server, "_hall_lazy_writers", False, raising=False)
    assert memory._lazy_writers()
    server = engineio.Server(async_mode="gevent")
    ws = _FakeWs()

    class Sock:
        queue = gevent.queue.JoinableQueue()

    sock = Sock()
    sock.queue.put(_Pkt("queued before"))

    def _websocket_handler(self, ws):  # engineio's shape: a `writer` closure over self and ws
        def writer():
            return self, ws
        return writer

    writer = _websocket_handler(sock, ws)
    writer.__qualname__ = memory._WRITER
    task = server.start_background_task(writer)
    assert isinstance(sock.queue, memory._PushQueue) and task is sock.queue
    sock.queue.put(_Pkt("after"))
    task.join()
    assert ws.sent == ["queued before", "after"]
    # any other task is started as before
    other = server.start_background_task(lambda: 42)
    assert other.get() == 42


def test_a_slow_decline_after_a_burst_is_not_trimmed_every_follow_up():
    r = _reclaimer()
    counts = [0, 1000, 1000, 0, 0] + [5000 - 5 * i for i in range(300)]  # a burst, then 5 leave every look
    trims = _look(r, counts)
    follow_ups = [t for t, why in trims if why == "after a burst"]
    assert len(follow_ups) <= memory.FOLLOW_UPS + 1, trims  # the burst's own, not one per 24 s of decline


def test_a_closed_lazy_writer_lets_go_of_its_websocket():
    ws = _FakeWs()
    q = memory._PushQueue(ws)
    q.put(_Pkt("bye"))
    q.put(None)
    q.join()
    assert ws.closed and q._ws is None
