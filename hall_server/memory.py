"""Server memory: a smaller footprint per Socket.IO connection, and freed memory given back to the OS.

Measured with bench/bench_memory.py (gevent server, boards joining a hall; numbers for 1,000 and
5,000 boards). Before this module a joined board cost ~58 KB of server RSS, and after 5,000 boards
had joined and left, the server stayed ~200 MiB above idle for good. Where it went, and the fix:

* pymalloc arenas. Python's small-object allocator takes 1 MiB arenas from the OS and returns one
  only when every object in it is gone. A burst of connections spreads its objects over new
  arenas, and the few long-lived objects created meanwhile pin most of them after the clients
  leave (~20 MiB after 1,000 boards, ~40-70 MiB after 5,000, as "unused pools" that are never
  returned, whatever is trimmed). Serving with PYTHONMALLOC=malloc puts objects in glibc's heap,
  whose free pages malloc_trim() returns wherever they are. The variable is read when the
  interpreter starts, so `setup()` re-executes the server once with it set (unless PYTHONMALLOC
  is set already: PYTHONMALLOC=pymalloc keeps pymalloc), before it has done anything; not in
  threading mode (tests, development: set PYTHONMALLOC=malloc to serve with it there). Cost: ~10%
  more CPU in allocation-heavy code (building a board snapshot).
* glibc's heap keeps what is freed for reuse: after 5,000 boards left, ~150 MiB of the heap was
  free yet resident. A reclaimer (a thread; a greenlet under gevent) watches the number of open
  connections; when DROP_TRIM or more have gone since the last trim and the drop has ended, it
  runs gc.collect() and malloc_trim(0), and FOLLOW_UPS times again ~25 s apart, once engineio has
  let go of the closed sockets too; at most once per MIN_TRIM_INTERVAL_S otherwise (a trim of a large heap
  blocks the server for ~100-300 ms). Fewer connections than at the last trim: a trim every
  CHURN_TRIM_S.
* mallopt at startup: at most 2 malloc arenas (in threading mode each thread would otherwise get
  an arena of its own), fixed mmap/trim thresholds (glibc raises them after a large buffer is
  freed and then keeps up to 64 MiB on top of the heap).
* Per connection under gevent: engineio pings each client from a greenlet that sleeps the ping
  interval (25 s) - a greenlet per connection, ~7 KB (its saved C stack, a page of Python frame
  stack, the greenlet objects), which also keeps a closed socket alive for up to 25 s. Here the
  ping is a libev timer that holds the socket weakly (and goes with it) and starts a greenlet only
  to send the ping.
  gevent records the spawning stack of every greenlet (~4 KB per connection): turned off.
  pywsgi gives each connection an 8 KiB read buffer, held for a websocket's whole life:
  LeanWebSocketHandler reads with RFILE_BUFFER bytes. Together: ~58 KB -> ~43 KB per board.
* engineio's writer greenlet per websocket, waiting on the socket's queue for the connection's whole
  life (~10 KB: saved C stack, frames): replaced by a queue that starts a writer only while it has
  packets to send (`_PushQueue`, `_lazy_writers`): ~43 KB -> ~32 KB per board.
* gc.freeze() once Socket.IO is up: the objects of startup move to the permanent generation, so
  full collections (the reclaimer's too) no longer walk them.

Measured after (before the lazy writers): ~43 KB per joined board; 30 s after the server closed
them, RSS +3 MiB over idle after 1,000 boards, +6 MiB after 5,000 (before: +40 and +200 MiB).
What is left per websocket board:
engineio's reader greenlet (saved C stack; a 16 KiB chunk of Python frame stack, partly touched),
two WSGI environs and the parsed request headers (~4 KB), the read buffer, and many small objects
of gevent/pywsgi/engineio.

HALL_MEMORY_TUNING=0 turns all of it off (to compare).
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import logging
import os
import sys
import threading
import time
import weakref
from typing import Any

log = logging.getLogger(__name__)

DROP_TRIM = 50              # connections gone since the last trim that make a burst worth a trim
MIN_TRIM_INTERVAL_S = 30.0  # at most one trim this often (a slow decline would otherwise trim every few s)
CHURN_TRIM_S = 600.0        # fewer connections than at the last trim's peak: trim at least this often
CHECK_S = 2.0               # how often the reclaimer looks at the number of connections
# trims after a burst, each ~ping_timeout after the last: engineio's service task walks a copy of the
# socket table taken before the burst and can hold closed sockets past one ping_timeout (bench_core,
# 5,000 boards gone: +23 and +31 MiB stayed with one follow-up, +3.9 MiB with two)
FOLLOW_UPS = 2
RFILE_BUFFER = 1024         # a connection's read buffer (pywsgi: 8 KiB); larger reads bypass it

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
_REEXEC_MARK = "HALL_MEMORY_REEXEC"
_state = {"prepared": False, "timer_pings": False, "lazy_writers": False}


def enabled() -> bool:
    """HALL_MEMORY_TUNING=0 turns the tuning off."""
    return os.environ.get("HALL_MEMORY_TUNING", "1") != "0"


def _libc() -> Any:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


def _started_as_server() -> bool:
    """Whether this process is the `hall-server` command (`python -m hall_server` or the console script)."""
    script = sys.argv[0] if sys.argv else ""
    if os.path.basename(script) == "hall-server":
        return True
    try:
        return os.path.samefile(script, os.path.join(os.path.dirname(__file__), "__main__.py"))
    except OSError:
        return False


def _reexec_with_system_malloc() -> None:
    """Run this server again with PYTHONMALLOC=malloc, once (see the module's docstring)."""
    if os.environ.get("PYTHONMALLOC") or os.environ.get(_REEXEC_MARK) or not sys.platform.startswith("linux"):
        return
    argv = list(getattr(sys, "orig_argv", []))
    if len(argv) < 2 or not _started_as_server():
        return  # embedded (tests calling cli.main): keep pymalloc rather than re-run someone else's command
    os.environ["PYTHONMALLOC"] = "malloc"
    os.environ[_REEXEC_MARK] = "1"  # never twice, even if PYTHONMALLOC is dropped on the way
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    try:
        os.execv(sys.executable, [sys.executable, *argv[1:]])
    except OSError as exc:
        log.warning("could not re-execute with PYTHONMALLOC=malloc (%s): serving with pymalloc", exc)


def _mallopt() -> None:
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return
    for param, value in ((_M_ARENA_MAX, 2), (_M_MMAP_THRESHOLD, 256 * 1024), (_M_TRIM_THRESHOLD, 4 * 1024 * 1024)):
        if libc.mallopt(param, value) != 1:
            log.debug("mallopt(%d, %d) refused", param, value)


def _timer_pings() -> bool:
    """engineio (gevent): ping each client from a libev timer instead of a sleeping greenlet.

    Same behaviour as engineio's Socket.schedule_ping/_send_ping (ping after ping_interval unless
    the socket is closing), without a greenlet per connection; the timer holds the socket weakly,
    so a closed socket is freed at once. Applied only if engineio's Socket looks as expected.
    """
    import gevent
    from engineio import packet as eio_packet
    from engineio import socket as eio_socket
    sock_class = eio_socket.Socket
    if getattr(sock_class, "_hall_timer_pings", False):
        return True
    if not (callable(getattr(sock_class, "schedule_ping", None)) and callable(getattr(sock_class, "_send_ping", None))):
        log.warning("engineio's Socket has no schedule_ping/_send_ping: keeping its ping greenlets")
        return False

    def send_ping(sock: Any) -> None:
        if not sock.closing and not sock.closed:
            sock.last_ping = time.time()
            sock.send(eio_packet.Packet(eio_packet.PING))

    def ping_due(ref: weakref.ref, timer: Any) -> None:
        timer.close()  # also drops its arguments
        sock = ref()
        if sock is not None and not sock.closing and not sock.closed:
            gevent.spawn_raw(send_ping, sock)  # sending may close the socket: not in the hub itself

    def schedule_ping(self: Any) -> None:
        if self.last_ping:  # as engineio: only once the previous ping's cycle completed
            self.last_ping = None
            timer = gevent.get_hub().loop.timer(self.server.ping_interval)
            # the socket gone, the timer goes too: a timer left waiting would pin a page of the heap
            ref = weakref.ref(self, lambda _ref, _timer=timer: _timer.close())
            timer.start(ping_due, ref, timer)

    sock_class.schedule_ping = schedule_ping
    sock_class._hall_timer_pings = True
    return True


_WRITER = "Socket._websocket_handler.<locals>.writer"


class _PushQueue:
    """An upgraded websocket's outgoing packets, written by a greenlet that lives only while there are some.

    Stands in for the socket's queue (engineio's `send` and `close` put packets, None to end) and
    for its writer task (the handler `join`s it at the end). Same order, same batching as
    engineio's writer; the same end: after None, or once a send fails, the websocket is closed and
    later packets are dropped (engineio's writer stops reading the queue then).
    """

    __slots__ = ("_ws", "_items", "_writing", "_done", "_over")

    def __init__(self, ws: Any) -> None:
        import collections
        self._ws = ws
        self._items: Any = collections.deque()
        self._writing = False
        self._done: Any = None  # an Event, only while someone waits for the writer
        self._over = False

    def put(self, item: Any, *_args: Any, **_kwargs: Any) -> None:
        if self._over:
            return
        self._items.append(item)
        if not self._writing:
            import gevent
            self._writing = True
            gevent.spawn_raw(self._write)

    def _write(self) -> None:
        try:
            while self._items:
                item = self._items.popleft()
                if item is None:
                    self._end()
                    return
                try:
                    self._ws.send(item.encode())
                except Exception:  # noqa: BLE001 - as engineio's writer: a failed send ends the socket
                    self._end()
                    return
        finally:
            self._writing = False
            done, self._done = self._done, None
            if done is not None:
                done.set()

    def _end(self) -> None:
        self._over = True
        self._items.clear()
        with contextlib.suppress(Exception):  # already closed
            self._ws.close()
        # the websocket holds its handler, the handler the socket, the socket this queue: without
        # this, a closed board would wait for a full gc pass to be freed
        self._ws = None

    def join(self, *_args: Any) -> None:
        """Wait until what was put has been written (the socket's `close(wait=True)`, the handler's end)."""
        if self._writing:
            if self._done is None:
                from gevent.event import Event
                self._done = Event()
            self._done.wait()

    def task_done(self) -> None:
        """Nothing to count: `join` waits on the writer itself (engineio's poll calls this per packet)."""

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items


def _lazy_writers() -> bool:
    """engineio (gevent): no writer greenlet per upgraded websocket, one only while there is something to send.

    engineio starts a writer per websocket that waits on the socket's queue for the connection's
    whole life (~9 KB: a greenlet's saved C stack and frames). Here the start of that writer
    installs a `_PushQueue` in the socket's place instead (packets already queued move over, in
    order) and returns it as the task the handler joins. Applied only if engineio's handler and
    writer look as expected (the writer's closure holds the socket as `self` and `ws`).
    """
    import engineio
    from engineio import socket as eio_socket
    server_class = engineio.Server
    if getattr(server_class, "_hall_lazy_writers", False):
        return True
    handler = getattr(eio_socket.Socket, "_websocket_handler", None)
    if handler is None or "writer" not in handler.__code__.co_varnames:
        log.warning("engineio's websocket handler has no writer task: keeping its writer greenlets")
        return False
    start = server_class.start_background_task

    def start_background_task(self: Any, target: Any, *args: Any, **kwargs: Any) -> Any:
        if not args and not kwargs and getattr(target, "__qualname__", "") == _WRITER and target.__closure__:
            cells = dict(zip(target.__code__.co_freevars, (c.cell_contents for c in target.__closure__)))
            sock, ws = cells.get("self"), cells.get("ws")
            if sock is not None and ws is not None:
                queue = _PushQueue(ws)
                old, empty = sock.queue, self.get_queue_empty_exception()
                sock.queue = queue
                while True:
                    try:
                        item = old.get(block=False)
                    except empty:
                        break
                    old.task_done()  # a close(wait=True) joining the old queue must not wait forever
                    queue.put(item)
                return queue
        return start(self, target, *args, **kwargs)

    server_class.start_background_task = start_background_task
    server_class._hall_lazy_writers = True
    return True


def setup(async_mode: str | None) -> None:
    """For `run`/`demo` (async_mode given), once the standard library is patched for it, before any work.

    Re-executes the process once with PYTHONMALLOC=malloc (not in threading mode), then: mallopt,
    gevent settings, the timer pings, and the reclaimer. Nothing for other commands (async_mode None).
    """
    if async_mode is None or not enabled() or _state["prepared"]:
        return
    if async_mode != "threading":  # threading: tests and development; 0.3 s more per start for nothing there
        _reexec_with_system_malloc()
    _mallopt()
    if async_mode == "gevent":
        import gevent
        gevent.config.track_greenlet_tree = False
        _state["timer_pings"] = _timer_pings()
        _state["lazy_writers"] = _lazy_writers()
    _state["prepared"] = True
    threading.Thread(target=Reclaimer().run, name="hall-memory", daemon=True).start()


def trim() -> tuple[float, float]:
    """Collect garbage, then give the heap's free pages back to the OS; (gc, trim) seconds."""
    t0 = time.monotonic()
    gc.collect()
    t1 = time.monotonic()
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
    return t1 - t0, time.monotonic() - t1


def _engineio() -> Any:
    realtime = sys.modules.get("hall_server.realtime")
    return getattr(getattr(getattr(realtime, "socketio", None), "server", None), "eio", None)


def _open_files(eio: Any) -> int:
    """Open file descriptors (a connection's goes when its greenlet/thread is done with it), else sockets."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return len(eio.sockets)


class Reclaimer:
    """Decides when to trim, from the number of open connections seen every CHECK_S.

    Connections are counted as open file descriptors: Engine.IO forgets a socket a moment before
    its greenlet (or thread) has let go of the connection's memory, so a trim timed on Engine.IO's
    count comes too early. A burst gets FOLLOW_UPS more trims, once engineio's service task has let go of
    the closed sockets too (it walks a copy of the socket table over ping_timeout, 20 s; engineio's
    own ping greenlets, if in use, hold theirs for ping_interval): the few KB of each socket left
    scattered over the heap meanwhile keep most of its pages from being returned.
    """

    def __init__(self, ping_followup: bool = False) -> None:
        self.peak = 0                       # most connections since the last trim
        self.last_count = 0
        self.last_trim = time.monotonic() - MIN_TRIM_INTERVAL_S
        self.ping_followup = ping_followup
        self.followup: float | None = None
        self.followups_left = 0
        self.frozen = False

    def due(self, count: int, now: float, hold_s: float = 20.0) -> str | None:
        """Why to trim now (None: not now); updates the counters. hold_s: how long engineio may
        keep closed sockets (see the class docstring)."""
        self.peak = max(self.peak, count)
        drop_ended = count >= self.last_count
        self.last_count = count
        if self.followup is not None and now >= self.followup:
            # FOLLOW_UPS trims after a burst, hold_s apart; another burst (a drop that has ended) since
            # the last trim starts them over; a slow decline does not (the churn rule is for it)
            again = self.peak - count >= DROP_TRIM and drop_ended
            self.followups_left = FOLLOW_UPS if again else self.followups_left - 1
            self.followup = now + hold_s + 2 * CHECK_S if self.followups_left > 0 else None
            return "after a burst"
        if now - self.last_trim < MIN_TRIM_INTERVAL_S:
            return None
        if self.peak - count >= DROP_TRIM and drop_ended:
            self.followup = now + hold_s + 2 * CHECK_S
            self.followups_left = FOLLOW_UPS
            return "burst"
        if count < self.peak and now - self.last_trim >= CHURN_TRIM_S:
            return "churn"
        return None

    def trimmed(self, count: int) -> None:
        self.peak, self.last_trim = count, time.monotonic()

    def run(self) -> None:
        self.ping_followup = not _state["timer_pings"]
        while True:
            time.sleep(CHECK_S)
            eio = _engineio()
            if eio is None:
                continue  # Socket.IO is not set up yet
            try:
                if not self.frozen:
                    gc.freeze()  # the server is up: the objects of startup need no more collections
                    self.frozen = True
                count = _open_files(eio)
                hold_s = float(getattr(eio, "ping_timeout", 20) or 20)
                if self.ping_followup:  # engineio's ping greenlets: each holds its socket until it wakes up
                    hold_s = max(hold_s, float(getattr(eio, "ping_interval", 25) or 25))
                why = self.due(count, time.monotonic(), hold_s)
                if why:
                    peak = self.peak
                    collect_s, trim_s = trim()
                    self.trimmed(count)
                    log.info("memory: trimmed (%s; %d open files, %d at most since the last trim; %d Engine.IO "
                             "connections): gc %.0f ms, malloc_trim %.0f ms", why, count, peak, len(eio.sockets),
                             collect_s * 1000, trim_s * 1000)
            except Exception:  # the reclaimer must keep running
                log.exception("memory reclaimer failed")


def _lean_handler_class() -> type:
    from geventwebsocket.handler import WebSocketHandler

    class LeanWebSocketHandler(WebSocketHandler):
        """gevent-websocket's handler, reading through a RFILE_BUFFER-byte buffer instead of 8 KiB.

        The buffer lives as long as the connection: for a board's websocket, all day.
        """

        def __init__(self, sock: Any, address: Any, server: Any) -> None:
            super().__init__(sock, address, server)
            if enabled():
                default, self.rfile = self.rfile, sock.makefile("rb", RFILE_BUFFER)
                default.close()

    return LeanWebSocketHandler


def __getattr__(name: str) -> Any:
    """LeanWebSocketHandler is built on first use: gevent-websocket is needed only under gevent."""
    if name == "LeanWebSocketHandler":
        cls = _lean_handler_class()
        globals()[name] = cls
        return cls
    raise AttributeError(name)
