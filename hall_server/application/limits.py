"""Attempt limits shared by every process: failed logins and file inquiries, counted in the database.

Each limit is a row of `attempt_limits` under a key (`login-user:amal`, `login-addr:10.0.0.7`,
`inquiry-file:kfs:2026-1`, `inquiry-addr:kfs:10.0.0.7`). An attempt is counted *before* it is
checked (`begin`), in one write transaction, so parallel attempts cannot slip past the limit
while the first ones are being checked; `failed` turns a count at the limit into a lock that
doubles with each further failure, `succeeded` takes the attempt back (or clears a user's count).
While a key is locked, attempts are refused without being checked at all (429 with Retry-After).
"""
from __future__ import annotations

import ipaddress
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from hall_server.domain.errors import DomainError
from hall_server.storage import attempt_limits, is_postgres, write_tx

# A counted attempt at the limit holds the key this long while its answer is checked.
PENDING = timedelta(seconds=10)
_PURGE_EVERY = 64  # forgotten rows are deleted on every 64th failure of a process


class TooManyAttempts(DomainError):
    """Too many wrong answers for one key: refused without checking, until `retry_after` seconds pass."""

    code = "too_many_attempts"
    status = 429

    def __init__(self, message: str, retry_after: int = 60, code: str | None = None) -> None:
        super().__init__(message, code)
        self.retry_after = max(1, int(retry_after))


@dataclass(frozen=True)
class Policy:
    """One kind of limit: `free` failures, then a lock of `lock` doubling up to `max_lock`."""

    prefix: str
    free: int
    lock: timedelta
    max_lock: timedelta
    forget: timedelta  # failures are forgotten after this much quiet (after the lock ends)
    reset_on_success: bool = False  # a success clears the count (else it only takes its attempt back)

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *(p[:60] for p in parts)))[:120]

    def lock_for(self, failures: int) -> timedelta:
        """The lock after `failures` (at least `free`) failures."""
        return min(self.max_lock, self.lock * 2 ** min(failures - self.free, 30))


LOGIN_USER = Policy("login-user", free=5, lock=timedelta(seconds=30), max_lock=timedelta(minutes=15),
                    forget=timedelta(hours=1), reset_on_success=True)
LOGIN_ADDR = Policy("login-addr", free=20, lock=timedelta(seconds=30), max_lock=timedelta(minutes=15),
                    forget=timedelta(hours=1))
INQUIRY_FILE = Policy("inquiry-file", free=10, lock=timedelta(hours=1), max_lock=timedelta(hours=24),
                      forget=timedelta(hours=24))
INQUIRY_ADDR = Policy("inquiry-addr", free=50, lock=timedelta(minutes=15), max_lock=timedelta(hours=24),
                      forget=timedelta(hours=24))


@dataclass
class Attempt:
    """Keys counted by `begin`, with the pending lock each one got (None below the limit)."""

    at: datetime
    keys: list[tuple[Policy, str]]
    pending: dict[str, datetime | None] = field(default_factory=dict)


def client_address(remote: str | None, forwarded_for: str | None = None) -> str:
    """The caller's address for per-address limits.

    Behind this machine's nginx (a loopback peer) it is the last X-Forwarded-For entry, the address
    nginx saw; from anywhere else the header is ignored (a client cannot pick its own bucket). IPv6
    addresses count per /64, the block one subscriber gets.
    """
    addr = _ip(remote)
    if forwarded_for and (addr is None or addr.is_loopback):
        last = _ip(forwarded_for.split(",")[-1])
        if last is not None:
            addr = last
    if addr is None:
        return "unknown"
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


def _ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None


class Limiter:
    """Counts attempts per key in the database; every process sees the same counts and locks."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.clock = clock
        self.pg = is_postgres(engine)
        dialect = postgresql if self.pg else sqlite
        self._ensure = dialect.insert(attempt_limits).on_conflict_do_nothing(index_elements=[attempt_limits.c.key])
        self._failures = itertools.count(1)
        # Locks this process has seen: refused again without a database round trip until they end.
        # Nothing but time ends a lock (every attempt is refused meanwhile), so this is never wrong
        # for long; another process's locks are seen on its first attempt here.
        self._locked: dict[str, datetime] = {}

    def _row(self, c: Connection, key: str, now: datetime) -> tuple[int, datetime | None]:
        """(failures, locked_until) of a key, its row locked; a forgotten row counts from zero."""
        c.execute(self._ensure.values(key=key, failures=0, locked_until=None, forget_at=now))
        stmt = select(attempt_limits.c.failures, attempt_limits.c.locked_until, attempt_limits.c.forget_at).where(
            attempt_limits.c.key == key)
        if self.pg:
            stmt = stmt.with_for_update()
        failures, locked, forget = c.execute(stmt).one()
        if forget < now:  # forget_at is always after the lock's end
            return 0, None
        return int(failures), locked

    def _set(self, c: Connection, key: str, failures: int, locked: datetime | None, forget: datetime) -> None:
        c.execute(update(attempt_limits).where(attempt_limits.c.key == key).values(
            failures=failures, locked_until=locked, forget_at=forget))

    def begin(self, keys: Sequence[tuple[Policy, str]], message: str) -> Attempt:
        """Count one attempt on every key, or refuse it (TooManyAttempts) if any key is locked."""
        now = self.clock()
        attempt = Attempt(now, sorted(keys, key=lambda k: k[1]))  # one lock order everywhere
        if not attempt.keys:
            return attempt
        known = [self._locked[k] for _, k in attempt.keys if k in self._locked and self._locked[k] > now]
        if known:  # a flood of refused attempts costs no database work
            raise TooManyAttempts(message, math.ceil((max(known) - now).total_seconds()))
        with write_tx(self.engine) as c:
            states = [(policy, key, *self._row(c, key, now)) for policy, key in attempt.keys]
            locks = [(key, locked) for _, key, _, locked in states if locked is not None and locked > now]
            if locks:  # nothing counted: the transaction rolls back
                for key, locked in locks:
                    if locked - now > PENDING:  # a real lock, not an attempt being checked
                        self._remember(key, locked, now)
                wait = max(locked for _, locked in locks) - now
                raise TooManyAttempts(message, math.ceil(wait.total_seconds()))
            for policy, key, failures, _ in states:
                failures += 1
                pending = now + PENDING if failures >= policy.free else None
                attempt.pending[key] = pending
                self._set(c, key, failures, pending, now + policy.forget)
        return attempt

    def failed(self, c: Connection, attempt: Attempt) -> list[tuple[Policy, str, datetime]]:
        """The attempt was wrong: keys at their limit are locked. Returns the locks set, in `c`."""
        now = self.clock()
        locks = []
        for policy, key in attempt.keys:
            failures, locked = self._row(c, key, now)
            if failures >= policy.free:
                locked = now + policy.lock_for(failures)
                locks.append((policy, key, locked))
                self._remember(key, locked, now)
            self._set(c, key, failures, locked, (locked or now) + policy.forget)
        if next(self._failures) % _PURGE_EVERY == 0:
            c.execute(delete(attempt_limits).where(attempt_limits.c.forget_at < now - timedelta(hours=1)))
        return locks

    def _remember(self, key: str, until: datetime, now: datetime) -> None:
        if len(self._locked) > 10000:
            self._locked = {k: u for k, u in self._locked.items() if u > now}
            if len(self._locked) > 10000:
                self._locked.clear()
        self._locked[key] = until

    def succeeded(self, c: Connection, attempt: Attempt, cancel: bool = False) -> None:
        """The attempt was right (or never checked: `cancel`): it is taken back, in `c`."""
        now = self.clock()
        for policy, key in attempt.keys:
            if policy.reset_on_success and not cancel:
                c.execute(delete(attempt_limits).where(attempt_limits.c.key == key))
                self._locked.pop(key, None)
                continue
            failures, locked = self._row(c, key, now)
            if locked is not None and locked == attempt.pending.get(key):
                locked = None  # our own pending lock, not one a failure set meanwhile
            self._set(c, key, max(0, failures - 1), locked, (locked or now) + policy.forget)

    def cancel(self, attempt: Attempt) -> None:
        """Take back an attempt that was never checked (the server was too busy)."""
        if not attempt.keys:
            return
        with write_tx(self.engine) as c:
            self.succeeded(c, attempt, cancel=True)

    def state(self, key: str) -> tuple[int, datetime | None] | None:
        """(failures, locked_until) of a key, for tests and operators; None if it has no row."""
        with self.engine.connect() as c:
            row = c.execute(select(attempt_limits.c.failures, attempt_limits.c.locked_until).where(
                attempt_limits.c.key == key)).first()
        return (int(row[0]), row[1]) if row else None
