"""Staff accounts and bearer tokens for staff and devices; only token hashes are stored.

Every request looks its token up in the database (one indexed SELECT, joined to the user), so a
logout, an expiry, an idle timeout or a deactivated account counts in every process at once.
Logins are limited per user and per address (hall_server.application.limits), answer an unknown
user after the same password hashing as a known one, and hash in a small bounded pool of OS
threads so a flood of wrong passwords cannot stall the event loop that issues tickets.
"""
from __future__ import annotations

import functools
import hashlib
import os
import re
import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from hall_server.application import Actor, Forbidden, audit, utc_now
from hall_server.application.limits import LOGIN_ADDR, LOGIN_USER, Limiter, TooManyAttempts
from hall_server.domain.errors import DomainError, InvalidInput
from hall_server.storage import Prepared, api_tokens, is_postgres, read_one, read_tx, users, write_tx

STAFF_ROLES = ("clerk", "supervisor", "admin", "back_office")
DEVICE_ROLES = ("kiosk", "board", "announcer", "printer")
_USERNAME_RE = re.compile(r"^[a-z0-9_.-]{2,60}$")
T = TypeVar("T")

__all__ = ["Auth", "HashPool", "LoginBusy", "TooManyAttempts", "Unauthorized", "require"]


class Unauthorized(DomainError):
    """No valid bearer token, or a wrong password."""

    code = "unauthorized"
    status = 401


class LoginBusy(DomainError):
    """Every password-hashing slot is taken: try again in a moment (nothing was checked)."""

    code = "login_busy"
    status = 503
    retry_after = 1


class HashPool:
    """Password hashing off the event loop: `workers` OS threads and at most `queue` waiting.

    gevent: a gevent ThreadPool of native threads (the greenlet waits, the loop runs on);
    eventlet: its tpool; threading: a ThreadPoolExecutor; "inline": in the caller (CLI, tests).
    A call beyond workers + queue fails at once with LoginBusy (503) instead of waiting in line.
    """

    def __init__(self, mode: str = "inline", workers: int | None = None, queue: int = 8) -> None:
        self.mode = mode
        # leave a core to the event loop: scrypt releases the GIL, so a hashing thread takes a whole core
        self.workers = workers or max(1, min(2, (os.cpu_count() or 2) - 1))
        self.capacity = self.workers + queue
        self._in_use = 0
        self._lock = threading.Lock()
        self._pool: Any = None

    def _executor(self) -> Any:
        if self._pool is None:
            if self.mode == "gevent":
                from gevent.threadpool import ThreadPool
                self._pool = ThreadPool(self.workers)
            else:
                from concurrent.futures import ThreadPoolExecutor
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="hall-hash")
        return self._pool

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args) on a hashing thread; LoginBusy when every slot and queue place is taken."""
        if self.mode == "inline":
            return fn(*args)
        with self._lock:
            if self._in_use >= self.capacity:
                raise LoginBusy("the server is busy checking passwords; try again in a moment")
            self._in_use += 1
        try:
            if self.mode == "eventlet":
                from eventlet import tpool
                return tpool.execute(fn, *args)
            with self._lock:
                pool = self._executor()
            if self.mode == "gevent":
                return pool.apply(fn, args)
            return pool.submit(fn, *args).result()
        finally:
            with self._lock:
                self._in_use -= 1

    @property
    def in_use(self) -> int:
        return self._in_use


@functools.cache
def _dummy_hash() -> str:
    """A hash of a random password, checked for unknown users so they take as long as known ones."""
    return generate_password_hash(secrets.token_urlsafe(16))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_RESOLVE = Prepared(select(
    api_tokens.c.kind, api_tokens.c.role, api_tokens.c.hall, api_tokens.c.device_name, api_tokens.c.created_at,
    api_tokens.c.expires_at, api_tokens.c.revoked, api_tokens.c.last_seen_at,
    users.c.id.label("uid"), users.c.username, users.c.role.label("user_role"), users.c.windows,
    users.c.departments, users.c.halls, users.c.active,
).select_from(api_tokens.outerjoin(users, users.c.id == api_tokens.c.user_id)).where(
    api_tokens.c.token_hash == bindparam("b_hash")))
_TOUCH = update(api_tokens).where(api_tokens.c.token_hash == bindparam("b_hash")).values(
    last_seen_at=bindparam("b_now"))


class Auth:
    """Creates users and tokens, logs in (limited, constant time, off the loop), resolves tokens."""

    def __init__(self, engine: Engine, token_hours: int = 12, clock: Callable[[], datetime] = utc_now,
                 idle_minutes: int = 0, hasher: HashPool | None = None) -> None:
        self.engine = engine
        self.token_hours = token_hours
        self.idle = timedelta(minutes=idle_minutes) if idle_minutes else None
        # last_seen_at is written at most once per this much per token (not on every request)
        self._touch_every = min(timedelta(minutes=1), self.idle / 5) if self.idle else None
        self.clock = clock
        self.hasher = hasher or HashPool()
        self.limits = Limiter(engine, clock)

    def add_user(self, username: str, password: str, role: str, full_name: str = "",
                 halls: list[str] | None = None, windows: list[int] | None = None,
                 departments: list[str] | None = None, by: str = "cli") -> int:
        """Create a staff account; the password is stored hashed. Audited (who made it, with what
        role and scope) in the chain of no hall; `by` names the operator (the CLI's OS user)."""
        if not _USERNAME_RE.match(username):
            raise InvalidInput("username: 2-60 of a-z 0-9 _ . -", "invalid_username")
        if role not in STAFF_ROLES:
            raise InvalidInput(f"role must be one of {', '.join(STAFF_ROLES)}", "invalid_role")
        if len(password) < 8:
            raise InvalidInput("password must have at least 8 characters", "weak_password")
        now = self.clock()
        try:
            with write_tx(self.engine) as c:
                uid = int(c.execute(insert(users).values(
                    username=username, password_hash=generate_password_hash(password), role=role,
                    full_name=full_name, halls=halls, windows=windows, departments=departments, active=True,
                    created_at=now).returning(users.c.id)).scalar_one())
                audit.append(c, audit.GLOBAL_CHAIN, now, by, "user_created", pg=is_postgres(self.engine),
                             data={"username": username, "role": role, "halls": halls, "windows": windows,
                                   "departments": departments})
                return uid
        except IntegrityError:
            raise DomainError(f"user {username!r} exists", "user_exists") from None

    def user_id(self, username: str) -> int | None:
        """The id of a user account, or None."""
        with read_tx(self.engine) as c:
            uid = c.execute(select(users.c.id).where(users.c.username == username)).scalar()
        return int(uid) if uid is not None else None

    def login(self, username: str, password: str, address: str | None = None) -> tuple[str, dict[str, Any]]:
        """Check the password and issue a staff token valid for token_hours.

        Refused with TooManyAttempts (429) while the user or the address is locked, without
        looking at the password; LoginBusy (503) when the hashing pool is full.
        """
        keys = [(LOGIN_USER, LOGIN_USER.key(username.strip().lower()))]
        if address:
            keys.append((LOGIN_ADDR, LOGIN_ADDR.key(address)))
        attempt = self.limits.begin(keys, "too many failed logins; try again later")
        try:
            with read_tx(self.engine) as c:
                row = c.execute(select(users).where(users.c.username == username)).first()
            # an unknown user costs the same hashing as a known one: the timing tells nothing
            stored = row.password_hash if row is not None else _dummy_hash()
            ok = self.hasher.run(check_password_hash, stored, password)
        except BaseException:
            self.limits.cancel(attempt)
            raise
        now = self.clock()
        pg = is_postgres(self.engine)
        if row is None or not row.active or not ok:
            with write_tx(self.engine) as c:
                locks = self.limits.failed(c, attempt)
                audit.append(c, audit.GLOBAL_CHAIN, now, f"user:{username[:60]}", "login_failed", pg=pg,
                             data={"locked_until": max(u for _, _, u in locks)} if locks else None)
            raise Unauthorized("wrong username or password", "bad_credentials")
        token = secrets.token_urlsafe(32)
        with write_tx(self.engine) as c:
            self.limits.succeeded(c, attempt)
            audit.append(c, audit.GLOBAL_CHAIN, now, f"user:{row.username}", "login", pg=pg,
                         data={"role": row.role})
            c.execute(insert(api_tokens).values(
                token_hash=_hash(token), kind="staff", user_id=row.id, role=row.role, hall=None,
                created_at=now, expires_at=now + timedelta(hours=self.token_hours), revoked=False,
                last_seen_at=now))
        return token, self.user_view(row)

    @staticmethod
    def user_view(row: Any) -> dict[str, Any]:
        return {"id": row.id, "username": row.username, "role": row.role, "full_name": row.full_name,
                "halls": row.halls, "windows": row.windows, "departments": row.departments}

    def add_device(self, hall: str, name: str, role: str, by: str = "cli") -> str:
        """Create a device token (kiosk, board, announcer, printer) for one hall; shown once, stored
        only as a hash. Audited in the hall's chain (the device, its role, a fingerprint of the token)."""
        if role not in DEVICE_ROLES:
            raise InvalidInput(f"device role must be one of {', '.join(DEVICE_ROLES)}", "invalid_role")
        if not re.match(r"^[A-Za-z0-9_.-]{1,60}$", name):
            raise InvalidInput("device name: 1-60 of A-Z a-z 0-9 _ . -", "invalid_device_name")
        token = secrets.token_urlsafe(32)
        now = self.clock()
        with write_tx(self.engine) as c:
            c.execute(insert(api_tokens).values(
                token_hash=_hash(token), kind="device", role=role, hall=hall, device_name=name,
                created_at=now, expires_at=None, revoked=False))
            audit.append(c, hall, now, by, "device_created", pg=is_postgres(self.engine),
                         data={"device": name, "role": role, "token": _hash(token)[:12]})
        return token

    def revoke(self, token: str, actor: Actor | None = None) -> None:
        """Log out: the token stops working at once, in every process (nothing caches it). Audited."""
        now = self.clock()
        with write_tx(self.engine) as c:
            done = c.execute(update(api_tokens).where(api_tokens.c.token_hash == _hash(token),
                                                      api_tokens.c.revoked.is_(False)).values(revoked=True)).rowcount
            if done:
                label = actor.label if actor is not None else "unknown"
                chain = actor.hall if actor is not None and actor.hall else audit.GLOBAL_CHAIN
                audit.append(c, chain, now, label, "logout", pg=is_postgres(self.engine))

    def resolve(self, token: str | None) -> Actor | None:
        """The actor behind a bearer token, or None if it is unknown, revoked, expired or idle too long."""
        if not token or len(token) > 200:
            return None
        h = _hash(token)
        with read_one(self.engine) as c:
            row = _RESOLVE.first(c, {"b_hash": h})
        now = self.clock()
        if row is None or row.revoked or (row.expires_at and row.expires_at < now):
            return None
        if row.kind != "staff":
            return Actor("device", row.device_name, row.role, hall=row.hall)
        if row.uid is None or not row.active:
            return None
        if self.idle is not None and self._touch_every is not None:
            seen = row.last_seen_at or row.created_at
            if now - seen > self.idle:
                return None
            if now - seen >= self._touch_every:
                with write_tx(self.engine) as c:
                    c.execute(_TOUCH, {"b_hash": h, "b_now": now})
        return Actor("user", row.username, row.user_role, user_id=row.uid,
                     windows=tuple(row.windows) if row.windows is not None else None,
                     departments=tuple(row.departments) if row.departments is not None else None,
                     halls=tuple(row.halls) if row.halls else None)


def require(actor: Actor | None, roles: tuple[str, ...], hall: str | None = None) -> Actor:
    """The actor if it has one of the roles and may act in the hall (a device in its own, staff in theirs)."""
    if actor is None:
        raise Unauthorized("a bearer token is required", "unauthorized")
    if actor.role not in roles:
        raise Forbidden(f"this needs one of the roles: {', '.join(roles)}")
    if hall is not None and not actor.acts_in(hall):
        raise Forbidden("this account or device belongs to another hall", "other_hall")
    return actor
