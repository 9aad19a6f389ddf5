"""What every part of the application layer shares: actors, errors, the clock, a command's effects."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hall_server import events as ev
from hall_server.domain.errors import DomainError

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real clock; tests pass their own."""
    return datetime.now(UTC)


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
    halls: tuple[str, ...] | None = None  # a staff account's halls; None: every hall (admin, governorate)

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}"

    def acts_in(self, hall: str) -> bool:
        """Whether this actor may act in the hall: a device in its own, staff in the halls it carries."""
        if self.hall is not None and self.hall != hall:
            return False
        return self.halls is None or hall in self.halls

    @property
    def is_supervisor(self) -> bool:
        """Supervisors, admins and the system itself may act on any window."""
        return self.role in ("supervisor", "admin") or self.kind == "system"


SYSTEM = Actor("system", "system", "admin")
CITIZEN = Actor("citizen", "citizen", "citizen")


@dataclass
class Outcome:
    """What a committed command leaves for the bus: pushes (emits) and side jobs (announce, sms)."""

    result: Any = None
    emits: list[ev.Emit] = field(default_factory=list)
    hall: str | None = None
    seq: int | None = None
    touched_services: bool = True
    after: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    receipts: dict[str, Any] = field(default_factory=dict)  # what effects tell the caller (a print job)
