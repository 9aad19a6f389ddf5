"""SMS: the gateway port, its backends (log, file, HTTP), segment counting, and when to send.

Messages are rows of sms_outbox, sent by a background worker: a slow or broken gateway never
delays a call or a ticket, a restart loses nothing, and a failed message is retried with backoff.
"""
from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import requests
from sqlalchemy import Engine, and_, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from hall_server import events as ev
from hall_server.application import HallApp, Outcome, calling
from hall_server.storage import db_unavailable, make_engine, read_tx, sms_outbox, write_tx

log = logging.getLogger(__name__)

# GSM 03.38 basic character set (plus the escape table counted as two septets).
_GSM_BASIC = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                 "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM_EXT = set("^{}\\[~]|€\f")


class SmsError(RuntimeError):
    """The gateway refused or could not be reached."""


def sms_segments(text: str) -> tuple[str, int]:
    """(encoding, segments): GSM-7 160/153 septets, else UCS-2 70/67 characters (Arabic)."""
    if all(ch in _GSM_BASIC or ch in _GSM_EXT for ch in text):
        septets = sum(2 if ch in _GSM_EXT else 1 for ch in text)
        return "gsm7", 1 if septets <= 160 else -(-septets // 153)
    units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)  # UTF-16 code units
    return "ucs2", 1 if units <= 70 else -(-units // 67)


class SmsGateway(Protocol):
    """Sends one message; raises SmsError when it fails."""

    def send(self, phone: str, text: str) -> None: ...


class LogGateway:
    """Writes messages to the log: for a hall with no gateway yet, and for development."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, phone: str, text: str) -> None:
        self.sent.append((phone, text))
        log.info("SMS to %s…%s (%s, %d segment(s)): %s", phone[:3], phone[-2:], *sms_segments(text), text)


class FileGateway:
    """Appends each message as a JSON line to a file (for audits and tests)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def send(self, phone: str, text: str) -> None:
        encoding, segments = sms_segments(text)
        line = json.dumps({"to": phone, "text": text, "encoding": encoding, "segments": segments,
                           "at": datetime.now(UTC).isoformat()}, ensure_ascii=False)
        try:
            with self._lock, open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
        except OSError as exc:  # the port's promise: a message not delivered is an SmsError
            raise SmsError(f"{self.path}: {exc}") from exc


class HttpGateway:
    """An HTTP SMS gateway: form POST of to, text, sender with basic auth; retries on failure."""

    def __init__(self, url: str, username: str = "", password: str = "", sender: str = "",
                 attempts: int = 3, backoff: float = 0.5, timeout: float = 10.0) -> None:
        self.url, self.sender, self.attempts, self.backoff, self.timeout = url, sender, attempts, backoff, timeout
        self.auth = (username, password) if username else None
        self.session = requests.Session()

    def send(self, phone: str, text: str) -> None:
        last = ""
        for attempt in range(self.attempts):
            try:
                r = self.session.post(self.url, data={"to": phone, "text": text, "sender": self.sender},
                                      auth=self.auth, timeout=self.timeout)
                if r.status_code < 300:
                    return
                last = f"HTTP {r.status_code}: {r.text[:200]}"
                if 400 <= r.status_code < 500 and r.status_code != 429:
                    break  # the gateway refuses this message: retrying will not help
            except requests.RequestException as exc:
                last = str(exc)
            time.sleep(self.backoff * (2 ** attempt))
        raise SmsError(f"SMS gateway failed after retries: {last}")


def make_gateway(cfg: Mapping[str, Any], data_dir: Path) -> SmsGateway | None:
    """The gateway a hall's [sms] table names (None for backend "none")."""
    backend = cfg.get("backend", "log")
    if backend == "none":
        return None
    if backend == "log":
        return LogGateway()
    if backend == "file":
        return FileGateway(Path(cfg.get("path") or data_dir / "sms.jsonl"))
    if backend == "http":
        if not cfg.get("url"):
            raise ValueError("[sms] backend = \"http\" needs url")
        return HttpGateway(cfg["url"], cfg.get("username", ""), cfg.get("password", ""), cfg.get("sender", ""),
                           int(cfg.get("attempts", 3)))
    raise ValueError(f"[sms] backend: unknown {backend!r}")


# ----- the durable outbox -------------------------------------------------------------------------
# A message is a row of sms_outbox. A worker claims due rows with a guarded UPDATE (status
# pending -> sending, with a lease), sends, then marks sent; a failure puts the row back to pending
# with an exponential backoff, and after `max_attempts` marks it failed. A sending row whose lease
# ran out (the process died mid-send) is claimed again: delivery is at-least-once for a crash
# exactly between the gateway's acceptance and the "sent" mark, exactly-once otherwise.

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def enqueue(c: Connection, hall: str, phone: str, text: str, kind: str, now: datetime) -> int:
    """Write one message in the caller's transaction (kept iff that transaction commits)."""
    return int(c.execute(insert(sms_outbox).returning(sms_outbox.c.id), {
        "hall": hall, "phone": phone, "text": text, "kind": kind, "status": PENDING, "attempts": 0,
        "next_attempt_at": now, "created_at": now}).scalar_one())


def _due(now: datetime) -> Any:
    return or_(and_(sms_outbox.c.status == PENDING, sms_outbox.c.next_attempt_at <= now),
               and_(sms_outbox.c.status == SENDING, sms_outbox.c.lease_until < now))


class SmsOutbox:
    """Sends the rows of sms_outbox through each hall's gateway, from a background worker.

    `gateways`: hall code -> gateway (None: the hall sends nothing, and gets no rows). `engine`: the
    database (None: a private in-memory one, for tests of the gateways). `spawn`/`sleep`: how the
    worker runs (socketio.start_background_task / sio.sleep: a greenlet under gevent); without
    `spawn` a daemon thread. `start=False` leaves the worker to the caller (run_once, tests).
    """

    def __init__(self, gateways: Mapping[str, SmsGateway | None], engine: Engine | None = None, *,
                 spawn: Callable[..., Any] | None = None, sleep: Callable[[float], Any] = time.sleep,
                 max_attempts: int = 5, backoff: float = 2.0, backoff_max: float = 600.0,
                 lease: float = 120.0, poll: float = 0.5, poll_max: float = 5.0, batch: int = 20,
                 start: bool = True,
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self.gateways = dict(gateways)
        if engine is None:  # a private database file (gateway tests): removed with the process's temp dir
            engine = make_engine("sqlite:///" + tempfile.mkstemp(prefix="sms-outbox-", suffix=".db")[1])
            sms_outbox.create(engine)
        self.engine = engine
        self.sleep, self.clock = sleep, clock
        self.max_attempts, self.backoff, self.backoff_max = max_attempts, backoff, backoff_max
        self.lease, self.poll, self.poll_max, self.batch = lease, poll, poll_max, batch
        self._wake = False
        self._stopped = False
        self._running = False  # the worker's loop is under way
        if start:
            (spawn or (lambda fn: threading.Thread(target=fn, name="sms-outbox", daemon=True).start()))(self._run)

    def sends(self, hall: str) -> bool:
        """Whether the hall has a gateway (only such halls get rows)."""
        return self.gateways.get(hall) is not None

    def add(self, c: Connection, hall: str, phone: str, text: str, kind: str, now: datetime | None = None) -> None:
        """Queue a message in the caller's transaction (nothing for a hall without a gateway)."""
        if self.sends(hall):
            enqueue(c, hall, phone, text, kind, now or self.clock())
            self._wake = True

    def put(self, hall: str, phone: str, text: str, kind: str) -> None:
        """Queue a message in a transaction of its own."""
        if self.sends(hall):
            with write_tx(self.engine) as c:
                self.add(c, hall, phone, text, kind)

    # ----- the worker ---------------------------------------------------------------------------
    def _due_ids(self, now: datetime) -> list[int]:
        with read_tx(self.engine) as c:
            # only the halls this process can send for (another process may serve other halls)
            mine = [hall for hall, gw in self.gateways.items() if gw is not None]
            return list(c.execute(select(sms_outbox.c.id).where(_due(now), sms_outbox.c.hall.in_(mine))
                                  .order_by(sms_outbox.c.id).limit(self.batch)).scalars().all())

    def claim_row(self, row_id: int, now: datetime) -> Any:
        """Claim one due row (guarded UPDATE: pending and due, or sending with its lease run out):
        the row, or None when another process got it first or it is not due."""
        with write_tx(self.engine) as c:
            return c.execute(update(sms_outbox).where(sms_outbox.c.id == row_id, _due(now)).values(
                status=SENDING, lease_until=now + timedelta(seconds=self.lease),
                attempts=sms_outbox.c.attempts + 1).returning(*sms_outbox.c)).first()

    def claim(self, now: datetime) -> list[Any]:
        """Claim every due row (up to `batch`) at once; each is claimed by exactly one claimer."""
        return [r for i in self._due_ids(now) if (r := self.claim_row(i, now)) is not None]

    def _finish(self, row: Any, **values: Any) -> None:
        # guarded by our lease: a row re-claimed by another process after our lease ran out is theirs
        with write_tx(self.engine) as c:
            c.execute(update(sms_outbox).where(sms_outbox.c.id == row.id, sms_outbox.c.status == SENDING,
                                               sms_outbox.c.lease_until == row.lease_until).values(**values))

    def backoff_for(self, attempts: int) -> float:
        """Seconds before the next try after `attempts` failed tries: backoff * 2^(attempts-1), capped."""
        return min(self.backoff * (2 ** (attempts - 1)), self.backoff_max)

    def send_row(self, row: Any) -> bool:
        """Send one claimed row and record the result; True if sent."""
        gateway = self.gateways.get(row.hall)
        try:
            if gateway is None:
                raise SmsError(f"hall {row.hall!r} has no SMS gateway")
            gateway.send(row.phone, row.text)
        except Exception as exc:  # noqa: BLE001 - one bad message must not stop the outbox
            now = self.clock()
            if row.attempts >= self.max_attempts:
                log.error("SMS %d (%s) to %s…%s failed after %d attempts: %s", row.id, row.kind, row.phone[:3],
                          row.phone[-2:], row.attempts, exc)
                self._finish(row, status=FAILED, lease_until=None, last_error=str(exc)[:500])
            else:
                log.warning("SMS %d (%s) attempt %d failed, retrying: %s", row.id, row.kind, row.attempts, exc)
                self._finish(row, status=PENDING, lease_until=None, last_error=str(exc)[:500],
                             next_attempt_at=now + timedelta(seconds=self.backoff_for(row.attempts)))
            return False
        self._finish(row, status=SENT, lease_until=None, sent_at=self.clock())
        return True

    def run_once(self, now: datetime | None = None) -> int:
        """Claim and send what is due; returns how many rows were tried."""
        # one row claimed just before it is sent: its lease covers one send, not a batch's, and a
        # message never waits behind leases held by a sender that died
        tried = 0
        for row_id in self._due_ids(now or self.clock()):
            row = self.claim_row(row_id, now or self.clock())
            if row is not None:
                self.send_row(row)
                tried += 1
        return tried

    def _run(self) -> None:
        # Idle, the worker polls the table (rows of other processes, retries coming due) every `poll`
        # seconds, doubling up to `poll_max` while nothing happens; a row added by this process
        # wakes it at once.
        idle = self.poll
        self._running = True
        try:
            self._loop(idle)
        finally:
            self._running = False

    def _loop(self, idle: float) -> None:
        while not self._stopped:
            try:
                tried = self.run_once()
            except Exception as exc:  # a database hiccup must not end the worker
                if db_unavailable(exc):
                    log.warning("SMS outbox worker: the database is out of reach (%s); retrying", exc)
                else:
                    log.exception("SMS outbox worker")
                tried = 0
            if tried:
                idle = self.poll
                continue
            self._wake = False
            waited = 0.0
            while not self._wake and waited < idle and not self._stopped:
                self.sleep(0.1)
                waited += 0.1
            idle = self.poll if self._wake else min(idle * 2, self.poll_max)

    def stop(self, wait: float = 0.0) -> None:
        """Stop the worker; `wait`: up to so many seconds for a send or poll under way to finish."""
        self._stopped = True
        deadline = time.monotonic() + wait
        while self._running and time.monotonic() < deadline:
            time.sleep(0.02)

    # ----- for tests and operators ------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        with read_tx(self.engine) as c:
            return {status: int(n) for status, n in c.execute(
                select(sms_outbox.c.status, func.count()).group_by(sms_outbox.c.status)).all()}

    @property
    def failed(self) -> list[Any]:
        with read_tx(self.engine) as c:
            return list(c.execute(select(sms_outbox).where(sms_outbox.c.status == FAILED)).all())

    def join(self, timeout: float = 60.0) -> None:
        """Wait until nothing is pending or being sent (tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            counts = self.counts()
            if not counts.get(PENDING) and not counts.get(SENDING):
                return
            self._wake = True
            time.sleep(0.02)
        raise TimeoutError(f"SMS outbox not drained: {self.counts()}")


class SmsNotifier:
    """Decides what to send on call, near one's turn, and on file changes; writes outbox rows.

    A call's or a file's message is written in the change's own transaction (`in_transaction`, run
    before its commit); the near-turn messages in the transaction that marks the tickets told.
    """

    def __init__(self, app: HallApp, outbox: SmsOutbox) -> None:
        self.app, self.outbox = app, outbox

    def _template(self, hall: str, name: str) -> str | None:
        return self.app.hall(hall).sms.get("templates", {}).get(name)

    def _text(self, hall: str, name: str, **values: Any) -> str | None:
        tpl = self._template(hall, name)
        return tpl.format(hall=self.app.hall(hall).name_ar, **values) if tpl else None

    def _add(self, c: Connection | None, hall: str, phone: str, name: str, **values: Any) -> None:
        if not self.outbox.sends(hall):
            return
        text = self._text(hall, name, **values)
        if text:
            if c is None:
                self.outbox.put(hall, phone, text, name)
            else:
                self.outbox.add(c, hall, phone, text, name, self.app.core.clock())

    def _messages(self, c: Connection | None, outcome: Outcome) -> None:
        for i, (job, payload) in enumerate(outcome.after):
            if job == "sms_called":
                self._add(c, payload["hall"], payload["phone"], "called", number=payload["number"],
                          window=payload["window"])
            elif job == "sms_file":
                self._add(c, payload["hall"], payload["phone"], payload["status"], file=payload["file"],
                          reason=payload.get("reason", ""))
            else:
                continue
            outcome.after[i] = (job + "_queued", payload)  # written: not again after the commit

    def in_transaction(self, c: Connection, outcome: Outcome) -> None:
        """Before the change commits: its messages (a call's, a file's), in its transaction."""
        self._messages(c, outcome)

    def __call__(self, outcome: Outcome) -> None:
        self._messages(None, outcome)  # a change made outside a unit of work: its own transaction
        # the near-turn scan is a write: only for a hall that has a gateway to send through
        if outcome.hall and self.outbox.sends(outcome.hall) \
                and any(e.event == ev.TICKET_CALLED for e in outcome.emits):
            hall = outcome.hall
            ahead_max = int(self.app.hall(hall).sms.get("near_ahead", 3))
            calling.take_near_turn(self.app.core, hall, ahead_max, on_near=lambda c, t: self._add(
                c, hall, t["phone"], "near", number=t["number"], ahead=t["ahead"]))
