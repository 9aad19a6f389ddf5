"""Socket.IO: `join` with a snapshot first, and the one broadcaster that turns outcomes into pushes."""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

import socketio as python_socketio
from flask import request
from flask_socketio import SocketIO, join_room

from hall_server import events as ev
from hall_server.application import HallApp, Outcome
from hall_server.application.auth import Auth
from hall_server.application.estimates import rebuild_pause
from hall_server.current import runtime
from hall_server.domain.errors import DomainError
from hall_server.storage import db_unavailable

log = logging.getLogger(__name__)
socketio = SocketIO()

_NEEDS_TOKEN = {"counter": ("clerk", "supervisor", "admin"), "supervisor": ("supervisor", "admin"),
                "announcer": ("announcer", "supervisor", "admin"), "printer": ("printer", "kiosk", "admin")}


def _fail(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message}}


def _prints_for(hall: str, device: str, kiosk: str) -> bool:
    """Whether the device `device` may take `kiosk`'s print jobs (itself, or bound in the hall file)."""
    if kiosk == device:
        return True
    return any(d.name == device and d.kind == "printer" and d.kiosk == kiosk
               for d in runtime().settings.hall(hall).devices)


@socketio.on(ev.JOIN)
def on_join(data: Any) -> dict[str, Any]:
    """Any client joins a hall in a role; it gets a `snapshot` first, then the hall's events."""
    app: HallApp = runtime().hall
    if not isinstance(data, dict):
        return _fail("invalid_join", "join needs an object {hall, role}")
    hall, role = data.get("hall"), data.get("role")
    if role not in ev.ROLES:
        return _fail("invalid_role", f"role must be one of {', '.join(ev.ROLES)}")
    try:
        app.hall(hall if isinstance(hall, str) else "")
    except DomainError as exc:
        return _fail(exc.code, exc.message)
    device = None
    if role in ("board", "kiosk") and isinstance(data.get("auth"), str):
        # a board or kiosk that shows its device token is tracked, so an unplugged TV raises an alert
        who = runtime().auth.resolve(data["auth"])
        if who is not None and who.kind == "device" and who.role == role and who.hall == hall:
            device = who.name
    if role in _NEEDS_TOKEN:
        auth: Auth = runtime().auth
        who = auth.resolve(data.get("auth") if isinstance(data.get("auth"), str) else None)
        if who is None or who.role not in _NEEDS_TOKEN[role] or not who.acts_in(hall):
            return _fail("unauthorized", f"role {role} needs a valid token")
        device = who.name
    if role == "ticket":
        token = data.get("token")
        if not isinstance(token, str):
            return _fail("invalid_join", "role ticket needs the ticket's token")
        try:
            ticket = app.ticket_by_token(token)
        except DomainError as exc:
            return _fail(exc.code, exc.message)
        if ticket["hall"] != hall:
            return _fail("not_found", "no such ticket in this hall")
        join_room(ev.ticket_room(token))
    if role == "printer":
        # A device prints only as itself: its own name, or the kiosk its printer entry is bound to.
        wanted = data.get("device") or device
        if not isinstance(wanted, str) or not _prints_for(hall, device or "", wanted):
            return _fail("forbidden", "this token may print only for its own kiosk")
        join_room(ev.printer_room(hall, wanted))
    if role in ("printer", "announcer") or (role in ("board", "kiosk") and device):
        devices: DeviceRegistry = runtime().devices
        devices.attach(request.sid, hall, device or role, role)
    join_room(ev.hall_room(hall))
    if role in LISTENING_ROLES:
        runtime().listeners.add(request.sid, hall)
    # Joined first, snapshot second: anything committed after the snapshot reaches us as an event.
    # One board and queue state per seq, shared by every join (a thousand boards reconnecting
    # after a restart cost one snapshot).
    snap = {"role": role, **app.views.join_snapshot(hall)}
    if role == "ticket":
        snap["ticket"] = app.ticket_by_token(data["token"])
    if role == "supervisor":
        snap["devices"] = runtime().devices.of_hall(hall)
    socketio.emit(ev.SNAPSHOT, snap, to=request.sid)
    return {"ok": True, "seq": snap["seq"]}


class LocalFirstRedisManager(python_socketio.RedisManager):
    """Redis as Socket.IO's message queue, where each process reaches its own clients even with Redis down.

    python-socketio's PubSubManager.emit delivers to this process's clients first (`_handle_emit`)
    and then publishes for the other processes; RedisManager._publish logs and swallows a failure,
    but with redis-py's default retries and no socket timeout a dead or stopped Redis can stall the
    emitting request. Here publishing uses its own client with short timeouts and no retries, and
    after a failure it skips the queue for RETRY_AFTER_S (other processes' boards then see a gap in
    seq and fetch the calls they missed). The listener retries every LISTEN_RETRY_MAX_S at most, so
    cross-process events resume soon after Redis returns.
    """

    TIMEOUT_S = 1.0
    RETRY_AFTER_S = 2.0
    LISTEN_RETRY_MAX_S = 2.0

    def __init__(self, url: str, channel: str = "flask-socketio", write_only: bool = False) -> None:
        super().__init__(url, channel=channel, write_only=write_only)
        self._pub: Any = None
        self._down_until = 0.0
        self._pub_lock = threading.Lock()
        self._listening = False
        self._trouble_at = time.monotonic()  # until the listener first subscribes: not yet trusted

    GRACE_S = 5.0  # after the queue works again, still degraded this long (what slipped by meanwhile)

    @property
    def degraded(self) -> bool:
        """Whether events of other processes may not be reaching this one: the queue failed to
        publish or to receive lately (Broadcaster.watch_seq then reads the halls' seq instead)."""
        now = time.monotonic()
        if not self._listening or now < self._down_until:
            self._trouble_at = now
        return now - self._trouble_at < self.GRACE_S

    def _publisher(self) -> Any:
        if self._pub is None:
            from redis.backoff import NoBackoff
            from redis.retry import Retry
            self._pub = self._get_redis_module().Redis.from_url(
                self.redis_url, socket_connect_timeout=self.TIMEOUT_S, socket_timeout=self.TIMEOUT_S,
                retry=Retry(NoBackoff(), 0))
        return self._pub

    def _publish(self, data: Any) -> Any:
        if time.monotonic() < self._down_until:
            return None  # the queue is down: this process's clients already have the event
        try:
            sent = self._publisher().publish(self.channel, self.json.dumps(data))
        except Exception as exc:  # noqa: BLE001 - any failure: local delivery stands, others resync
            with self._pub_lock:
                first = self._down_until == 0.0
                self._down_until = time.monotonic() + self.RETRY_AFTER_S
            (log.error if first else log.warning)(
                "message queue unreachable (%s): pushes reach this process's clients only", exc)
            return None
        if self._down_until:
            self._down_until = 0.0
            log.warning("message queue reachable again")
        return sent

    def _redis_listen_with_retries(self) -> Any:  # pragma: no cover - exercised by the e2e test
        subscribed = False
        while True:
            try:
                if not subscribed:
                    self._redis_connect()
                    self.pubsub.subscribe(self.channel)
                    subscribed = self._listening = True
                yield from self.pubsub.listen()
            except Exception as exc:  # noqa: BLE001
                log.warning("message queue: cannot receive (%s); retrying in %ss", exc, self.LISTEN_RETRY_MAX_S)
                subscribed = self._listening = False
                time.sleep(self.LISTEN_RETRY_MAX_S)


def client_manager(url: str | None) -> Any:
    """The Socket.IO client manager for HALL_MESSAGE_QUEUE (None: one process, the default manager)."""
    if not url:
        return None
    if not url.startswith(("redis://", "rediss://")):
        raise ValueError(f"HALL_MESSAGE_QUEUE: a redis:// address, got {url!r}")
    return LocalFirstRedisManager(url)


class Broadcaster:
    """Turns a committed Outcome into Socket.IO events, each stamped with the hall's seq.

    The change's own events go out at once. The hall's waiting counts and estimates
    (`queue_changed`) are recomputed at most once per QUEUE_COALESCE_S per hall (longer while a
    recomputation would take more than estimates.REBUILD_SHARE of the time: a queue of thousands): under a rush
    of tickets one recomputation covers many changes. A change that sends nothing else to the
    hall room gets a `queue_changed` at once too (exact counts, the estimates of the shared live
    state), so every seq reaches every board; the recomputation follows as for any change.
    """

    QUEUE_COALESCE_S = 0.3  # longer after a costly recomputation (`estimates.rebuild_pause`)
    RETRY_S = 1.0  # while the database is out of reach, the owed queue_changed is retried this often

    def __init__(self, app: HallApp, sio: SocketIO, clock: Any = time.perf_counter) -> None:
        self.app, self.sio, self.clock = app, sio, clock
        self._lock = threading.Lock()
        self._pending: dict[str, int] = {}  # hall -> newest seq whose queue state is not sent yet
        self._pushed: dict[str, int] = {}  # hall -> newest seq this process pushed to its clients
        self._pause: dict[str, float] = {}  # hall -> the wait before its next recomputation

    def coalesce_s(self, hall: str) -> float:
        """How long the hall's changes are gathered before its queue state is recomputed."""
        return self._pause.get(hall, self.QUEUE_COALESCE_S)

    def _note(self, hall: str, seq: int) -> None:
        with self._lock:
            self._pushed[hall] = max(seq, self._pushed.get(hall, 0))

    WATCH_S = 1.0  # how often the halls' seq is read while the message queue is degraded

    def watch_seq(self) -> None:
        """A background task (several processes only): while the message queue is degraded, read the
        halls' seq every WATCH_S, and when another process made a change this one has not pushed,
        push `queue_changed` with that seq. The boards see the gap and fetch the calls they missed,
        so a call made on another process is shown and spoken even when Redis is down."""
        while True:
            self.sio.sleep(self.WATCH_S)
            manager = getattr(self.sio.server, "manager", None)
            if not getattr(manager, "degraded", False):
                continue
            try:
                for hall, seq in self.app.views.seqs().items():
                    if seq > self._pushed.get(hall, 0):
                        self._send_queue(hall, seq, resync=True)
            except Exception as exc:  # noqa: BLE001 - the watcher must outlive any one failure
                (log.warning if db_unavailable(exc) else log.exception)("seq watch failed: %s", exc)

    def __call__(self, outcome: Outcome) -> None:
        if outcome.hall is None or outcome.seq is None:
            return
        self._note(outcome.hall, outcome.seq)
        room = ev.hall_room(outcome.hall)
        for e in outcome.emits:
            self.sio.emit(e.event, {**e.payload, "seq": outcome.seq, "hall": outcome.hall}, to=e.room)
        if not outcome.touched_services:
            return
        if not any(e.room == room for e in outcome.emits):
            # No other event announces this seq: it goes out now, with exact counts and the shared
            # live state's estimates as they are, however old; the coalesced
            # rebuild below refreshes them. Rebuilding here held every cancel for the whole queue's
            # estimates (80% of the server's time at 5,000 waiting, bench_core's queue section).
            self._send_queue(outcome.hall, outcome.seq, fresh=False, any_age=True)
        with self._lock:
            scheduled = outcome.hall in self._pending
            self._pending[outcome.hall] = max(outcome.seq, self._pending.get(outcome.hall, 0))
        if not scheduled:
            self.sio.start_background_task(self._flush_later, outcome.hall)

    def _flush_later(self, hall: str, delay: float | None = None) -> None:
        self.sio.sleep(self.coalesce_s(hall) if delay is None else delay)
        with self._lock:
            seq = self._pending.pop(hall, None)
        if seq is not None:
            try:
                t0 = self.clock()
                self._send_queue(hall, seq)
                took = self.clock() - t0
                self._pause[hall] = rebuild_pause(took, self.QUEUE_COALESCE_S)
            except Exception as exc:
                if not db_unavailable(exc):
                    log.exception("queue_changed for hall %s failed", hall)
                    return
                # the database is out of reach: the change stays owed to the boards, sent once it is back
                log.warning("queue_changed for hall %s: the database is out of reach (%s); retrying", hall, exc)
                with self._lock:
                    scheduled = hall in self._pending
                    self._pending[hall] = max(seq, self._pending.get(hall, 0))
                if not scheduled:
                    self.sio.start_background_task(self._flush_later, hall, self.RETRY_S)

    def _send_queue(self, hall: str, seq: int, resync: bool = False, fresh: bool = True,
                    any_age: bool = False) -> None:
        # fresh: the one rebuild of the hall's live state for this change (or this burst of changes);
        # every request, phone and join reads it until the next.
        state = self.app.queue_state(hall, seq, fresh=fresh, any_age=any_age)
        state["seq"] = seq  # the newest change this state includes
        if resync:  # changes of another process came before it, unseen here: clients resync on it
            state = {**state, "resync": True}
        self._note(hall, seq)
        self.sio.emit(ev.QUEUE_CHANGED, state, to=ev.hall_room(hall))


LISTENING_ROLES = ("board", "announcer")  # clients that play calls' audio
# what a device may say about itself (print agents, announcers, boards, kiosks)
DEVICE_STATUSES = ("online", "offline", "paper_out", "error", "tts_failed", "fetch_failed")


class Listeners:
    """Which halls have a board or announcer connected to this process (calls' audio is pre-rendered)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._halls: dict[str, str] = {}  # sid -> hall
        self._count: dict[str, int] = {}

    def add(self, sid: str, hall: str) -> None:
        with self._lock:
            if sid in self._halls:
                return
            self._halls[sid] = hall
            self._count[hall] = self._count.get(hall, 0) + 1

    def discard(self, sid: str) -> None:
        with self._lock:
            hall = self._halls.pop(sid, None)
            if hall is not None:
                self._count[hall] -= 1
                if not self._count[hall]:
                    del self._count[hall]

    def any(self, hall: str) -> bool:
        """True while at least one board or announcer of the hall is connected here."""
        return hall in self._count


class DeviceRegistry:
    """Live status of the hall's devices (print agents, announcers), reported over Socket.IO.

    Kept in memory: a device re-reports on reconnect, and a disconnect marks it offline.
    """

    def __init__(self, sio: SocketIO) -> None:
        self.sio = sio
        self._lock = threading.Lock()
        self._by_sid: dict[str, tuple[str, str]] = {}
        self.status: dict[str, dict[str, dict[str, Any]]] = {}

    def attach(self, sid: str, hall: str, name: str, role: str) -> None:
        with self._lock:
            self._by_sid[sid] = (hall, name)
        self.update(hall, name, role, "online", "")

    def update(self, hall: str, name: str, role: str, status: str, detail: str) -> None:
        """Record a device's status and tell the hall's supervisors."""
        entry = {"device": name, "role": role, "status": status, "detail": detail[:300], "at": time.time()}
        with self._lock:
            self.status.setdefault(hall, {})[name] = entry
        self.sio.emit(ev.DEVICE_STATUS, {**entry, "hall": hall}, to=ev.hall_room(hall))

    def detach(self, sid: str) -> None:
        with self._lock:
            who = self._by_sid.pop(sid, None)
            if who is None:
                return
            hall, name = who
            role = self.status.get(hall, {}).get(name, {}).get("role", "")
            still_here = any(v == who for v in self._by_sid.values())
        if not still_here:
            self.update(hall, name, role, "offline", "disconnected")

    def of_hall(self, hall: str) -> list[dict[str, Any]]:
        with self._lock:
            return sorted(self.status.get(hall, {}).values(), key=lambda d: d["device"])


@socketio.on(ev.REPORT_STATUS)
def on_report_status(data: Any) -> dict[str, Any]:
    """A print agent or announcer reports its state (online, offline, paper_out, tts_failed, ...)."""
    devices: DeviceRegistry = runtime().devices
    with devices._lock:
        who = devices._by_sid.get(request.sid)
    if who is None:
        return _fail("not_joined", "join as printer or announcer first")
    if not isinstance(data, dict) or data.get("status") not in DEVICE_STATUSES:
        return _fail("invalid_status", "report_status needs {status: " + "|".join(DEVICE_STATUSES) + ", detail?}")
    detail = data.get("detail") or ""
    if not isinstance(detail, str):
        return _fail("invalid_status", "detail is plain text")
    hall, name = who
    role = devices.status.get(hall, {}).get(name, {}).get("role", "")
    # plain text, printable, bounded: pages show it as text, never as markup
    clean = "".join(ch for ch in detail if ch.isprintable())[:200]
    devices.update(hall, name, role, data["status"], clean)
    return {"ok": True}


@socketio.on("disconnect")
def on_disconnect(*_args: Any) -> None:
    """A device that goes away is shown offline."""
    runtime().devices.detach(request.sid)
    runtime().listeners.discard(request.sid)
