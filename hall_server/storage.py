"""Persistence: the schema, the engine (SQLite WAL or PostgreSQL) and the unit of work."""
from __future__ import annotations

import contextlib
import json
import logging
import operator
import os
import sys
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    false,
    text,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)

metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out, on every database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


halls = Table(
    "halls", metadata,
    Column("code", String(40), primary_key=True),
    Column("seq", Integer, nullable=False, default=0),  # last real-time event number of the hall
    Column("board_message", Text, nullable=True),
)

windows = Table(
    "windows", metadata,
    Column("id", Integer, primary_key=True),
    Column("hall", String(40), ForeignKey("halls.code"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("state", String(10), nullable=False, default="closed"),  # open | paused | closed
    Column("clerk_id", Integer, ForeignKey("users.id"), nullable=True),
    Column("services", JSON, nullable=False),  # ordered service codes, changeable live
    Column("priority_streak", Integer, nullable=False, default=0),
    Column("changed_at", UTCDateTime, nullable=True),
    UniqueConstraint("hall", "number", name="uq_windows_hall_number"),
)

counters = Table(
    "counters", metadata,
    Column("hall", String(40), primary_key=True),
    Column("prefix", String(4), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("last", Integer, nullable=False),
)

tickets = Table(
    "tickets", metadata,
    Column("id", Integer, primary_key=True),
    Column("hall", String(40), ForeignKey("halls.code"), nullable=False),
    Column("prefix", String(4), nullable=False),
    Column("day", Date, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("number", String(16), nullable=False),
    Column("service", String(40), nullable=False),
    Column("priority", String(16), nullable=True),
    Column("status", String(12), nullable=False),
    Column("token", String(40), nullable=False, unique=True),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("queued_at", UTCDateTime, nullable=False),  # original issue time: keeps place on transfer
    Column("called_at", UTCDateTime, nullable=True),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("window", Integer, nullable=True),  # the window holding or last holding it
    Column("target_window", Integer, nullable=True),  # set when transferred to one window
    Column("recall_count", Integer, nullable=False, default=0),
    Column("outcome", String(24), nullable=True),
    Column("phone", String(20), nullable=True),
    Column("request_file", String(32), nullable=True),
    Column("eta_at_issue", Integer, nullable=True),
    Column("people_ahead_at_issue", Integer, nullable=True),
    Column("device", String(60), nullable=True),
    Column("idempotency_key", String(80), nullable=True),
    Column("near_notified", Boolean, nullable=False, default=False, server_default=false()),
    UniqueConstraint("hall", "prefix", "day", "seq", name="uq_tickets_number"),
    UniqueConstraint("hall", "idempotency_key", name="uq_tickets_idempotency"),
)
# call-next reads the head of each service's priority list: a short index of the few priority tickets
Index("ix_tickets_waiting_priority", tickets.c.hall, tickets.c.status, tickets.c.service, tickets.c.queued_at,
      sqlite_where=text("priority IS NOT NULL"), postgresql_where=text("priority IS NOT NULL"))
# ... and the head of the tickets sent to one window (transfers)
Index("ix_tickets_targeted", tickets.c.hall, tickets.c.status, tickets.c.target_window, tickets.c.queued_at,
      sqlite_where=text("target_window IS NOT NULL"), postgresql_where=text("target_window IS NOT NULL"))
# the near-turn SMS scan reads only tickets with a phone number
Index("ix_tickets_phone", tickets.c.hall, tickets.c.status,
      sqlite_where=text("phone IS NOT NULL"), postgresql_where=text("phone IS NOT NULL"))
# The active states (domain.tickets.ACTIVE) as SQL. The database itself guarantees that a window holds
# at most one active ticket; a query with this same text reads that index (SQLite matches a partial
# index's condition by its text, not by bound values) and has no IN list to expand per execution.
ACTIVE_SQL = "status IN ('called', 'serving')"
Index("ix_tickets_one_active_per_window", tickets.c.hall, tickets.c.window, unique=True,
      sqlite_where=text(ACTIVE_SQL), postgresql_where=text(ACTIVE_SQL))
# Each service's queue in call order. target_window comes before queued_at: the per-service lists are
# the untargeted tickets (target_window IS NULL, an equality here), so their heads still come in order,
# and counting the people ahead of a new ticket reads this index alone (20 µs for 280 waiting of one
# service instead of 77 with a row lookup each: it ran on every issue; migration 0007).
Index("ix_tickets_waiting", tickets.c.hall, tickets.c.status, tickets.c.service, tickets.c.target_window,
      tickets.c.queued_at)

ticket_events = Table(
    "ticket_events", metadata,
    Column("id", Integer, primary_key=True),
    Column("hall", String(40), nullable=False),
    Column("ticket_id", Integer, ForeignKey("tickets.id"), nullable=True),
    Column("kind", String(24), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("service", String(40), nullable=True),
    Column("window", Integer, nullable=True),
    Column("actor", String(80), nullable=True),
    Column("seq", Integer, nullable=True),
    Column("data", JSON, nullable=True),
)
Index("ix_ticket_events_hall_at", ticket_events.c.hall, ticket_events.c.at)
Index("ix_ticket_events_ticket", ticket_events.c.ticket_id)

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(60), nullable=False, unique=True),
    Column("password_hash", String(256), nullable=False),
    Column("role", String(20), nullable=False),  # clerk | supervisor | admin | back_office
    Column("full_name", String(120), nullable=False, default=""),
    Column("halls", JSON, nullable=True),  # hall codes this user works in; null = all
    Column("windows", JSON, nullable=True),  # window numbers a clerk may use; null = any
    Column("departments", JSON, nullable=True),  # back-office departments (sector codes); null = all
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False),
)

api_tokens = Table(
    "api_tokens", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("kind", String(10), nullable=False),  # staff | device
    Column("user_id", Integer, ForeignKey("users.id"), nullable=True),
    Column("role", String(20), nullable=False),
    Column("hall", String(40), nullable=True),
    Column("device_name", String(60), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("revoked", Boolean, nullable=False, default=False),
    Column("last_seen_at", UTCDateTime, nullable=True),
)


# Failed attempts shared by every process: logins per user and per address, file inquiries per
# file and per address (hall_server.application.limits). A row is forgotten after forget_at.
attempt_limits = Table(
    "attempt_limits", metadata,
    Column("key", String(120), primary_key=True),  # e.g. login-user:amal, inquiry-file:kfs:2026-1
    Column("failures", Integer, nullable=False),
    Column("locked_until", UTCDateTime, nullable=True),
    Column("forget_at", UTCDateTime, nullable=False),
)
Index("ix_attempt_limits_forget_at", attempt_limits.c.forget_at)


request_files = Table(
    "request_files", metadata,
    Column("id", Integer, primary_key=True),
    Column("hall", String(40), ForeignKey("halls.code"), nullable=False),
    Column("year", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("number", String(16), nullable=False),
    Column("service", String(40), nullable=False),
    Column("status", String(20), nullable=False),
    Column("department", String(40), nullable=False),
    Column("citizen_name", String(120), nullable=False),
    Column("national_id", String(14), nullable=False),
    Column("mobile", String(15), nullable=True),
    Column("fee", Float, nullable=False, default=0.0),
    Column("documents", JSON, nullable=False),  # [{"ar", "en", "received"}] from the catalog
    Column("received_at", UTCDateTime, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("closed_at", UTCDateTime, nullable=True),
    Column("reason", Text, nullable=True),  # why rejected / which documents are missing
    Column("ticket_id", Integer, ForeignKey("tickets.id"), nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("hall", "year", "seq", name="uq_request_files_number"),
)
Index("ix_request_files_queue", request_files.c.hall, request_files.c.department, request_files.c.status,
      request_files.c.due_date)

file_events = Table(
    "file_events", metadata,
    Column("id", Integer, primary_key=True),
    Column("file_id", Integer, ForeignKey("request_files.id"), nullable=False),
    Column("hall", String(40), nullable=False),
    Column("kind", String(24), nullable=False),  # received, status, moved, documents, viewed_national_id
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(80), nullable=True),
    Column("from_status", String(20), nullable=True),
    Column("to_status", String(20), nullable=True),
    Column("department", String(40), nullable=True),
    Column("data", JSON, nullable=True),
)
Index("ix_file_events_file", file_events.c.file_id)


audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True),
    Column("chain", String(40), nullable=False),  # the hall's code, or "*" for logins
    Column("n", Integer, nullable=False),  # position in the chain, from 1
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(80), nullable=False),
    Column("action", String(40), nullable=False),
    Column("ticket", String(16), nullable=True),
    Column("file", String(16), nullable=True),
    Column("data", JSON, nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("chain", "n", name="uq_audit_log_chain_n"),
)
Index("ix_audit_log_actor", audit_log.c.actor)
Index("ix_audit_log_ticket", audit_log.c.ticket)
Index("ix_audit_log_file", audit_log.c.file)

audit_heads = Table(
    "audit_heads", metadata,
    Column("chain", String(40), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)


# Outbound SMS, written in the transaction of the change that caused them and sent by a worker
# (hall_server.sms.SmsOutbox): pending -> sending (claimed, with a lease) -> sent | pending | failed.
sms_outbox = Table(
    "sms_outbox", metadata,
    Column("id", Integer, primary_key=True),
    Column("hall", String(40), nullable=False),
    Column("phone", String(32), nullable=False),
    Column("text", Text, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("status", String(10), nullable=False),  # pending, sending, sent, failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
)
Index("ix_sms_outbox_due", sms_outbox.c.status, sms_outbox.c.next_attempt_at)


def _sqlite_setup(engine: Engine) -> None:
    """WAL, a busy timeout, and BEGIN IMMEDIATE for writes so writers queue instead of failing."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=FULL")  # a committed ticket survives a power cut
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        kind = getattr(conn, _KIND, None)  # set by each use (`_Lease`) or by `for_writes`
        if kind == "single":
            return  # read_one: the statement is its own transaction
        sql = "BEGIN IMMEDIATE" if kind == "write" else "BEGIN DEFERRED"
        # on the driver's connection (SQLAlchemy's execute cost more than the BEGIN itself, 2.7% of an
        # issue under load); its error comes back as SQLAlchemy's, as the execute's would (a database
        # out of reach is a 503)
        dbapi_conn = conn.connection.dbapi_connection
        try:
            dbapi_conn.execute(sql)  # type: ignore[union-attr]
        except engine.dialect.loaded_dbapi.Error as err:
            gone = bool(engine.dialect.is_disconnect(err, dbapi_conn, None))
            raise sa_exc.DBAPIError.instance(sql, (), err, engine.dialect.loaded_dbapi.Error,
                                             connection_invalidated=gone, dialect=engine.dialect) from err


def make_engine(url: str, keep_connections: bool = False, **kwargs: Any) -> Engine:
    """Create the engine for a database URL, tuned for the hall's short write transactions.

    `keep_connections` (SQLite; the server under gevent or eventlet): connections stay open between
    uses (`_Kept`). A kept connection is checked out of the pool, and SQLAlchemy holds every
    checked-out connection, its pool and so the engine until it is given back: such an engine lives
    until `dispose()`, which the long-lived server's one engine needs no more than a tool's does.
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               pool_size=20, max_overflow=20, **kwargs)
        _sqlite_setup(engine)
        if keep_connections:
            engine._hall_kept = _Kept(engine)  # type: ignore[attr-defined]
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    # connect_timeout: a database host out of reach fails a request in 5 s (a 503) instead of hanging
    connect_args = {"connect_timeout": 5, **kwargs.pop("connect_args", {})}
    return create_engine(url, pool_size=20, max_overflow=30, pool_pre_ping=True, connect_args=connect_args,
                         **kwargs)


# ----- the database out of reach --------------------------------------------------------------------
_SQLITE_UNREACHABLE = ("unable to open database file", "disk i/o error", "database is locked",
                       "database disk image is malformed", "readonly database")
# SQLSTATE classes meaning "the server or the connection", not "the statement": connection exception,
# insufficient resources, operator intervention (shutdown), system error.
_PG_UNREACHABLE = ("08", "53", "57P", "58")


def db_unavailable(exc: BaseException) -> bool:
    """Whether an exception means the database cannot be reached now (retry later), not a bug."""
    if isinstance(exc, (sa_exc.TimeoutError, sa_exc.DisconnectionError)):  # pool exhausted, connection gone
        return True
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, sa_exc.OperationalError):
        return False  # integrity, data, programming errors stay what they are
    orig = exc.orig
    state = getattr(orig, "sqlstate", None)
    if state is not None:
        return str(state).startswith(_PG_UNREACHABLE)
    if type(orig).__module__.startswith("psycopg"):
        return True  # a client-side OperationalError without SQLSTATE: the connection could not be made
    message = str(orig).lower()
    return any(m in message for m in _SQLITE_UNREACHABLE)


def is_postgres(engine: Engine) -> bool:
    """True when the database has row locks with SKIP LOCKED."""
    return engine.dialect.name == "postgresql"


class _Kept:
    """SQLite: SQLAlchemy Connections kept open between uses, for writes and single reads alike.

    Taking a connection from the pool and giving it back (the pool's queue and locks, a new
    Connection, its reset) cost 13% of the server's time issuing tickets under load, more than the
    statements of a token lookup. And one connection for both: SQLite drops a connection's page cache
    when another connection has written, so a token lookup on a connection other than the writer's
    cost 71 µs after each issue instead of 18 (in process); the last one given back is taken first.
    A connection is kept only when its use ended cleanly (no transaction left, not invalidated);
    `engine.dispose()` closes the kept ones' driver connections at once, and one in use meanwhile is
    closed when given back. Only for engines made with `keep_connections` (the server's). PostgreSQL
    keeps the pool's checkout: its pre-ping finds a connection the server has dropped meanwhile.
    """

    KEEP = 8  # more at once come from the pool and go back to it

    def __init__(self, engine: Engine) -> None:
        # no lock: list.pop and list.append are atomic; two connections given back at once may leave
        # one more than KEEP kept, which is harmless
        self.free: list[Connection] = []
        self.generation = 0  # one more at each dispose: a connection taken before it is not kept after
        event.listen(engine, "engine_disposed", lambda _engine: self.close_all())

    def take(self) -> Connection | None:
        try:
            return self.free.pop()
        except IndexError:
            return None

    def close_all(self) -> None:
        """engine.dispose(): the kept connections' driver connections are closed now (invalidated: the
        pool they came from is already replaced, and closing would only hand them back to it)."""
        self.generation += 1
        kept, self.free = self.free, []
        for conn in kept:
            _close(conn, invalidate=True)


def _close(conn: Connection, invalidate: bool) -> None:
    try:
        if invalidate and not conn.closed:
            conn.invalidate()
        conn.close()
    except Exception:  # closing must not fail the request or the dispose that asked for it
        log.warning("a SQLite connection could not be closed", exc_info=True)


# What the begin event (`_sqlite_setup`) reads, set on the Connection for each use: a write begins
# IMMEDIATE, a single read begins nothing, anything else DEFERRED. A plain attribute, not an execution
# option: setting options on a kept connection at every lease cost 1.6% of an issue under load.
_KIND = "_hall_kind"


def for_writes(conn: Connection) -> Connection:
    """Mark a connection of one's own (migrations, tools) so that its transactions begin IMMEDIATE."""
    setattr(conn, _KIND, "write")
    return conn


class _Lease:
    """A connection for one use (`write_tx`, `read_one`): a kept one (`_Kept`) when the engine keeps
    them, else the pool's. A class, not a generator context manager: it runs twice per request."""

    __slots__ = ("engine", "kind", "conn", "kept", "generation", "plain")

    def __init__(self, engine: Engine, kind: str) -> None:
        self.engine, self.kind = engine, kind
        self.kept: _Kept | None = getattr(engine, "_hall_kept", None)
        self.generation = 0
        self.plain: Connection | None = None

    def __enter__(self) -> Connection:
        kept = self.kept
        if kept is None:
            conn = self.plain = self.engine.connect()
        else:
            self.generation = kept.generation
            conn = kept.take() or self.engine.connect()
        setattr(conn, _KIND, self.kind)
        self.conn = conn
        return conn

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        self.release(clean=kind is None)

    def release(self, clean: bool) -> None:
        if self.plain is not None:
            self.plain.close()  # back to the pool, which resets it
            return
        conn, kept = self.conn, self.kept
        assert kept is not None
        kept_it = False
        if clean and not conn.invalidated and not conn.closed and self.generation == kept.generation:
            try:
                if conn.in_transaction():
                    conn.rollback()  # a read's implicit transaction: ended, as the pool's reset would
                if len(kept.free) < _Kept.KEEP:
                    kept.free.append(conn)
                    kept_it = True
            except Exception:  # a connection that cannot even roll back is not kept
                log.warning("a SQLite connection could not be reset; closing it", exc_info=True)
        if not kept_it:
            _close(conn, invalidate=self.generation != kept.generation)  # taken before a dispose: closed now



# ----- group commit: SQLite under gevent (the server) ------------------------------------------------
WRITER_WAIT_S = 30.0  # as SQLite's busy timeout: a writer that waits longer for its turn gets a 503
_SAVEPOINT = "hall_w"


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



class BatchFailed(sa_exc.DisconnectionError):
    """A write that was done but not kept: the commit it shared with others failed. Retry it (a 503)."""


class _Batch:
    """The writes one COMMIT makes durable: one transaction, a savepoint per write."""

    __slots__ = ("lease", "conn", "dbapi", "tx", "done", "error", "poison", "writes")

    def __init__(self, lease: _Lease, conn: Connection, tx: Any, done: Any) -> None:
        self.lease, self.conn, self.tx, self.done = lease, conn, tx, done
        self.dbapi: Any = conn.connection.dbapi_connection
        self.error: BaseException | None = None  # why the batch was not kept (its members raise BatchFailed)
        self.poison: BaseException | None = None  # a write left the transaction unusable: roll it all back
        self.writes = 0  # the writes it keeps


class _Group:
    """Group commit for one SQLite engine under gevent, on the loop's thread.

    Each write (`write_tx`) runs alone, in its turn on a cooperative lock (not SQLite's busy handler,
    which would sleep inside the event loop), inside a savepoint of the open batch's transaction: a
    write that fails rolls back to its savepoint and leaves the others' alone. The writer then waits
    for the batch's COMMIT: nothing is answered or published before its write is durable
    (synchronous=FULL). The COMMIT is a greenlet of its own, spawned when the batch opens: it runs
    when the loop next runs its callbacks, after the greenlets woken with the first writer (the
    requests whose data came in with its own), which reach their writes and join. One fsync for the
    writes of a burst instead of one each, and a request alone waits only for a switch. (Waiting for
    the loop to be idle made bigger batches, but then a commit waited behind whatever else became
    ready, a rebuild of the live state included.) If the COMMIT fails, or a write breaks the
    transaction itself (a lost connection, a disk error), nothing of the batch is kept and each of
    its writers gets `BatchFailed`, a 503 to retry.

    The COMMIT runs where `CommitPace` says: on the loop while the disk syncs fast, else on the hub's
    thread pool, so the other requests' parsing, token lookups and reads go on meanwhile (the
    writers' lock is held either way). The hand-off to a thread is not free: the thread needs the GIL
    back after the fsync, and the loop keeps it up to the interpreter's switch interval. Elsewhere
    (threading mode, PostgreSQL, tools, a native thread) `write_tx` is one transaction per write.
    HALL_COMMIT_OFF_LOOP: "auto" (default), "1" always on the thread pool, "0" always inline.
    """

    def __init__(self, engine: Engine, hub: Any) -> None:
        from gevent import monkey
        from gevent.lock import Semaphore
        self._engine = weakref.ref(engine)  # not a strong one: the engine keys this group weakly (`_GROUPS`)
        self.hub = hub
        self.writers = Semaphore(1)
        self.batch: _Batch | None = None
        self.pace = CommitPace(os.environ.get("HALL_COMMIT_OFF_LOOP", "auto"))
        self._thread_id = monkey.get_original("threading", "get_ident")
        self.commits = 0  # batches ended (kept or not) and writes kept: for tests and benches
        self.kept = 0

    @property
    def engine(self) -> Engine:
        engine = self._engine()
        assert engine is not None  # a write_tx in progress holds its engine
        return engine

    @staticmethod
    def of(engine: Engine) -> _Group | None:
        got = _GROUPS.get(engine, _UNSET)  # weak: the group holds its engine, which must still be freed
        if got is _UNSET:
            hub = _gevent_hub() if engine.dialect.name == "sqlite" else None
            got = _GROUPS[engine] = _Group(engine, hub) if hub is not None else None
        if got is None:
            return None  # PostgreSQL (psycopg waits cooperatively, writers take row locks), or no gevent
        return got if got._thread_id() == got.hub.thread_ident else None

    def enter(self) -> _Batch:
        """Wait for this write's turn; its savepoint in the open batch (a new batch if none is open)."""
        while True:
            if not self.writers.acquire(timeout=WRITER_WAIT_S):
                raise sa_exc.OperationalError("BEGIN IMMEDIATE", None, _sqlite_error("database is locked"))
            batch = self.batch
            if batch is None or (batch.poison is None and batch.dbapi.in_transaction):
                break
            # a write ended the open batch's transaction: joining it would write outside any
            # transaction (SAVEPOINT would begin one, RELEASE commit it); wait for its end instead
            batch.poison = batch.poison or _sqlite_error("the transaction was ended under the batch")
            self.writers.release()
            batch.done.wait()
        try:
            if batch is None:
                batch = self._open()
            batch.dbapi.execute("SAVEPOINT " + _SAVEPOINT)
        except BaseException as err:
            if batch is not None:
                batch.poison = batch.poison or err
            self.writers.release()
            converted = _as_sa_error(self.engine, "SAVEPOINT", err)
            if converted is err:
                raise
            raise converted from err
        return batch

    def _open(self) -> _Batch:
        from gevent import spawn
        from gevent.event import Event
        lease = _Lease(self.engine, "write")
        conn = lease.__enter__()
        try:
            tx = conn.begin()  # BEGIN IMMEDIATE (`_sqlite_setup`)
        except BaseException:
            lease.release(clean=False)
            raise
        batch = self.batch = _Batch(lease, conn, tx, Event())
        spawn(self._commit, batch)
        return batch

    def exit(self, batch: _Batch, ok: bool) -> None:
        """The write is over: keep it in the batch (and wait for the COMMIT), or roll it back alone."""
        try:
            dbapi = batch.dbapi
            if ok:
                dbapi.execute("RELEASE " + _SAVEPOINT)
            else:
                dbapi.execute("ROLLBACK TO " + _SAVEPOINT)
                dbapi.execute("RELEASE " + _SAVEPOINT)
            if not dbapi.in_transaction or batch.conn.invalidated:  # SQLite rolled it all back (a full disk)
                raise _sqlite_error("the transaction was rolled back")
            if ok:
                batch.writes += 1
        except Exception as err:  # the savepoint cannot be ended: nothing of the batch can be trusted
            log.warning("a write's savepoint could not be ended: its whole batch is rolled back", exc_info=True)
            batch.poison = batch.poison or err
        finally:
            self.writers.release()
        if not ok:
            return  # the write's own error goes on (write_tx.__exit__ returns None)
        batch.done.wait()
        if batch.error is not None:
            raise BatchFailed(f"the commit this write shared failed, nothing was kept: {batch.error}") \
                from batch.error

    def _commit(self, batch: _Batch) -> None:
        """The batch's COMMIT, once the writers ready with the first have joined; then wake them."""
        taken = False
        try:
            self.writers.acquire()  # after every write queued for its turn before now: they join this batch
            taken = True
            self.batch = None
            if batch.poison is not None:
                raise batch.poison
            self._sync(batch.conn)
            batch.tx.commit()  # SQLAlchemy's bookkeeping (sqlite3 does nothing outside a transaction)
            self.kept += batch.writes
        except BaseException as err:
            batch.error = err
            try:
                batch.tx.rollback()
            except Exception:
                log.warning("a failed batch could not be rolled back", exc_info=True)
            if not isinstance(err, Exception):
                raise  # GreenletExit, KeyboardInterrupt: after the writers are told (finally)
        finally:
            if self.batch is batch:
                self.batch = None
            batch.lease.release(clean=batch.error is None)
            self.commits += 1
            if taken:
                self.writers.release()
            batch.done.set()

    def _sync(self, conn: Connection) -> None:
        """COMMIT inline and timed, or on the hub's thread pool (the writers wait, the loop does not)."""
        dbapi_conn = conn.connection.dbapi_connection
        try:
            if self.pace.inline_next():
                t0 = time.perf_counter()
                dbapi_conn.commit()  # type: ignore[union-attr]
                self.pace.observed(time.perf_counter() - t0)
            else:
                self.hub.threadpool.apply(dbapi_conn.commit)  # type: ignore[union-attr]
        except Exception as err:
            raise _as_sa_error(self.engine, "COMMIT", err) from err


_UNSET: Any = object()
_GROUPS: weakref.WeakKeyDictionary[Engine, _Group | None] = weakref.WeakKeyDictionary()


def _sqlite_error(message: str) -> Exception:
    import sqlite3
    return sqlite3.OperationalError(message)


def _as_sa_error(engine: Engine, sql: str, err: BaseException) -> BaseException:
    """A driver's error as SQLAlchemy's (what `db_unavailable` reads); anything else as it is."""
    dbapi = engine.dialect.loaded_dbapi
    if isinstance(err, dbapi.Error):
        return sa_exc.DBAPIError.instance(sql, (), err, dbapi.Error, dialect=engine.dialect)
    return err


class write_tx:  # named as the function it replaced: `with write_tx(engine) as c:`
    """A write transaction: committed on success, rolled back on any error (under gevent on SQLite,
    a savepoint in a batch that one COMMIT makes durable: `_Group`)."""

    __slots__ = ("lease", "tx", "group", "batch")

    def __init__(self, engine: Engine) -> None:
        self.group = _Group.of(engine)
        if self.group is None:
            self.lease = _Lease(engine, "write")

    def __enter__(self) -> Connection:
        if self.group is not None:
            self.batch = self.group.enter()
            return self.batch.conn
        conn = self.lease.__enter__()
        try:
            self.tx = conn.begin()
            self.tx.__enter__()  # the transaction's own context: its commit, rollback and guards, as `with`
        except BaseException:
            self.lease.release(clean=False)
            raise
        return conn

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if self.group is not None:
            self.group.exit(self.batch, kind is None)  # raises BatchFailed if the shared COMMIT failed
            return
        clean = False
        try:
            self.tx.__exit__(kind, exc, tb)  # commits (rolls back if that fails), or rolls back
            clean = kind is None
        finally:
            self.lease.release(clean)


def read_one(engine: Engine) -> _Lease:
    """A connection for ONE read statement, which sees one consistent state by itself: on SQLite it
    runs in its own implicit transaction (no BEGIN and COMMIT around it: the token lookup of every
    request went from 243 to 185 µs in process); PostgreSQL begins one implicitly as always."""
    return _Lease(engine, "single")


@contextmanager
def read_tx(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction with a consistent view: every statement sees the same committed state.

    SQLite's read transaction is one snapshot already; PostgreSQL's default READ COMMITTED gives each
    statement the latest commit, so a view read in several queries could mix two states: there the
    transaction is REPEATABLE READ (one snapshot, taken at its first query) and READ ONLY.
    """
    with engine.connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield conn


def dumps(value: Any) -> str:
    """JSON text for logs and the event stream (Arabic kept readable)."""
    return json.dumps(value, ensure_ascii=False, default=str)


# ----- the hot paths' statements ----------------------------------------------------------------------
class PreparedRow(tuple):  # type: ignore[type-arg]
    """A result row of a Prepared statement: a tuple with the columns as attributes (like SQLAlchemy's Row)."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(zip(self._fields, self, strict=True))

    def __getattr__(self, name: str) -> Any:  # only for names the row class does not define
        raise AttributeError(f"row has no column {name!r} (columns: {', '.join(self._fields)})")


def _row_class(keys: tuple[str, ...]) -> type[PreparedRow]:
    ns: dict[str, Any] = {"__slots__": (), "_fields": keys}
    for i, key in enumerate(keys):
        ns[key] = property(operator.itemgetter(i))
    return type("PreparedRow", (PreparedRow,), ns)


class _Plan:
    """One statement compiled for one dialect: SQL text, bind order and processors, row type."""

    def __init__(self, stmt: Any, dialect: Any, keys: tuple[str, ...] | None) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(keys) if keys is not None else None)
        if compiled.literal_execute_params or compiled.post_compile_params or compiled.escaped_bind_names:
            raise TypeError("Prepared: expanding (IN), literal or escaped binds are not supported")
        self.sql: str = compiled.string
        self.defaults: dict[str, Any] = {}
        for col in (*compiled.insert_prefetch, *compiled.update_prefetch):
            default = col.default if col in compiled.insert_prefetch else col.onupdate
            if default is None or not default.is_scalar:
                raise TypeError(f"Prepared: column {col.key!r} has a default computed per row; give its value")
            self.defaults[col.key] = default.arg
        binds = compiled.binds
        self.names: tuple[str, ...] = tuple(compiled.positiontup) if compiled.positional \
            else tuple(dict.fromkeys(compiled.bind_names.values()))
        self.positional = bool(compiled.positional)
        self.accepts = frozenset(self.names)
        fixed = {name: binds[name].value for name in self.names  # literal values in the statement
                 if name not in self.defaults and binds[name].callable is None and not binds[name].required}
        self.fixed: dict[str, Any] = {**fixed, **self.defaults}
        procs = [binds[name].type._cached_bind_processor(dialect) for name in self.names]
        self.bind_procs = [(i, proc) for i, proc in enumerate(procs) if proc is not None]
        columns = compiled._result_columns
        self.result_types = [entry.type for entry in columns]
        # whether the driver's rows are already the values (Prepared.tuples): no column to convert
        self.raw_ok = not any(t._cached_result_processor(dialect, None) is not None for t in self.result_types)
        self.row_class = _row_class(tuple(entry.keyname for entry in columns)) if columns else None
        self.result_procs: list[tuple[int, Any]] | None = None
        self.dialect = dialect

    def params(self, given: dict[str, Any]) -> Any:
        if not self.accepts.issuperset(given):
            raise TypeError(f"values for no bind of this statement: {sorted(set(given) - self.accepts)}")
        values = {**self.fixed, **given} if self.fixed else given
        out = [values[name] for name in self.names]
        for i, proc in self.bind_procs:
            out[i] = proc(out[i])
        return tuple(out) if self.positional else dict(zip(self.names, out, strict=True))

    def rows(self, raw: Sequence[Any], description: Any) -> list[Any]:
        procs = self.result_procs
        if procs is None:
            procs = self.result_procs = [
                (i, proc) for i, (t, d) in enumerate(zip(self.result_types, description, strict=True))
                if (proc := t._cached_result_processor(self.dialect, d[1])) is not None]
        assert self.row_class is not None
        make = self.row_class
        if not procs:
            return [make(r) for r in raw]
        out = []
        for r in raw:
            values = list(r)
            for i, proc in procs:
                values[i] = proc(values[i])
            out.append(make(values))
        return out


class Prepared:
    """A Core statement compiled once per dialect and run straight on the connection's DBAPI cursor.

    For the statements every ticket runs (issue, call-next, the token lookup): SQLAlchemy's execute
    spends 13 to 60 µs of Python per statement around the driver's 2 to 21 (cache key, execution
    context, events, result metadata). The statement is still SQLAlchemy's, compiled by its dialect,
    and its values go through SQLAlchemy's own bind and result processors, so what goes in and comes
    out is what `Connection.execute` gives (checked on both databases in the storage contract tests);
    a driver error comes back as SQLAlchemy's. Named binds only; for an INSERT, `keys` fixes the
    columns given (scalar defaults fill the others); `varying=True`: the columns an INSERT or UPDATE
    sets are the keys of each call's values (one compiled plan per set of keys). It runs in the
    connection's transaction.
    """

    def __init__(self, stmt: Any, keys: tuple[str, ...] | None = None, varying: bool = False) -> None:
        self.stmt, self.keys, self.varying = stmt, keys, varying
        self._plans: dict[Any, _Plan] = {}

    def _plan(self, c: Connection, params: dict[str, Any]) -> _Plan:
        dialect = (c.dialect.name, c.dialect.driver)
        at: Any = (dialect, tuple(params)) if self.varying else dialect
        plan = self._plans.get(at)
        if plan is None:
            plan = self._plans[at] = _Plan(self.stmt, c.dialect, tuple(params) if self.varying else self.keys)
        return plan

    def _run(self, c: Connection, params: dict[str, Any], fetch: bool, raw: bool = False) -> tuple[_Plan, Any]:
        plan = self._plan(c, params)
        try:
            args = plan.params(params)
        except Exception as err:  # a value the column's type refuses (a naive datetime): as execute says it
            raise sa_exc.StatementError(str(err), plan.sql, params, err) from err
        dbapi_conn = c.connection.dbapi_connection
        assert dbapi_conn is not None
        cursor = None
        try:
            cursor = dbapi_conn.cursor()
            cursor.execute(plan.sql, args)
            if raw:
                return plan, cursor.fetchall()
            if not fetch:
                return plan, cursor.rowcount
            return plan, plan.rows(cursor.fetchall(), cursor.description) if plan.row_class else []
        except c.dialect.loaded_dbapi.Error as err:
            gone = bool(c.dialect.is_disconnect(err, dbapi_conn, cursor))
            if gone:
                c.invalidate(err)
            raise sa_exc.DBAPIError.instance(plan.sql, args, err, c.dialect.loaded_dbapi.Error,
                                             connection_invalidated=gone, dialect=c.dialect) from err
        finally:
            if cursor is not None:
                with contextlib.suppress(Exception):  # a connection closed under it: the error above says so
                    cursor.close()

    def all(self, c: Connection, params: dict[str, Any]) -> list[Any]:
        return self._run(c, params, True)[1]  # type: ignore[no-any-return]

    def tuples(self, c: Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The rows as the driver gives them: for a statement whose columns need no result processing
        (checked), a large read skips making a row object of each."""
        if not self._plan(c, params).raw_ok:
            raise TypeError("Prepared.tuples: a column of this statement needs result processing; use all()")
        return self._run(c, params, False, raw=True)[1]  # type: ignore[no-any-return]

    def first(self, c: Connection, params: dict[str, Any]) -> Any:
        rows = self.all(c, params)
        return rows[0] if rows else None

    def one(self, c: Connection, params: dict[str, Any]) -> Any:
        rows = self.all(c, params)
        if len(rows) != 1:
            raise sa_exc.NoResultFound("no row") if not rows else sa_exc.MultipleResultsFound("more than one row")
        return rows[0]

    def scalar(self, c: Connection, params: dict[str, Any]) -> Any:
        return self.one(c, params)[0]

    def run(self, c: Connection, params: dict[str, Any]) -> int:
        """A statement without rows (or whose rows are not wanted); returns the row count."""
        return self._run(c, params, False)[1]  # type: ignore[no-any-return]
