"""The unit of work: one write transaction of a command, and what it leaves for the bus.

Inside: the hall's next `seq`, event rows with their audit entries, number allocation, row
locks and guarded updates that return the new row (RETURNING: no second read). On a clean exit
the transaction commits first, then the outcome goes to the bus; on an error nothing is kept and
nothing is published.

Under gevent on SQLite (`hall-server run`), the process's writers queue on a cooperative lock
instead of SQLite's busy handler (which would sleep inside the event loop), and the commit's fsync
(synchronous=FULL: the WAL is synced before COMMIT returns) runs where it costs least, as the disk
allows (`CommitPace`): on a disk that syncs fast, on the loop itself; on a slow one (an SD card, a
busy disk: 1.5 to 8 ms measured), on the hub's thread pool, so that the other requests' parsing,
token lookups and reads go on meanwhile. Either way the greenlet that commits waits for it (nothing
is answered or published before the transaction is durable). The hand-off to a thread is not free:
the thread needs the GIL back after the fsync, and the loop, busy with other requests, keeps it up
to the interpreter's switch interval while the writers' lock is held; on this machine's fast disk
that cut call-next with 9 windows from 234 to 164 calls/s (bench_core, HALL_COMMIT_OFF_LOOP=0 vs 1).
Elsewhere (threading mode, PostgreSQL, tools) the commit is the plain one. HALL_COMMIT_OFF_LOOP:
"auto" (default), "1" always on the thread pool, "0" always inline (to compare).
"""
from __future__ import annotations

import logging
import os
import sys
import time
import weakref
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, Row

from config import HallDef
from hall_server import events as ev
from hall_server.application import audit
from hall_server.application.common import Actor, NotFound, Outcome
from hall_server.domain import numbering
from hall_server.domain.errors import InvalidInput, InvalidTransition
from hall_server.storage import ACTIVE_SQL, Prepared, counters, halls, ticket_events, tickets, windows, write_tx

if TYPE_CHECKING:
    from hall_server.application.context import Core


# Built once: on the hot paths a statement built per call costs more Python than its execution.
_NEXT_SEQ = Prepared(update(halls).where(halls.c.code == bindparam("b_hall")).values(seq=halls.c.seq + 1)
                     .returning(halls.c.seq))
_INSERT_EVENT = Prepared(insert(ticket_events).returning(ticket_events.c.id),
                         keys=("hall", "ticket_id", "kind", "at", "service", "window", "actor", "seq", "data"))
_ACTIVE_AT = Prepared(select(tickets).where(tickets.c.hall == bindparam("b_hall"),
                                            tickets.c.window == bindparam("b_window"), text(ACTIVE_SQL)))
_WINDOW_Q = select(windows).where(windows.c.hall == bindparam("b_hall"), windows.c.number == bindparam("b_number"))
_WINDOW = Prepared(_WINDOW_Q)
_WINDOW_LOCKED = Prepared(_WINDOW_Q.with_for_update())
_UPDATE_TICKET = Prepared(update(tickets).where(tickets.c.id == bindparam("b_id"),
                                                tickets.c.status == bindparam("b_expect")).returning(*tickets.c),
                          varying=True)
_ALLOCATE: dict[bool, Prepared] = {}


# ----- the commit off the event loop (gevent + SQLite) ------------------------------------------------
log = logging.getLogger(__name__)
WRITER_WAIT_S = 30.0  # as SQLite's busy timeout: past it the writer goes on and SQLite decides
_WRITERS: weakref.WeakKeyDictionary[Engine, Any] = weakref.WeakKeyDictionary()


def _gevent_hub() -> Any:
    """The gevent hub when this process serves under gevent (monkey-patched), else None."""
    if "gevent" not in sys.modules:
        return None
    from gevent import monkey
    if not monkey.is_module_patched("socket"):
        return None
    import gevent
    return gevent.get_hub()


class CommitPace:
    """Where the next commit runs: inline (on the loop) while the disk syncs fast, else on a thread.

    Inline commits are timed; their moving average (weight AVG_WEIGHT) above OFF_ABOVE_S sends the
    commits to the thread pool, where they cannot be timed without the GIL's hand-off in the figure,
    so every PROBE_EVERY-th of them runs inline as a probe; once the average of the probes is below
    INLINE_BELOW_S, commits run inline again. `mode`: "auto", or "1"/"0" to force one way.
    """

    OFF_ABOVE_S = 0.002  # fsync slower than this on average: the loop would stall, use the thread pool
    INLINE_BELOW_S = 0.001  # ... back inline below this (the gap keeps it from flapping)
    AVG_WEIGHT = 0.2
    PROBE_EVERY = 50

    def __init__(self, mode: str = "auto") -> None:
        self.mode = mode if mode in ("0", "1") else "auto"
        self.off_loop = self.mode == "1"
        self.sync_s = 0.0  # moving average of the timed (inline) commits
        self._since_probe = 0

    def inline_next(self) -> bool:
        """Whether the next commit runs on the loop (and is timed: call `observed` with its duration)."""
        if self.mode != "auto":
            return self.mode == "0"
        if not self.off_loop:
            return True
        self._since_probe += 1
        if self._since_probe >= self.PROBE_EVERY:
            self._since_probe = 0
            return True
        return False

    def observed(self, seconds: float) -> None:
        """An inline commit took `seconds`."""
        self.sync_s += self.AVG_WEIGHT * (seconds - self.sync_s)
        if self.mode != "auto":
            return
        if not self.off_loop and self.sync_s > self.OFF_ABOVE_S:
            self.off_loop = True
            self._since_probe = 0
            log.info("commits go to the thread pool: the disk syncs in %.1f ms on average", self.sync_s * 1000)
        elif self.off_loop and self.sync_s < self.INLINE_BELOW_S:
            self.off_loop = False
            log.info("commits run inline again: the disk syncs in %.1f ms on average", self.sync_s * 1000)


class _OffLoop:
    """Per SQLite engine under gevent: the cooperative writers' lock, and the commit where `pace` says."""

    def __init__(self, hub: Any) -> None:
        from gevent import monkey
        from gevent.lock import Semaphore
        self.hub = hub
        self.writers = Semaphore(1)
        self.pace = CommitPace(os.environ.get("HALL_COMMIT_OFF_LOOP", "auto"))
        self._thread_id = monkey.get_original("threading", "get_ident")

    @staticmethod
    def of(engine: Engine) -> _OffLoop | None:
        if engine.dialect.name != "sqlite":
            return None  # PostgreSQL: psycopg waits cooperatively already, and writers do not share one lock
        got = _WRITERS.get(engine)
        if got is None:
            hub = _gevent_hub()
            if hub is None:
                return None
            got = _WRITERS[engine] = _OffLoop(hub)
        # a native thread of its own (not the loop's): the plain commit, SQLite's busy handler between writers
        return got if got._thread_id() == got.hub.thread_ident else None

    def commit(self, c: Connection) -> None:
        """COMMIT inline and timed, or on the hub's thread pool (the calling greenlet waits, the loop does not).

        The transaction is then over in SQLite; SQLAlchemy's own commit that follows finds nothing
        left to commit (sqlite3's commit() does nothing outside a transaction) and only ends its
        bookkeeping. A failed COMMIT comes back as SQLAlchemy's error, as an inline one would.
        """
        dbapi_conn = c.connection.dbapi_connection
        try:
            if self.pace.inline_next():
                t0 = time.perf_counter()
                dbapi_conn.commit()  # type: ignore[union-attr]
                self.pace.observed(time.perf_counter() - t0)
            else:
                self.hub.threadpool.apply(dbapi_conn.commit)  # type: ignore[union-attr]
        except Exception as err:
            dbapi = c.dialect.loaded_dbapi
            if isinstance(err, dbapi.Error):
                raise sa_exc.DBAPIError.instance("COMMIT", None, err, dbapi.Error, dialect=c.dialect) from err
            raise


class UnitOfWork:
    """`with core.uow(hall) as uow:` ... one transaction; publish its outcome after the commit."""

    def __init__(self, core: Core, hall: HallDef) -> None:
        self.core, self.hall = core, hall
        self.now: datetime = core.clock()
        self.outcome = Outcome(hall=hall.code)
        self._tx: Any = None
        self._off: _OffLoop | None = None
        self._locked = False
        self.c: Connection

    def __enter__(self) -> UnitOfWork:
        self._off = _OffLoop.of(self.core.engine)
        if self._off is not None:
            self._locked = bool(self._off.writers.acquire(timeout=WRITER_WAIT_S))
        try:
            self._tx = write_tx(self.core.engine)
            self.c = self._tx.__enter__()
        except BaseException:
            self._release()
            raise
        return self

    def _release(self) -> None:
        if self._locked and self._off is not None:
            self._locked = False
            self._off.writers.release()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if kind is None:  # writes that belong to the change itself (the SMS outbox rows): same transaction
                try:
                    for hook in self.core.bus.in_transaction:
                        hook(self.c, self.outcome)
                    if self._off is not None:
                        self._off.commit(self.c)  # durable before anything below runs
                except BaseException as err:
                    self._tx.__exit__(type(err), err, err.__traceback__)
                    raise
            self._tx.__exit__(kind, exc, tb)  # commits, or rolls back and lets the error through
        finally:
            self._release()
        if kind is None and self.outcome.seq is not None:
            self.core.bus.publish(self.outcome)

    # ----- the hall's sequence and the event stream ------------------------------------------
    def seq(self) -> int:
        """The hall's next real-time sequence number, taken once per command."""
        if self.outcome.seq is None:
            self.outcome.seq = next_seq(self.c, self.hall.code)
        return self.outcome.seq

    def event(self, kind: str, actor: Actor, *, ticket_id: int | None = None, number: str | None = None,
              service: str | None = None, window: int | None = None,
              data: dict[str, Any] | None = None) -> int:
        """Write one event row (with the command's seq) and its audit entry; returns the event id."""
        kind = str(getattr(kind, "value", kind))
        seq = self.seq()
        event_id: int = _INSERT_EVENT.scalar(self.c, {
            "hall": self.hall.code, "ticket_id": ticket_id, "kind": kind, "at": self.now, "service": service,
            "window": window, "actor": actor.label, "seq": seq, "data": data})
        audit.append(self.c, self.hall.code, self.now, actor.label, kind, ticket=number, pg=self.core.pg,
                     data={"event": event_id, "service": service, "window": window, **(data or {})})
        return event_id

    def emit(self, event: str, payload: dict[str, Any], room: str | None = None) -> None:
        """A push to send once committed (to the hall's room unless another is named)."""
        self.outcome.emits.append(ev.Emit(event, payload, room or ev.hall_room(self.hall.code)))

    def ticket_status(self, row: Row[Any], status: str, **extra: Any) -> None:
        """Tell the ticket's phone page its new status."""
        self.emit(ev.TICKET_STATUS, {"token": row.token, "number": row.number, "status": status, **extra},
                  ev.ticket_room(row.token))

    def after(self, job: str, payload: dict[str, Any]) -> None:
        """A side job for the bus's handlers (announce, sms_called, ...)."""
        self.outcome.after.append((job, payload))

    # ----- rows ------------------------------------------------------------------------------
    def allocate(self, prefix: str, day: Any) -> int:
        """The next number for (hall, prefix, day), atomically, in this transaction."""
        return allocate(self.c, self.core.pg, self.hall.code, prefix, day)

    def window(self, number: int, lock: bool = True) -> Row[Any]:
        """The window's row (locked on PostgreSQL), or NotFound."""
        stmt = _WINDOW_LOCKED if lock and self.core.pg else _WINDOW
        row = stmt.first(self.c, {"b_hall": self.hall.code, "b_number": number})
        if row is None:
            raise NotFound(f"hall {self.hall.code!r} has no window {number}")
        return row

    def active_at(self, number: int) -> Row[Any] | None:
        """The ticket a window holds (called or serving), if any."""
        return _ACTIVE_AT.first(self.c, {"b_hall": self.hall.code, "b_window": number})

    def update_ticket(self, ticket_id: int, expect: str, **values: Any) -> Row[Any]:
        """Change a ticket that is still in state `expect`; returns the new row. Else a conflict."""
        row = _UPDATE_TICKET.first(self.c, {"b_id": ticket_id, "b_expect": expect, **values})
        if row is None:  # someone changed it first; the transaction rolls back
            raise InvalidTransition("the ticket changed meanwhile; try again", "conflict")
        return row

    def find_today(self, ref: str) -> Row[Any]:
        """Today's ticket with a number like A-023, or NotFound."""
        parsed = numbering.parse_number(ref)
        if parsed is None:
            raise InvalidInput(f"{ref!r} is not a ticket number like A-023", "invalid_ticket_number")
        prefix, seqno = parsed
        day = numbering.local_day(self.now, self.hall.tz)
        row = self.c.execute(select(tickets).where(
            tickets.c.hall == self.hall.code, tickets.c.prefix == prefix,
            tickets.c.seq == seqno, tickets.c.day == day)).first()
        if row is None:
            raise NotFound(f"no ticket {ref} today")
        return row


def next_seq(c: Connection, hall: str) -> int:
    """Take the hall's next real-time sequence number in the caller's transaction."""
    return int(_NEXT_SEQ.scalar(c, {"b_hall": hall}))


def allocate(c: Connection, pg: bool, hall: str, prefix: str, day: Any) -> int:
    """The next number for (hall, prefix, day): an atomic upsert in the caller's transaction."""
    stmt = _ALLOCATE.get(pg)
    if stmt is None:
        dialect: Any = postgresql if pg else sqlite
        stmt = _ALLOCATE[pg] = Prepared(dialect.insert(counters).values(
            hall=bindparam("b_hall"), prefix=bindparam("b_prefix"), day=bindparam("b_day"), last=1
        ).on_conflict_do_update(index_elements=[counters.c.hall, counters.c.prefix, counters.c.day],
                                set_={"last": counters.c.last + 1}).returning(counters.c.last))
    return int(stmt.scalar(c, {"b_hall": hall, "b_prefix": prefix, "b_day": day}))
