"""Commands: what a person or device asks the hall to do, as plain data.

Each command has one handler in the application layer (hall_server/application/), in the shape
"unit of work, domain rule, commit"; the effects that follow a commit (pushes, print, voice, SMS)
are the bus's business, never the handler's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Command:
    """Base of every command: the hall it acts in and who asks (an application-layer Actor)."""

    hall: str
    actor: Any


@dataclass(frozen=True)
class IssueTicket(Command):
    """A kiosk (or staff) takes a ticket for a service."""

    service: str
    priority: str | None = None
    request_file: str | None = None
    phone: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class CancelTicket:
    """The citizen gives up a waiting (or parked) ticket, by its token."""

    token: str
    actor: Any


@dataclass(frozen=True)
class CallNext(Command):
    """A clerk asks for the next citizen; the call policy picks."""

    window: int


@dataclass(frozen=True)
class CallTicket(Command):
    """Staff call a named ticket out of order (with a reason) or resume a parked one."""

    window: int
    ticket: str
    reason: str | None = None


@dataclass(frozen=True)
class Recall(Command):
    """Call the window's current ticket again (past the limit it becomes a no-show)."""

    window: int


@dataclass(frozen=True)
class Advance(Command):
    """Move the window's current ticket on: start, complete (with an outcome), no_show or park."""

    window: int
    action: str
    outcome: str = "served"


@dataclass(frozen=True)
class Transfer(Command):
    """Send the current (or a named waiting) ticket to another service or window, keeping its place."""

    window: int
    service: str | None = None
    to_window: int | None = None
    ticket: str | None = None


@dataclass(frozen=True)
class MoveWaiting(Command):
    """A supervisor moves a waiting ticket to another service."""

    ticket: str
    service: str


@dataclass(frozen=True)
class SetWindowState(Command):
    """Sign in, sign out, pause, resume, open or close a window."""

    window: int
    action: str


@dataclass(frozen=True)
class SetWindowServices(Command):
    """Change what a window serves, live."""

    window: int
    services: tuple[str, ...]


@dataclass(frozen=True)
class SetBoardMessage(Command):
    """A line of text every board of the hall shows."""

    message: str | None
