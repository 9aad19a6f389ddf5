"""Staff accounts and bearer tokens for staff and devices; only token hashes are stored."""
from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from hall_server.application import Actor, Forbidden, audit, utc_now
from hall_server.domain.errors import DomainError, InvalidInput
from hall_server.storage import api_tokens, is_postgres, read_tx, users, write_tx

STAFF_ROLES = ("clerk", "supervisor", "admin", "back_office")
DEVICE_ROLES = ("kiosk", "board", "announcer", "printer")
_USERNAME_RE = re.compile(r"^[a-z0-9_.-]{2,60}$")
_CACHE_SECONDS = 20.0


class Unauthorized(DomainError):
    """No valid bearer token, or a wrong password."""

    code = "unauthorized"
    status = 401


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Auth:
    """Creates users and tokens and resolves a bearer token to an Actor (with a short cache)."""

    def __init__(self, engine: Engine, token_hours: int = 12, clock: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        self.token_hours = token_hours
        self.clock = clock
        self._cache: dict[str, tuple[float, Actor]] = {}
        self._lock = threading.Lock()

    def add_user(self, username: str, password: str, role: str, full_name: str = "",
                 halls: list[str] | None = None, windows: list[int] | None = None,
                 departments: list[str] | None = None) -> int:
        """Create a staff account; the password is stored hashed."""
        if not _USERNAME_RE.match(username):
            raise InvalidInput("username: 2-60 of a-z 0-9 _ . -", "invalid_username")
        if role not in STAFF_ROLES:
            raise InvalidInput(f"role must be one of {', '.join(STAFF_ROLES)}", "invalid_role")
        if len(password) < 8:
            raise InvalidInput("password must have at least 8 characters", "weak_password")
        try:
            with write_tx(self.engine) as c:
                return c.execute(insert(users).values(
                    username=username, password_hash=generate_password_hash(password), role=role,
                    full_name=full_name, halls=halls, windows=windows, departments=departments, active=True,
                    created_at=self.clock()).returning(users.c.id)).scalar_one()
        except IntegrityError:
            raise DomainError(f"user {username!r} exists", "user_exists") from None

    def user_id(self, username: str) -> int | None:
        """The id of a user account, or None."""
        with read_tx(self.engine) as c:
            uid = c.execute(select(users.c.id).where(users.c.username == username)).scalar()
        return int(uid) if uid is not None else None

    def login(self, username: str, password: str) -> tuple[str, dict[str, Any]]:
        """Check the password and issue a staff token valid for token_hours."""
        with read_tx(self.engine) as c:
            row = c.execute(select(users).where(users.c.username == username)).first()
        now = self.clock()
        pg = is_postgres(self.engine)
        if row is None or not row.active or not check_password_hash(row.password_hash, password):
            with write_tx(self.engine) as c:
                audit.append(c, audit.GLOBAL_CHAIN, now, f"user:{username[:60]}", "login_failed", pg=pg)
            raise Unauthorized("wrong username or password", "bad_credentials")
        token = secrets.token_urlsafe(32)
        with write_tx(self.engine) as c:
            audit.append(c, audit.GLOBAL_CHAIN, now, f"user:{row.username}", "login", pg=pg,
                         data={"role": row.role})
            c.execute(insert(api_tokens).values(
                token_hash=_hash(token), kind="staff", user_id=row.id, role=row.role, hall=None,
                created_at=now, expires_at=now + timedelta(hours=self.token_hours), revoked=False))
        return token, self.user_view(row)

    @staticmethod
    def user_view(row: Any) -> dict[str, Any]:
        return {"id": row.id, "username": row.username, "role": row.role, "full_name": row.full_name,
                "halls": row.halls, "windows": row.windows, "departments": row.departments}

    def add_device(self, hall: str, name: str, role: str) -> str:
        """Create a device token (kiosk, board, announcer, printer) for one hall; shown once."""
        if role not in DEVICE_ROLES:
            raise InvalidInput(f"device role must be one of {', '.join(DEVICE_ROLES)}", "invalid_role")
        if not re.match(r"^[A-Za-z0-9_.-]{1,60}$", name):
            raise InvalidInput("device name: 1-60 of A-Z a-z 0-9 _ . -", "invalid_device_name")
        token = secrets.token_urlsafe(32)
        with write_tx(self.engine) as c:
            c.execute(insert(api_tokens).values(
                token_hash=_hash(token), kind="device", role=role, hall=hall, device_name=name,
                created_at=self.clock(), expires_at=None, revoked=False))
        return token

    def revoke(self, token: str) -> None:
        """Log out: the token stops working at once in this process."""
        with write_tx(self.engine) as c:
            c.execute(update(api_tokens).where(api_tokens.c.token_hash == _hash(token)).values(revoked=True))
        with self._lock:
            self._cache.pop(_hash(token), None)

    def resolve(self, token: str | None) -> Actor | None:
        """The actor behind a bearer token, or None if it is unknown, revoked or expired."""
        if not token:
            return None
        h = _hash(token)
        now_m = time.monotonic()
        with self._lock:
            hit = self._cache.get(h)
            if hit and hit[0] > now_m:
                return hit[1]
        with read_tx(self.engine) as c:
            row = c.execute(select(api_tokens).where(api_tokens.c.token_hash == h)).first()
            user = None
            if row is not None and row.user_id is not None:
                user = c.execute(select(users).where(users.c.id == row.user_id)).first()
        if row is None or row.revoked or (row.expires_at and row.expires_at < self.clock()):
            return None
        if row.kind == "staff":
            if user is None or not user.active:
                return None
            actor = Actor("user", user.username, user.role, user_id=user.id,
                          windows=tuple(user.windows) if user.windows is not None else None,
                          departments=tuple(user.departments) if user.departments is not None else None)
        else:
            actor = Actor("device", row.device_name, row.role, hall=row.hall)
        with self._lock:
            if len(self._cache) > 10000:
                self._cache.clear()
            self._cache[h] = (now_m + _CACHE_SECONDS, actor)
        return actor


def require(actor: Actor | None, roles: tuple[str, ...], hall: str | None = None) -> Actor:
    """The actor if it has one of the roles (and, for a device, belongs to the hall)."""
    if actor is None:
        raise Unauthorized("a bearer token is required", "unauthorized")
    if actor.role not in roles:
        raise Forbidden(f"this needs one of the roles: {', '.join(roles)}")
    if hall is not None and actor.hall is not None and actor.hall != hall:
        raise Forbidden("this device belongs to another hall")
    return actor
