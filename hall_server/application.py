"""The application layer: one function per command, each a short database transaction.

Every change of a ticket writes an event row and takes the hall's next real-time sequence number
in the same transaction; pushes, printing and sound run after the commit (see `Notifier`) and can
never undo or block it.
"""
from __future__ import annotations

import logging
import secrets
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Sequence

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from config import HallDef, Settings
from hall_server import audit
from hall_server import events as ev
from hall_server.domain import estimate, numbering, policy, staffing
from hall_server.domain.errors import DomainError, InvalidInput, InvalidTransition, ReasonRequired
from hall_server.domain.tickets import ACTIVE, OUTCOMES, Status, recall_outcome, transition
from hall_server.storage import (
    counters, halls, is_postgres, read_tx, ticket_events, tickets, users, windows, write_tx,
)

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
RECENT_SAMPLES = 10
DURATIONS_TTL = 15.0  # seconds (of the app's clock) a hall's recent service times are reused
HISTORY_DAYS = 28  # past days whose service times are the prior of the estimates


def utc_now() -> datetime:
    """The real clock; tests pass their own."""
    return datetime.now(timezone.utc)


class NotFound(DomainError):
    """The hall, window, ticket or service named does not exist."""

    code = "not_found"
    status = 404


class Forbidden(DomainError):
    """The caller may not act on this window or hall."""

    code = "forbidden"
    status = 403


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff user or a device, as recorded in event rows."""

    kind: str  # user | device | citizen | system
    name: str
    role: str
    user_id: int | None = None
    hall: str | None = None
    windows: tuple[int, ...] | None = None
    departments: tuple[str, ...] | None = None

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}"


SYSTEM = Actor("system", "system", "admin")
CITIZEN = Actor("citizen", "citizen", "citizen")


@dataclass
class Outcome:
    """What a command did: its result and the pushes to send once committed."""

    result: Any = None
    emits: list[ev.Emit] = field(default_factory=list)
    hall: str | None = None
    seq: int | None = None
    touched_services: bool = True
    after: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # side jobs: print, sms


class Notifier:
    """Runs after-commit handlers; a failing handler is logged, never raised (cosmicpython's bus)."""

    def __init__(self) -> None:
        self.handlers: list[Callable[[Outcome], None]] = []

    def subscribe(self, handler: Callable[[Outcome], None]) -> None:
        self.handlers.append(handler)

    def publish(self, outcome: Outcome) -> None:
        for handler in self.handlers:
            try:
                handler(outcome)
            except Exception:  # noqa: BLE001 - a push or printer failure must not fail the command
                log.exception("after-commit handler %r failed", handler)


@dataclass
class _RecentTimes:
    """A hall's recent inputs of the wait estimates (see HallApp._recent_times)."""

    durations: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    occupation: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    arrivals: dict[tuple[str, bool], float] = field(default_factory=dict)
    last_calls: dict[int, tuple[float, float]] = field(default_factory=dict)
    paused_today: set[int] = field(default_factory=set)


@dataclass
class _History:
    """A hall's past days as the wait estimates use them (see HallApp._history_times)."""

    times: dict[str, tuple[float, int]] = field(default_factory=dict)  # service -> (mean s, count)
    breaks: estimate.BreakPattern = field(default_factory=estimate.BreakPattern)


class HallApp:
    """The hall's use cases over one database; shared by REST, Socket.IO, CLI and simulator."""

    def __init__(self, settings: Settings, engine: Engine, clock: Clock = utc_now,
                 notifier: Notifier | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.notifier = notifier or Notifier()
        self._pg = is_postgres(engine)
        # wait-estimate inputs: recent times by the app's clock (simulated time works), history per day
        self._durations: dict[str, tuple[datetime, datetime, _RecentTimes]] = {}
        self._history: dict[str, tuple[date, _History]] = {}
        self._durations_lock = threading.Lock()
        self._snapshot_slot = threading.local()  # one snapshot per transaction
        self.estimator = estimate.DEFAULT_ESTIMATOR  # a name in estimate.ESTIMATORS

    # ----- setup -------------------------------------------------------------------------
    def ensure_halls(self) -> None:
        """Create hall and window rows for every configured hall that lacks them."""
        with write_tx(self.engine) as c:
            for hall in self.settings.halls:
                if c.execute(select(halls.c.code).where(halls.c.code == hall.code)).first() is None:
                    c.execute(insert(halls).values(code=hall.code, seq=0))
                have = {r.number for r in c.execute(
                    select(windows.c.number).where(windows.c.hall == hall.code))}
                for w in hall.windows:
                    if w.number not in have:
                        c.execute(insert(windows).values(
                            hall=hall.code, number=w.number, state="closed",
                            services=list(w.services), priority_streak=0))

    def hall(self, code: str) -> HallDef:
        """The configured hall, or NotFound."""
        try:
            return self.settings.hall(code)
        except KeyError:
            raise NotFound(f"no hall with code {code!r}") from None

    def _service(self, code: str):
        try:
            return self.settings.catalog.service(code)
        except KeyError:
            raise NotFound(f"no service with code {code!r}", "unknown_service") from None

    # ----- helpers inside a transaction -----------------------------------------------------
    def _next_seq(self, c: Connection, hall: str) -> int:
        """Take the hall's next real-time sequence number (last lock taken: no deadlock cycle)."""
        return c.execute(update(halls).where(halls.c.code == hall)
                         .values(seq=halls.c.seq + 1).returning(halls.c.seq)).scalar_one()

    def _event(self, c: Connection, hall: str, kind: str, now: datetime, *, ticket_id: int | None,
               service: str | None = None, window: int | None = None, actor: Actor = SYSTEM,
               seq: int | None = None, data: dict[str, Any] | None = None) -> int:
        event_id = c.execute(insert(ticket_events).values(
            hall=hall, ticket_id=ticket_id, kind=kind, at=now, service=service, window=window,
            actor=actor.label, seq=seq, data=data).returning(ticket_events.c.id)).scalar_one()
        number = c.execute(select(tickets.c.number).where(tickets.c.id == ticket_id)).scalar() if ticket_id else None
        audit.append(c, hall, now, actor.label, kind, ticket=number, pg=self._pg,
                     data={"event": event_id, "service": service, "window": window, **(data or {})})
        return event_id

    def _allocate(self, c: Connection, hall: str, prefix: str, day) -> int:
        """The next number for (hall, prefix, day), atomically, in the caller's transaction."""
        dialect = postgresql if self._pg else sqlite
        stmt = dialect.insert(counters).values(hall=hall, prefix=prefix, day=day, last=1)
        stmt = stmt.on_conflict_do_update(
            index_elements=[counters.c.hall, counters.c.prefix, counters.c.day],
            set_={"last": counters.c.last + 1}).returning(counters.c.last)
        return c.execute(stmt).scalar_one()

    def _window_row(self, c: Connection, hall: str, number: int, lock: bool = True):
        stmt = select(windows).where(windows.c.hall == hall, windows.c.number == number)
        if lock and self._pg:
            stmt = stmt.with_for_update()
        row = c.execute(stmt).first()
        if row is None:
            raise NotFound(f"hall {hall!r} has no window {number}")
        return row

    def _active_at(self, c: Connection, hall: str, number: int):
        return c.execute(select(tickets).where(
            tickets.c.hall == hall, tickets.c.window == number,
            tickets.c.status.in_([s.value for s in ACTIVE]))).first()

    def _check_clerk(self, win, actor: Actor) -> None:
        if actor.role in ("supervisor", "admin") or actor.kind == "system":
            return
        if win.state == "closed" or win.clerk_id != actor.user_id:
            raise Forbidden(f"sign in to window {win.number} first", "not_signed_in")

    def _ticket_update(self, c: Connection, ticket_id: int, expect: str, **values: Any) -> None:
        done = c.execute(update(tickets).where(tickets.c.id == ticket_id, tickets.c.status == expect)
                         .values(**values)).rowcount
        if done != 1:  # someone changed it first; the transaction rolls back
            raise InvalidTransition("the ticket changed meanwhile; try again", "conflict")

    # ----- issuing --------------------------------------------------------------------------
    def issue_ticket(self, hall_code: str, service_code: str, *, priority: str | None = None,
                     request_file: str | None = None, phone: str | None = None,
                     idempotency_key: str | None = None, actor: Actor = SYSTEM) -> tuple[dict, bool]:
        """Issue a ticket; returns (ticket, created). A repeated Idempotency-Key returns the first."""
        hall = self.hall(hall_code)
        service = self._service(service_code)
        if priority is not None and priority not in hall.queue.priority_classes + ("appointment",):
            raise InvalidInput(f"priority must be one of {', '.join(hall.queue.priority_classes)}",
                               "invalid_priority")
        if phone is not None and not (phone.isdigit() and 8 <= len(phone) <= 15):
            raise InvalidInput("phone must be 8 to 15 digits", "invalid_phone")
        if idempotency_key is not None and not (1 <= len(idempotency_key) <= 80):
            raise InvalidInput("Idempotency-Key must be 1 to 80 characters", "invalid_idempotency_key")
        for attempt in range(3):
            try:
                return self._issue(hall, service, priority, request_file, phone, idempotency_key, actor)
            except IntegrityError:
                # Only a concurrent twin with the same Idempotency-Key ends here; it has committed.
                if idempotency_key is None or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _issue(self, hall: HallDef, service, priority, request_file, phone, key, actor):
        now = self.clock()
        if key is not None:
            with read_tx(self.engine) as c:
                row = c.execute(select(tickets).where(tickets.c.hall == hall.code,
                                                      tickets.c.idempotency_key == key)).first()
                if row is not None:
                    if row.service != service.code:
                        raise InvalidInput("this Idempotency-Key was used for another service",
                                           "idempotency_mismatch")
                    return self._public(c, hall, row), False
        # The estimate reads the whole queue: done before the write lock so issuing stays short
        # under a rush. It is an estimate; a change committed in between does not make it wrong.
        with read_tx(self.engine) as c:
            eta = self._eta(c, hall, service.code, priority=priority)
        out = Outcome(hall=hall.code)
        with write_tx(self.engine) as c:
            if key is not None:  # re-check under the write lock (SQLite) / unique index (PostgreSQL)
                row = c.execute(select(tickets).where(tickets.c.hall == hall.code,
                                                      tickets.c.idempotency_key == key)).first()
                if row is not None:
                    return self._public(c, hall, row), False
            day = numbering.local_day(now, hall.tz)
            seqno = self._allocate(c, hall.code, service.prefix, day)
            ahead = self._people_ahead(c, hall.code, service.code, priority, now, None)
            tid = c.execute(insert(tickets).values(
                hall=hall.code, prefix=service.prefix, day=day, seq=seqno,
                number=numbering.format_number(service.prefix, seqno), service=service.code,
                priority=priority, status=Status.WAITING.value, token=secrets.token_urlsafe(18),
                issued_at=now, queued_at=now, recall_count=0, phone=phone, request_file=request_file,
                eta_at_issue=eta, people_ahead_at_issue=ahead, device=actor.name,
                idempotency_key=key).returning(tickets.c.id)).scalar_one()
            seq = self._next_seq(c, hall.code)
            self._event(c, hall.code, "issued", now, ticket_id=tid, service=service.code, actor=actor,
                        seq=seq, data={"priority": priority, "eta": eta, "ahead": ahead})
            row = c.execute(select(tickets).where(tickets.c.id == tid)).one()
            ticket = self._public(c, hall, row, ahead=ahead, eta=eta)
        out.seq, out.result = seq, ticket
        out.emits.append(ev.Emit(ev.TICKET_ISSUED, {"number": ticket["number"], "service": service.code},
                                 ev.hall_room(hall.code)))
        self.notifier.publish(out)
        return ticket, True

    # ----- positions and estimates ---------------------------------------------------------
    def _people_ahead(self, c: Connection, hall: str, service: str, priority: str | None,
                      queued_at: datetime, ticket_id: int | None) -> int:
        """Waiting tickets of the same service that the policy would call before this one."""
        if ticket_id is None:  # a ticket being issued now comes after everything already queued
            earlier = tickets.c.queued_at <= queued_at
        else:
            earlier = or_(tickets.c.queued_at < queued_at,
                          and_(tickets.c.queued_at == queued_at, tickets.c.id < ticket_id))
        if priority is None:
            before = or_(tickets.c.priority.is_not(None), earlier)
        else:
            before = and_(tickets.c.priority.is_not(None), earlier)
        q = select(func.count()).select_from(tickets).where(
            tickets.c.hall == hall, tickets.c.status == Status.WAITING.value,
            tickets.c.service == service, tickets.c.target_window.is_(None), before)
        if ticket_id is not None:
            q = q.where(tickets.c.id != ticket_id)
        return c.execute(q).scalar_one()

    def _prefixes(self) -> list[str]:
        # Naming every prefix lets the (hall, prefix, day) unique index serve "today's tickets".
        return sorted({s.prefix for s in self.settings.catalog.services})

    def _recent_times(self, c: Connection, hall: str) -> _RecentTimes:
        """Today's service times, arrival rates and last calls, cached by the app's clock.

        The app's clock, not time.monotonic: in a simulated day time jumps, and a cache that
        lives 15 real seconds would serve a whole morning's stale figures.
        """
        now = self.clock()
        with self._durations_lock:
            hit = self._durations.get(hall)
            if hit is not None and hit[0] <= now < hit[1]:
                return hit[2]
        tz = self.hall(hall).tz
        since = now - timedelta(hours=12)
        q = (select(tickets.c.service, tickets.c.status, tickets.c.called_at, tickets.c.started_at,
                    tickets.c.finished_at)
             .where(tickets.c.hall == hall, tickets.c.prefix.in_(self._prefixes()),
                    tickets.c.day >= numbering.local_day(since, tz), tickets.c.finished_at >= since)
             .order_by(tickets.c.finished_at.desc()).limit(600))
        out = _RecentTimes()
        for r in c.execute(q):
            if r.status == Status.DONE.value:
                begin = r.started_at or r.called_at
                if begin and len(out.durations[r.service]) < RECENT_SAMPLES:
                    out.durations[r.service].append((r.finished_at - begin).total_seconds())
            if r.status in (Status.DONE.value, Status.NO_SHOW.value) and r.called_at is not None \
                    and len(out.occupation[r.service]) < RECENT_SAMPLES:
                # the window is busy from the call (walking up, no-shows' recalls) to the finish
                out.occupation[r.service].append((r.finished_at - r.called_at).total_seconds())
        rate_since = now - timedelta(seconds=estimate.RATE_WINDOW_S)
        les_since = now - timedelta(seconds=estimate.LES_MAX_AGE_S)
        q = (select(tickets.c.service, tickets.c.priority, tickets.c.issued_at, tickets.c.queued_at,
                    tickets.c.called_at, tickets.c.window)
             .where(tickets.c.hall == hall, tickets.c.prefix.in_(self._prefixes()),
                    tickets.c.day >= numbering.local_day(min(rate_since, les_since), tz),
                    or_(tickets.c.issued_at >= rate_since, tickets.c.called_at >= les_since)))
        counts: dict[tuple[str, bool], int] = defaultdict(int)
        first = now
        last: dict[int, tuple[datetime, float]] = {}
        for r in c.execute(q):
            if r.issued_at >= rate_since:
                counts[(r.service, r.priority is not None)] += 1
                first = min(first, r.issued_at)
            if r.called_at is not None and r.called_at >= les_since and r.window is not None:
                if r.window not in last or last[r.window][0] < r.called_at:
                    last[r.window] = (r.called_at, (r.called_at - r.queued_at).total_seconds())
        # a hall that opened ten minutes ago has ten minutes of arrivals, not an hour's
        span_h = max((now - first).total_seconds(), 900.0) / 3600.0
        out.arrivals = {k: n / span_h for k, n in counts.items()}
        out.last_calls = {w: ((now - at).total_seconds(), wait) for w, (at, wait) in last.items()}
        midnight = datetime.combine(numbering.local_day(now, tz), datetime.min.time(), tzinfo=tz)
        out.paused_today = {r.window for r in c.execute(select(ticket_events.c.window).where(
            ticket_events.c.hall == hall, ticket_events.c.at >= midnight,
            ticket_events.c.kind == "window_pause"))}
        with self._durations_lock:
            self._durations[hall] = (now, now + timedelta(seconds=DURATIONS_TTL), out)
        return out

    def _history_times(self, c: Connection, hall: HallDef) -> _History:
        """Past days' window time per service and the windows' break habits; read once a day."""
        today = numbering.local_day(self.clock(), hall.tz)
        with self._durations_lock:
            hit = self._history.get(hall.code)
            if hit is not None and hit[0] == today:
                return hit[1]
        first_day = today - timedelta(days=HISTORY_DAYS)
        q = (select(tickets.c.service, tickets.c.called_at, tickets.c.finished_at)
             .where(tickets.c.hall == hall.code, tickets.c.prefix.in_(self._prefixes()),
                    tickets.c.day >= first_day, tickets.c.day < today,
                    tickets.c.status.in_((Status.DONE.value, Status.NO_SHOW.value)),
                    tickets.c.called_at.is_not(None)))
        sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
        for r in c.execute(q):
            s = sums[r.service]
            s[0] += (r.finished_at - r.called_at).total_seconds()
            s[1] += 1
        out = _History(times={svc: (total / n, int(n)) for svc, (total, n) in sums.items() if n})
        # breaks: each window-day's first pause (time of day) and every pause's length
        worked: set[tuple[Any, int]] = set()
        first: dict[tuple[Any, int], float] = {}
        paused_at: dict[int, datetime] = {}
        lengths: list[float] = []
        for r in c.execute(select(ticket_events.c.kind, ticket_events.c.at, ticket_events.c.window).where(
                ticket_events.c.hall == hall.code,
                ticket_events.c.at >= datetime.combine(first_day, datetime.min.time(), tzinfo=hall.tz),
                ticket_events.c.at < datetime.combine(today, datetime.min.time(), tzinfo=hall.tz),
                ticket_events.c.kind.in_(("window_sign_in", "window_pause", "window_resume")))
                .order_by(ticket_events.c.at, ticket_events.c.id)):
            local = r.at.astimezone(hall.tz)
            key = (local.date(), r.window)
            if r.kind == "window_sign_in":
                worked.add(key)
            elif r.kind == "window_pause":
                first.setdefault(key, local.hour * 3600 + local.minute * 60 + local.second)
                paused_at[r.window] = r.at
            elif r.window in paused_at:
                lengths.append((r.at - paused_at.pop(r.window)).total_seconds())
        if first:
            out.breaks = estimate.BreakPattern(
                tuple(sorted(first.values())), max(len(worked), len(first)),
                sum(lengths) / len(lengths) if lengths else estimate.TYPICAL_BREAK_S)
        with self._durations_lock:
            self._history[hall.code] = (today, out)
        return out

    def _wait_snapshot(self, c: Connection, hall: HallDef) -> estimate.HallSnapshot:
        """What the estimators need, read once per transaction (queue_state asks for 60+ services)."""
        txn = c.get_transaction()
        slot = getattr(self._snapshot_slot, "value", None)
        if txn is not None and slot is not None and slot[0] is txn and slot[1] == hall.code:
            return slot[2]
        now = self.clock()
        recent = self._recent_times(c, hall.code)
        history = self._history_times(c, hall)
        rows = c.execute(select(tickets.c.id, tickets.c.service, tickets.c.queued_at, tickets.c.priority,
                                tickets.c.target_window, tickets.c.status, tickets.c.window,
                                tickets.c.called_at).where(
            tickets.c.hall == hall.code,
            tickets.c.status.in_((Status.WAITING.value, Status.CALLED.value, Status.SERVING.value)))).all()
        busy = {r.window: r for r in rows if r.status != Status.WAITING.value}
        wins = []
        for w in c.execute(select(windows.c.number, windows.c.state, windows.c.services,
                                  windows.c.priority_streak, windows.c.changed_at)
                           .where(windows.c.hall == hall.code).order_by(windows.c.number)):
            cur = busy.get(w.number)
            wins.append(estimate.WindowNow(
                number=w.number, state=w.state, services=tuple(w.services),
                priority_streak=w.priority_streak or 0,
                busy_s=(now - cur.called_at).total_seconds() if cur is not None and cur.called_at else None,
                busy_service=cur.service if cur is not None else None,
                paused_s=(now - w.changed_at).total_seconds() if w.state == "paused" and w.changed_at else None,
                paused_today=w.number in recent.paused_today))
        catalog = self.settings.catalog
        minutes, v1_minutes = {}, {}
        for s in catalog.services:
            mean_s, n = history.times.get(s.code, (None, 0))
            minutes[s.code] = estimate.typical_minutes(recent.occupation.get(s.code, ()), mean_s, n,
                                                       s.expected_minutes)
            v1_minutes[s.code] = estimate.service_minutes(recent.durations.get(s.code, []), s.expected_minutes)
        all_recent = [d for ds in recent.durations.values() for d in ds]
        hall_minutes = estimate.service_minutes(
            all_recent, sum(s.expected_minutes for s in catalog.services) / len(catalog.services))
        snap = estimate.HallSnapshot(
            at=now, windows=tuple(wins),
            waiting=tuple(policy.Candidate(r.id, r.service, r.queued_at, r.priority, r.target_window)
                          for r in rows if r.status == Status.WAITING.value),
            minutes=minutes, v1_minutes=v1_minutes, hall_minutes=hall_minutes,
            arrivals=recent.arrivals, last_calls=recent.last_calls,
            strategy=hall.queue.strategy, priority_ratio=hall.queue.priority_ratio,
            breaks=history.breaks, day_s=(now.astimezone(hall.tz) - datetime.combine(
                numbering.local_day(now, hall.tz), datetime.min.time(), tzinfo=hall.tz)).total_seconds())
        if txn is not None:
            self._snapshot_slot.value = (txn, hall.code, snap)
        return snap

    def _open_windows_for(self, c: Connection, hall: str) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for r in c.execute(select(windows.c.services).where(windows.c.hall == hall,
                                                            windows.c.state == "open")):
            for code in r.services:
                counts[code] += 1
        return counts

    def _eta(self, c: Connection, hall: HallDef, service: str, *, priority: str | None = None,
             row: Any = None) -> int | None:
        """Seconds until a call: for a new ticket of `service`, or for the waiting ticket `row`.

        The estimators read one snapshot of the hall per transaction (see _wait_snapshot).
        """
        snap = self._wait_snapshot(c, hall)
        ticket = None if row is None else policy.Candidate(row.id, row.service, row.queued_at,
                                                           row.priority, row.target_window)
        return estimate.ESTIMATORS[self.estimator](snap, service, priority, ticket)

    # ----- public views --------------------------------------------------------------------
    def _public(self, c: Connection, hall: HallDef, row, ahead: int | None = None,
                eta: int | None = None) -> dict[str, Any]:
        """A ticket as the citizen and the kiosk may see it: no personal data."""
        service = self.settings.catalog.service(row.service)
        if row.status == Status.WAITING.value:
            if ahead is None:
                ahead = self._people_ahead(c, hall.code, row.service, row.priority, row.queued_at, row.id)
            if eta is None:
                eta = self._eta(c, hall, row.service, priority=row.priority, row=row)
        else:
            ahead, eta = (0, 0) if row.status in (Status.CALLED.value, Status.SERVING.value) else (None, None)
        return {
            "id": row.id, "hall": row.hall, "number": row.number, "service": row.service,
            "service_name": {"ar": service.name_ar, "en": service.name_en},
            "status": row.status, "priority": row.priority, "token": row.token,
            "track_url": f"{self.settings.public_url}/t/{row.token}",
            "position": ahead, "eta_seconds": eta,
            "issued_at": row.issued_at.isoformat(), "window": row.window if row.status in (
                Status.CALLED.value, Status.SERVING.value) else None,
            "recall_count": row.recall_count, "request_file": row.request_file,
            "called_at": row.called_at.isoformat() if row.called_at else None,
        }

    def ticket_by_token(self, token: str) -> dict[str, Any]:
        """The public view of one ticket for the phone page."""
        with read_tx(self.engine) as c:
            row = c.execute(select(tickets).where(tickets.c.token == token)).first()
            if row is None:
                raise NotFound("no such ticket")
            return self._public(c, self.hall(row.hall), row)

    def staff_ticket(self, row) -> dict[str, Any]:
        """A ticket as counter staff see it (issue and wait times, never the phone number)."""
        now = self.clock()
        return {
            "id": row.id, "number": row.number, "service": row.service, "status": row.status,
            "priority": row.priority, "issued_at": row.issued_at.isoformat(),
            "queued_at": row.queued_at.isoformat(),
            "called_at": row.called_at.isoformat() if row.called_at else None,
            "started_at": row.started_at.isoformat() if row.started_at else None,
            "window": row.window, "target_window": row.target_window,
            "recall_count": row.recall_count, "request_file": row.request_file,
            "wait_seconds": int(((row.called_at or now) - row.queued_at).total_seconds()),
            "token": row.token,
        }

    def services_overview(self, hall_code: str) -> list[dict[str, Any]]:
        """The catalog with live waiting counts, open windows and the estimate for a new ticket."""
        hall = self.hall(hall_code)
        with read_tx(self.engine) as c:
            waiting = self._waiting_counts(c, hall.code)
            open_counts = self._open_windows_for(c, hall.code)
            out = []
            for s in self.settings.catalog.services:
                n = waiting.get(s.code, 0)
                out.append({
                    "code": s.code, "sector": s.sector, "prefix": s.prefix, "kind": s.kind,
                    "name": {"ar": s.name_ar, "en": s.name_en},
                    "documents": {"ar": list(s.documents_ar), "en": list(s.documents_en)},
                    "fee": s.fee, "expected_minutes": s.expected_minutes,
                    "deadline_days": s.deadline_days, "waiting": n,
                    "open_windows": open_counts.get(s.code, 0),
                    "open": open_counts.get(s.code, 0) > 0,
                    "eta_seconds": self._eta(c, hall, s.code),
                })
        return out

    def _waiting_counts(self, c: Connection, hall: str) -> dict[str, int]:
        return {r[0]: r[1] for r in c.execute(
            select(tickets.c.service, func.count()).where(
                tickets.c.hall == hall, tickets.c.status == Status.WAITING.value)
            .group_by(tickets.c.service))}

    def queue_state(self, hall_code: str) -> dict[str, Any]:
        """Waiting counts and the estimate for a new ticket, per service (the queue_changed body)."""
        hall = self.hall(hall_code)
        with read_tx(self.engine) as c:
            seq = c.execute(select(halls.c.seq).where(halls.c.code == hall.code)).scalar_one()
            waiting = self._waiting_counts(c, hall.code)
            open_counts = self._open_windows_for(c, hall.code)
            eta = {s.code: self._eta(c, hall, s.code) for s in self.settings.catalog.services}
        return {"hall": hall.code, "seq": seq, "waiting": waiting, "eta": eta,
                "open": {k: v for k, v in open_counts.items() if v}}

    def board(self, hall_code: str, last_calls: int = 12) -> dict[str, Any]:
        """What a display board shows now; its seq lets the board resume the event stream."""
        hall = self.hall(hall_code)
        with read_tx(self.engine) as c:
            h = c.execute(select(halls).where(halls.c.code == hall.code)).one()
            calls = c.execute(
                select(ticket_events.c.id, ticket_events.c.at, ticket_events.c.window,
                       ticket_events.c.service, ticket_events.c.kind, ticket_events.c.seq,
                       tickets.c.number)
                .join(tickets, tickets.c.id == ticket_events.c.ticket_id)
                .where(ticket_events.c.hall == hall.code,
                       ticket_events.c.kind.in_(("called", "recalled")),
                       ticket_events.c.at >= self.clock() - timedelta(hours=12))
                .order_by(ticket_events.c.id.desc()).limit(last_calls)).all()
            active = {r.window: r for r in c.execute(select(tickets).where(
                tickets.c.hall == hall.code, tickets.c.status.in_([s.value for s in ACTIVE])))}
            wins = c.execute(select(windows).where(windows.c.hall == hall.code)
                             .order_by(windows.c.number)).all()
            waiting = self._waiting_counts(c, hall.code)
        return {
            "hall": {"code": hall.code, "name": {"ar": hall.name_ar, "en": hall.name_en},
                     "timezone": hall.timezone},
            "seq": h.seq,
            "calls": [ev.call_payload(hall.code, r.id, r.number, r.window, r.service,
                                      r.kind == "recalled", r.at) for r in calls],
            "windows": [{"number": w.number, "state": w.state, "services": list(w.services),
                         "current": active[w.number].number if w.number in active else None,
                         "status": active[w.number].status if w.number in active else None}
                        for w in wins],
            "waiting": waiting,
            "message": h.board_message,
            "news": {"ar": hall.board.get("news_ar", ""), "en": hall.board.get("news_en", "")},
            "digits": hall.board.get("digits", "eastern"),
        }

    # ----- windows ---------------------------------------------------------------------------
    def window_view(self, hall_code: str, number: int) -> dict[str, Any]:
        """A window's state, its current ticket and the waiting list of its services."""
        hall = self.hall(hall_code)
        with read_tx(self.engine) as c:
            win = self._window_row(c, hall.code, number, lock=False)
            cur = self._active_at(c, hall.code, number)
            profile = self._profile(hall, win)
            cands = self._candidates(c, hall.code, profile)
            ranked = policy.rank_candidates(profile, cands, win.priority_streak)
            rows = {r.id: r for r in c.execute(select(tickets).where(
                tickets.c.id.in_([ch.ticket.id for ch in ranked[:50]])))} if ranked else {}
            parked = c.execute(select(tickets).where(
                tickets.c.hall == hall.code, tickets.c.status == Status.PARKED.value,
                tickets.c.window == number).order_by(tickets.c.queued_at)).all()
        return {
            "number": win.number, "state": win.state, "clerk_id": win.clerk_id,
            "services": list(win.services), "priority_streak": win.priority_streak,
            "current": self.staff_ticket(cur) if cur else None,
            "waiting": [self.staff_ticket(rows[ch.ticket.id]) for ch in ranked[:50]],
            "waiting_total": len(ranked),
            "parked": [self.staff_ticket(r) for r in parked],
        }

    def _profile(self, hall: HallDef, win) -> policy.WindowProfile:
        return policy.WindowProfile(number=win.number, services=tuple(win.services),
                                    strategy=hall.queue.strategy,
                                    priority_ratio=hall.queue.priority_ratio)

    def _candidates(self, c: Connection, hall: str, profile: policy.WindowProfile) -> list[policy.Candidate]:
        rows = c.execute(select(tickets.c.id, tickets.c.service, tickets.c.queued_at,
                                tickets.c.priority, tickets.c.target_window).where(
            tickets.c.hall == hall, tickets.c.status == Status.WAITING.value,
            or_(tickets.c.target_window == profile.number,
                and_(tickets.c.target_window.is_(None), tickets.c.service.in_(list(profile.services))))))
        return [policy.Candidate(r.id, r.service, r.queued_at, r.priority, r.target_window) for r in rows]

    def set_window_state(self, hall_code: str, number: int, action: str, actor: Actor) -> dict[str, Any]:
        """Sign in, sign out, pause, resume, open or close a window."""
        hall = self.hall(hall_code)
        now = self.clock()
        out = Outcome(hall=hall.code)
        with write_tx(self.engine) as c:
            win = self._window_row(c, hall.code, number)
            values: dict[str, Any]
            if action == "sign_in":
                if actor.user_id is None:
                    raise Forbidden("only staff sign in to windows")
                if actor.windows is not None and number not in actor.windows:
                    raise Forbidden(f"you are not allowed to use window {number}", "window_not_allowed")
                if win.state != "closed" and win.clerk_id not in (None, actor.user_id):
                    raise DomainError(f"window {number} is in use by another clerk", "window_taken")
                other = c.execute(select(windows.c.hall, windows.c.number).where(
                    windows.c.clerk_id == actor.user_id, windows.c.state != "closed",
                    or_(windows.c.hall != hall.code, windows.c.number != number))).first()
                if other is not None:
                    raise DomainError(f"you are signed in at window {other.number}; sign out there first",
                                      "already_signed_in")
                values = {"state": "open", "clerk_id": actor.user_id}
            elif action in ("sign_out", "close"):
                if action == "sign_out":
                    self._check_clerk(win, actor)
                if self._active_at(c, hall.code, number) is not None:
                    raise DomainError("finish the current ticket first", "window_busy")
                values = {"state": "closed", "clerk_id": None, "priority_streak": 0}
            elif action == "pause":
                self._check_clerk(win, actor)
                if win.state == "closed":
                    raise InvalidTransition("a closed window cannot pause")
                values = {"state": "paused"}
            elif action in ("resume", "open"):
                if action == "resume":
                    self._check_clerk(win, actor)
                if win.state == "closed" and action == "resume":
                    raise InvalidTransition("sign in to open a closed window")
                values = {"state": "open"}
            else:
                raise InvalidInput(f"unknown window action {action!r}")
            c.execute(update(windows).where(windows.c.id == win.id).values(changed_at=now, **values))
            seq = self._next_seq(c, hall.code)
            self._event(c, hall.code, f"window_{action}", now, ticket_id=None, window=number,
                        actor=actor, seq=seq, data={"from": win.state, "to": values["state"]})
        out.seq = seq
        out.result = self.window_view(hall.code, number)
        out.emits.append(ev.Emit(ev.WINDOW_CHANGED, {"number": number, "state": values["state"]},
                                 ev.hall_room(hall.code)))
        self.notifier.publish(out)
        return out.result

    def set_window_services(self, hall_code: str, number: int, services: Sequence[str],
                            actor: Actor) -> dict[str, Any]:
        """Change what a window serves, live (supervisor)."""
        hall = self.hall(hall_code)
        codes = list(services)
        if not codes or len(set(codes)) != len(codes):
            raise InvalidInput("services must be a non-empty list without repeats")
        for code in codes:
            self._service(code)
        now = self.clock()
        with write_tx(self.engine) as c:
            win = self._window_row(c, hall.code, number)
            c.execute(update(windows).where(windows.c.id == win.id).values(services=codes, changed_at=now))
            seq = self._next_seq(c, hall.code)
            self._event(c, hall.code, "window_services", now, ticket_id=None, window=number, actor=actor,
                        seq=seq, data={"from": list(win.services), "to": codes})
        out = Outcome(hall=hall.code, seq=seq)
        out.emits.append(ev.Emit(ev.WINDOW_CHANGED, {"number": number, "services": codes},
                                 ev.hall_room(hall.code)))
        self.notifier.publish(out)
        return self.window_view(hall.code, number)

    # ----- calling ---------------------------------------------------------------------------
    def call_next(self, hall_code: str, number: int, actor: Actor) -> dict[str, Any] | None:
        """Call the ticket the policy picks for this window; None when nothing it serves waits."""
        hall = self.hall(hall_code)
        now = self.clock()
        out = Outcome(hall=hall.code)
        with write_tx(self.engine) as c:
            win = self._window_row(c, hall.code, number)
            self._check_clerk(win, actor)
            if win.state != "open":
                raise DomainError(f"window {number} is {win.state}", "window_not_open")
            seq = None
            cur = self._active_at(c, hall.code, number)
            if cur is not None:
                if cur.status == Status.CALLED.value:
                    raise DomainError(f"{cur.number} is still called here: start, recall or mark no-show",
                                      "window_busy")
                seq = self._next_seq(c, hall.code)
                self._finish(c, hall, cur, "served", now, actor, seq, out)
            profile = self._profile(hall, win)
            chosen = None
            for choice in policy.rank_candidates(profile, self._candidates(c, hall.code, profile),
                                                 win.priority_streak):
                if self._pg:  # take the best row nobody else holds; skip, never wait
                    got = c.execute(select(tickets.c.id).where(
                        tickets.c.id == choice.ticket.id, tickets.c.status == Status.WAITING.value)
                        .with_for_update(skip_locked=True)).first()
                    if got is None:
                        continue
                chosen = choice
                break
            if chosen is None:
                if seq is not None:
                    out.seq = seq
                    self.notifier.publish(out)
                return None
            self._ticket_update(c, chosen.ticket.id, Status.WAITING.value, status=Status.CALLED.value,
                                window=number, called_at=now, recall_count=0, target_window=None)
            c.execute(update(windows).where(windows.c.id == win.id)
                      .values(priority_streak=chosen.priority_streak))
            seq = seq or self._next_seq(c, hall.code)
            row = c.execute(select(tickets).where(tickets.c.id == chosen.ticket.id)).one()
            self._called(c, hall, row, number, now, actor, seq, out, recall=False)
        out.seq = seq
        self.notifier.publish(out)
        return out.result

    def _called(self, c: Connection, hall: HallDef, row, number: int, now: datetime, actor: Actor,
                seq: int, out: Outcome, recall: bool, data: dict[str, Any] | None = None) -> None:
        kind = "recalled" if recall else "called"
        call_id = self._event(c, hall.code, kind, now, ticket_id=row.id, service=row.service,
                              window=number, actor=actor, seq=seq, data=data)
        payload = ev.call_payload(hall.code, call_id, row.number, number, row.service, recall, now)
        out.result = self.staff_ticket(row)
        out.emits.append(ev.Emit(ev.TICKET_CALLED, payload, ev.hall_room(hall.code)))
        out.emits.append(ev.Emit(ev.TICKET_STATUS, {"token": row.token, "status": row.status,
                                                    "number": row.number, "window": number,
                                                    "recall": recall}, ev.ticket_room(row.token)))
        out.after.append(("announce", payload))
        if row.phone:
            out.after.append(("sms_called", {"phone": row.phone, "number": row.number,
                                             "window": number, "hall": hall.code}))

    def call_specific(self, hall_code: str, number: int, ticket_ref: str, reason: str | None,
                      actor: Actor) -> dict[str, Any]:
        """Call one ticket out of order (a reason is required and recorded), or resume a parked one."""
        hall = self.hall(hall_code)
        now = self.clock()
        out = Outcome(hall=hall.code)
        reason = (reason or "").strip()
        with write_tx(self.engine) as c:
            win = self._window_row(c, hall.code, number)
            self._check_clerk(win, actor)
            if win.state != "open":
                raise DomainError(f"window {number} is {win.state}", "window_not_open")
            if self._active_at(c, hall.code, number) is not None:
                raise DomainError("finish the current ticket first", "window_busy")
            row = self._find_today(c, hall, ticket_ref)
            transition(row.status, "call")
            parked_here = row.status == Status.PARKED.value and row.window == number
            if not parked_here and not reason:
                raise ReasonRequired("calling a ticket out of order needs a reason")
            if len(reason) > 300:
                raise InvalidInput("reason is at most 300 characters")
            self._ticket_update(c, row.id, row.status, status=Status.CALLED.value, window=number,
                                called_at=now, recall_count=0, target_window=None)
            seq = self._next_seq(c, hall.code)
            row = c.execute(select(tickets).where(tickets.c.id == row.id)).one()
            self._called(c, hall, row, number, now, actor, seq, out, recall=False,
                         data={"out_of_order": not parked_here, "reason": reason or "resume parked"})
        out.seq = seq
        self.notifier.publish(out)
        return out.result

    def _find_today(self, c: Connection, hall: HallDef, ref: str):
        parsed = numbering.parse_number(ref)
        if parsed is None:
            raise InvalidInput(f"{ref!r} is not a ticket number like A-023", "invalid_ticket_number")
        prefix, seqno = parsed
        day = numbering.local_day(self.clock(), hall.tz)
        row = c.execute(select(tickets).where(tickets.c.hall == hall.code, tickets.c.prefix == prefix,
                                              tickets.c.seq == seqno, tickets.c.day == day)).first()
        if row is None:
            raise NotFound(f"no ticket {ref} today")
        return row

    def _current(self, c: Connection, hall: HallDef, number: int, actor: Actor):
        win = self._window_row(c, hall.code, number)
        self._check_clerk(win, actor)
        cur = self._active_at(c, hall.code, number)
        if cur is None:
            raise DomainError(f"window {number} has no current ticket", "no_current_ticket")
        return win, cur

    def _status_emit(self, out: Outcome, row, status: str, **extra: Any) -> None:
        out.emits.append(ev.Emit(ev.TICKET_STATUS, {"token": row.token, "number": row.number,
                                                    "status": status, **extra},
                                 ev.ticket_room(row.token)))

    def recall(self, hall_code: str, number: int, actor: Actor) -> dict[str, Any]:
        """Call the current ticket again; past the recall limit it becomes a no-show."""
        hall = self.hall(hall_code)
        now = self.clock()
        out = Outcome(hall=hall.code)
        with write_tx(self.engine) as c:
            _, cur = self._current(c, hall, number, actor)
            transition(cur.status, "recall")
            seq = self._next_seq(c, hall.code)
            if recall_outcome(cur.recall_count, hall.queue.recall_limit) is Status.NO_SHOW:
                self._ticket_update(c, cur.id, cur.status, status=Status.NO_SHOW.value, finished_at=now)
                self._event(c, hall.code, "no_show", now, ticket_id=cur.id, service=cur.service,
                            window=number, actor=actor, seq=seq,
                            data={"after_recalls": cur.recall_count})
                self._status_emit(out, cur, Status.NO_SHOW.value)
                row = c.execute(select(tickets).where(tickets.c.id == cur.id)).one()
                out.result = self.staff_ticket(row)
                out.emits.append(ev.Emit(ev.WINDOW_CHANGED, {"number": number, "current": None},
                                         ev.hall_room(hall.code)))
            else:
                self._ticket_update(c, cur.id, cur.status, recall_count=cur.recall_count + 1)
                row = c.execute(select(tickets).where(tickets.c.id == cur.id)).one()
                self._called(c, hall, row, number, now, actor, seq, out, recall=True,
                             data={"recall": row.recall_count})
        out.seq = seq
        self.notifier.publish(out)
        return out.result

    def _simple(self, hall_code: str, number: int, action: str, actor: Actor,
                kind: str, values: Callable[[Any, datetime], dict[str, Any]],
                data: dict[str, Any] | None = None) -> dict[str, Any]:
        hall = self.hall(hall_code)
        now = self.clock()
        out = Outcome(hall=hall.code)
        with write_tx(self.engine) as c:
            _, cur = self._current(c, hall, number, actor)
            new = transition(cur.status, action)
            self._ticket_update(c, cur.id, cur.status, status=new.value, **values(cur, now))
            seq = self._next_seq(c, hall.code)
            self._event(c, hall.code, kind, now, ticket_id=cur.id, service=cur.service, window=number,
                        actor=actor, seq=seq, data=data)
            row = c.execute(select(tickets).where(tickets.c.id == cur.id)).one()
            self._status_emit(out, row, new.value)
            out.emits.append(ev.Emit(ev.WINDOW_CHANGED, {"number": number,
                                                         "current": row.number if new in ACTIVE else None,
                                                         "status": new.value}, ev.hall_room(hall.code)))
            out.result = self.staff_ticket(row)
        out.seq = seq
        self.notifier.publish(out)
        return out.result

    def start(self, hall_code: str, number: int, actor: Actor) -> dict[str, Any]:
        """The citizen is at the window: start the serving timer."""
        return self._simple(hall_code, number, "start", actor, "serving",
                            lambda cur, now: {"started_at": now})

    def complete(self, hall_code: str, number: int, actor: Actor, outcome: str = "served") -> dict[str, Any]:
        """Finish the current ticket with an outcome."""
        if outcome not in OUTCOMES:
            raise InvalidInput(f"outcome must be one of {', '.join(OUTCOMES)}", "invalid_outcome")
        return self._simple(hall_code, number, "complete", actor, "completed",
                            lambda cur, now: {"finished_at": now, "outcome": outcome,
                                              "started_at": cur.started_at or now},
                            {"outcome": outcome})

    def _finish(self, c: Connection, hall: HallDef, cur, outcome: str, now: datetime, actor: Actor,
                seq: int, out: Outcome) -> None:
        """Complete the window's serving ticket inside another command (next while serving)."""
        self._ticket_update(c, cur.id, cur.status, status=Status.DONE.value, finished_at=now,
                            outcome=outcome, started_at=cur.started_at or now)
        self._event(c, hall.code, "completed", now, ticket_id=cur.id, service=cur.service,
                    window=cur.window, actor=actor, seq=seq, data={"outcome": outcome, "implicit": True})
        self._status_emit(out, cur, Status.DONE.value)

    def no_show(self, hall_code: str, number: int, actor: Actor) -> dict[str, Any]:
        """The called citizen did not come."""
        return self._simple(hall_code, number, "no_show", actor, "no_show",
                            lambda cur, now: {"finished_at": now})

    def park(self, hall_code: str, number: int, actor: Actor) -> dict[str, Any]:
        """Put the current ticket aside (the citizen fetches a paper); the window is free again."""
        return self._simple(hall_code, number, "park", actor, "parked", lambda cur, now: {})

    def transfer(self, hall_code: str, number: int, actor: Actor, service: str | None = None,
                 to_window: int | None = None, ticket_ref: str | None = None) -> dict[str, Any]:
        """Send the current (or a named waiting) ticket to another service or window, keeping its place."""
        hall = self.hall(hall_code)
        if (service is None) == (to_window is None):
            raise InvalidInput("give exactly one of service or window", "invalid_transfer")
        if service is not None:
            self._service(service)
        now = self.clock()
        out = Outcome(hall=hall.code)
        with write_tx(self.engine) as c:
            if ticket_ref is None:
                _, cur = self._current(c, hall, number, actor)
            else:
                self._check_clerk(self._window_row(c, hall.code, number), actor)
                cur = self._find_today(c, hall, ticket_ref)
            transition(cur.status, "transfer")
            if to_window is not None:
                self._window_row(c, hall.code, to_window, lock=False)
                if to_window == cur.window and cur.status in (Status.CALLED.value, Status.SERVING.value):
                    raise InvalidInput("transfer to the same window", "invalid_transfer")
            new_service = service or cur.service
            self._ticket_update(c, cur.id, cur.status, status=Status.WAITING.value, service=new_service,
                                target_window=to_window, window=None, called_at=None, started_at=None,
                                recall_count=0)
            seq = self._next_seq(c, hall.code)
            self._event(c, hall.code, "transferred", now, ticket_id=cur.id, service=cur.service,
                        window=cur.window, actor=actor, seq=seq,
                        data={"from_service": cur.service, "to_service": new_service,
                              "to_window": to_window, "from_status": cur.status})
            row = c.execute(select(tickets).where(tickets.c.id == cur.id)).one()
            self._status_emit(out, row, Status.WAITING.value, transferred=True)
            if cur.status in (Status.CALLED.value, Status.SERVING.value):
                out.emits.append(ev.Emit(ev.WINDOW_CHANGED, {"number": cur.window, "current": None},
                                         ev.hall_room(hall.code)))
            out.result = self.staff_ticket(row)
        out.seq = seq
        self.notifier.publish(out)
        return out.result

    def cancel(self, token: str, actor: Actor = CITIZEN) -> dict[str, Any]:
        """The citizen gives up their ticket."""
        now = self.clock()
        with write_tx(self.engine) as c:
            row = c.execute(select(tickets).where(tickets.c.token == token)).first()
            if row is None:
                raise NotFound("no such ticket")
            transition(row.status, "cancel")
            self._ticket_update(c, row.id, row.status, status=Status.CANCELLED.value, finished_at=now)
            seq = self._next_seq(c, row.hall)
            self._event(c, row.hall, "cancelled", now, ticket_id=row.id, service=row.service,
                        actor=actor, seq=seq)
            row = c.execute(select(tickets).where(tickets.c.id == row.id)).one()
            result = self._public(c, self.hall(row.hall), row)
        out = Outcome(result=result, hall=row.hall, seq=seq)
        self._status_emit(out, row, Status.CANCELLED.value)
        self.notifier.publish(out)
        return result

    def take_near_turn(self, hall_code: str, ahead_max: int) -> list[dict[str, Any]]:
        """Waiting tickets with a phone whose turn is near and who were not told yet; marks them told."""
        hall = self.hall(hall_code)
        with write_tx(self.engine) as c:
            rows = c.execute(select(tickets).where(
                tickets.c.hall == hall.code, tickets.c.status == Status.WAITING.value,
                tickets.c.phone.is_not(None), tickets.c.near_notified.is_(False))).all()
            near = []
            for r in rows:
                ahead = self._people_ahead(c, hall.code, r.service, r.priority, r.queued_at, r.id)
                if ahead <= ahead_max:
                    # the guarded update makes the message go out once, even with several processes
                    if c.execute(update(tickets).where(tickets.c.id == r.id, tickets.c.near_notified.is_(False))
                                 .values(near_notified=True)).rowcount == 1:
                        near.append({"phone": r.phone, "number": r.number, "ahead": ahead})
        return near

    def set_board_message(self, hall_code: str, message: str | None, actor: Actor) -> None:
        """A line of text every board of the hall shows (supervisor)."""
        hall = self.hall(hall_code)
        if message is not None and len(message) > 200:
            raise InvalidInput("message is at most 200 characters")
        now = self.clock()
        with write_tx(self.engine) as c:
            c.execute(update(halls).where(halls.c.code == hall.code).values(board_message=message or None))
            seq = self._next_seq(c, hall.code)
            self._event(c, hall.code, "board_message", now, ticket_id=None, actor=actor, seq=seq,
                        data={"message": message})
        out = Outcome(hall=hall.code, seq=seq, touched_services=False)
        out.emits.append(ev.Emit(ev.BOARD_MESSAGE, {"message": message or None}, ev.hall_room(hall.code)))
        self.notifier.publish(out)

    # ----- supervisor ---------------------------------------------------------------------------
    def stats(self, hall_code: str) -> dict[str, Any]:
        """Live indicators: per window and per service, for today."""
        hall = self.hall(hall_code)
        now = self.clock()
        day = numbering.local_day(now, hall.tz)
        target = hall.queue.wait_target_minutes * 60
        with read_tx(self.engine) as c:
            rows = c.execute(select(tickets).where(tickets.c.hall == hall.code, tickets.c.day == day)).all()
            wins = c.execute(select(windows).where(windows.c.hall == hall.code)
                             .order_by(windows.c.number)).all()
            open_counts = self._open_windows_for(c, hall.code)
            eta_new = {code: self._eta(c, hall, code) for code in {r.service for r in rows}}
            marks = self.window_marks(c, hall.code, now - timedelta(hours=24))
            clerk_ids = [w.clerk_id for w in wins if w.clerk_id is not None]
            clerks = {u.id: u for u in c.execute(select(users.c.id, users.c.username, users.c.full_name)
                                                 .where(users.c.id.in_(clerk_ids)))} if clerk_ids else {}
        per: dict[str, dict[str, Any]] = {}
        for r in rows:
            s = per.setdefault(r.service, {"waiting": 0, "longest_wait_seconds": 0, "waits": [],
                                           "issued": 0, "served": 0, "no_show": 0, "cancelled": 0})
            s["issued"] += 1
            if r.status == Status.WAITING.value:
                s["waiting"] += 1
                s["longest_wait_seconds"] = max(s["longest_wait_seconds"],
                                                int((now - r.queued_at).total_seconds()))
            if r.called_at is not None:
                s["waits"].append((r.called_at - r.queued_at).total_seconds())
            if r.status == Status.DONE.value:
                s["served"] += 1
            elif r.status == Status.NO_SHOW.value:
                s["no_show"] += 1
            elif r.status == Status.CANCELLED.value:
                s["cancelled"] += 1
        services = []
        all_waits: list[float] = []
        for code, s in sorted(per.items()):
            waits = s.pop("waits")
            all_waits.extend(waits)
            info = self.settings.catalog.service(code)
            services.append({
                "service": code, **s,
                "name": {"ar": info.name_ar, "en": info.name_en},
                "open_windows": open_counts.get(code, 0),
                "average_wait_seconds": round(sum(waits) / len(waits)) if waits else None,
                "within_target_share": (sum(1 for w in waits if w <= target) / len(waits)) if waits else None,
                "eta_new_seconds": eta_new[code],
            })
        active = {r.window: r for r in rows if r.status in (Status.CALLED.value, Status.SERVING.value)}

        def idle_seconds(w) -> int | None:
            """Seconds an open window without a ticket has had nothing to do."""
            if w.state != "open" or w.number in active:
                return None
            finished, opened = marks.get(w.number, (None, None))
            # the later of its last finished ticket and its opening; the row's change time if no events
            since = max([m for m in (finished, opened) if m is not None], default=w.changed_at)
            return int((now - since).total_seconds()) if since else None

        def clerk(w) -> dict[str, Any] | None:
            u = clerks.get(w.clerk_id)
            return {"id": u.id, "username": u.username, "full_name": u.full_name} if u else None

        waiting = sorted((r for r in rows if r.status == Status.WAITING.value), key=lambda r: (r.queued_at, r.id))
        return {
            "hall": hall.code, "at": now.isoformat(), "wait_target_seconds": target,
            "windows": [{"number": w.number, "state": w.state, "clerk_id": w.clerk_id,
                         "current": active[w.number].number if w.number in active else None,
                         "serving_seconds": int((now - (active[w.number].started_at
                                                        or active[w.number].called_at)).total_seconds())
                         if w.number in active else None,
                         "clerk": clerk(w), "services": list(w.services),
                         "current_status": active[w.number].status if w.number in active else None,
                         "current_service": active[w.number].service if w.number in active else None,
                         "last_finished_at": marks[w.number][0].isoformat()
                         if marks.get(w.number, (None,))[0] else None,
                         "idle_seconds": idle_seconds(w)} for w in wins],
            "services": services,
            "totals": {"issued": len(rows), "waiting": sum(s["waiting"] for s in services),
                       "served": sum(s["served"] for s in services),
                       "average_wait_seconds": round(sum(all_waits) / len(all_waits)) if all_waits else None,
                       "within_target_share": (sum(1 for w in all_waits if w <= target) / len(all_waits))
                       if all_waits else None},
            # the queue itself, oldest first, for "move to another service" (capped: a page, not an export)
            "waiting_tickets": [{"number": r.number, "service": r.service, "priority": r.priority,
                                 "queued_at": r.queued_at.isoformat(), "target_window": r.target_window,
                                 "wait_seconds": int((now - r.queued_at).total_seconds())}
                                for r in waiting[:500]],
        }

    def window_marks(self, c: Connection, hall: str, since: datetime
                     ) -> dict[int, tuple[datetime | None, datetime | None]]:
        """Per window: when it last finished a ticket and when it last opened, from events after `since`."""
        finished_kinds = ("completed", "no_show", "transferred", "parked")
        opened_kinds = ("window_open", "window_resume", "window_sign_in")
        out: dict[int, tuple[datetime | None, datetime | None]] = {}
        for r in c.execute(select(ticket_events.c.window, ticket_events.c.kind, func.max(ticket_events.c.at))
                           .where(ticket_events.c.hall == hall, ticket_events.c.at >= since,
                                  ticket_events.c.window.is_not(None),
                                  ticket_events.c.kind.in_(finished_kinds + opened_kinds))
                           .group_by(ticket_events.c.window, ticket_events.c.kind)):
            at = r[2]
            if at is not None and at.tzinfo is None:  # max() bypasses the column type on SQLite
                at = at.replace(tzinfo=timezone.utc)
            finished, opened = out.get(r.window, (None, None))
            if r.kind in finished_kinds:
                finished = at if finished is None or at > finished else finished
            else:
                opened = at if opened is None or at > opened else opened
            out[r.window] = (finished, opened)
        return out

    def move_waiting(self, hall_code: str, ticket_ref: str, service: str, actor: Actor) -> dict[str, Any]:
        """A supervisor moves a waiting ticket to another service; it keeps its place (issue time)."""
        hall = self.hall(hall_code)
        if actor.role not in ("supervisor", "admin") and actor.kind != "system":
            raise Forbidden("only supervisors move waiting tickets")
        self._service(service)
        now = self.clock()
        out = Outcome(hall=hall.code)
        with write_tx(self.engine) as c:
            cur = self._find_today(c, hall, ticket_ref)
            if cur.status != Status.WAITING.value:
                raise InvalidTransition(f"{cur.number} is {cur.status}: only a waiting ticket can be moved",
                                        "not_waiting")
            transition(cur.status, "transfer")
            if service == cur.service and cur.target_window is None:
                raise InvalidInput(f"{cur.number} already waits for that service", "same_service")
            self._ticket_update(c, cur.id, cur.status, service=service, target_window=None)
            seq = self._next_seq(c, hall.code)
            self._event(c, hall.code, "transferred", now, ticket_id=cur.id, service=cur.service, window=None,
                        actor=actor, seq=seq,
                        data={"from_service": cur.service, "to_service": service, "to_window": None,
                              "from_status": cur.status, "moved_waiting": True})
            row = c.execute(select(tickets).where(tickets.c.id == cur.id)).one()
            self._status_emit(out, row, Status.WAITING.value, transferred=True)
            out.result = self.staff_ticket(row)
        out.seq = seq
        self.notifier.publish(out)
        return out.result


    def staffing_plan(self, hall_code: str, day: date | None = None,
                      goal: float = staffing.DEFAULT_GOAL) -> dict[str, Any]:
        """Windows needed per hour on `day` (default tomorrow) from the hall's last four weeks."""
        hall = self.hall(hall_code)
        today = numbering.local_day(self.clock(), hall.tz)
        day = day or today + timedelta(days=1)
        first = day - timedelta(days=staffing.LOOKBACK_DAYS)
        counts: dict[Any, dict[int, dict[str, int]]] = {}
        occupation: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
        with read_tx(self.engine) as c:
            for r in c.execute(select(tickets.c.day, tickets.c.issued_at, tickets.c.service, tickets.c.status,
                                      tickets.c.called_at, tickets.c.finished_at).where(
                    tickets.c.hall == hall.code, tickets.c.prefix.in_(self._prefixes()),
                    tickets.c.day >= first, tickets.c.day < min(day, today))):
                hour = r.issued_at.astimezone(hall.tz).hour
                per_hour = counts.setdefault(r.day, {}).setdefault(hour, {})
                per_hour[r.service] = per_hour.get(r.service, 0) + 1
                if r.status in (Status.DONE.value, Status.NO_SHOW.value) and r.called_at and r.finished_at:
                    o = occupation[r.service]  # a window is busy from the call to the finish
                    o[0] += (r.finished_at - r.called_at).total_seconds()
                    o[1] += 1
        minutes = {s.code: s.expected_minutes for s in self.settings.catalog.services}
        minutes.update({svc: total / n / 60.0 for svc, (total, n) in occupation.items() if n})
        expected, basis = staffing.expected_arrivals(counts, day)
        pools = staffing.service_pools(w.services for w in hall.windows)
        hours = staffing.plan(expected, minutes, hall.queue.wait_target_minutes, goal, pools)
        return {
            "hall": hall.code, "day": day.isoformat(), "goal": goal,
            "wait_target_minutes": hall.queue.wait_target_minutes, "windows": len(hall.windows),
            "basis_days": [d.isoformat() for d in basis],
            "hours": [{"hour": h.hour, "expected_arrivals": round(h.expected_arrivals, 2),
                       "windows_needed": h.windows_needed,
                       "windows_needed_as_assigned": h.windows_needed_as_assigned,
                       "mean_service_minutes": round(h.mean_service_minutes, 2),
                       "offered_load": round(h.offered_load, 2),
                       "service_level": round(h.service_level, 3)} for h in hours],
        }

def ticket_rows_for(engine: Engine, hall: str) -> Iterable[Any]:
    """All ticket rows of a hall (tests and tools)."""
    with read_tx(engine) as c:
        return c.execute(select(tickets).where(tickets.c.hall == hall).order_by(tickets.c.id)).all()
