"""Domain event kinds: what happened to a ticket, a window or a hall; each is one event row.

The values are the `kind` column of `ticket_events` (and the audit trail's action), so they are
part of the stored history: add kinds, never rename one.
"""
from __future__ import annotations

from enum import Enum


class EventKind(str, Enum):
    """A recorded change (the past tense of a command)."""

    ISSUED = "issued"
    CALLED = "called"
    RECALLED = "recalled"
    SERVING = "serving"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    PARKED = "parked"
    TRANSFERRED = "transferred"
    CANCELLED = "cancelled"
    WINDOW_SIGN_IN = "window_sign_in"
    WINDOW_SIGN_OUT = "window_sign_out"
    WINDOW_PAUSE = "window_pause"
    WINDOW_RESUME = "window_resume"
    WINDOW_OPEN = "window_open"
    WINDOW_CLOSE = "window_close"
    WINDOW_SERVICES = "window_services"
    BOARD_MESSAGE = "board_message"


CALL_KINDS = (EventKind.CALLED, EventKind.RECALLED)
# a window is free again after these (idle time counts from the latest)
FINISH_KINDS = (EventKind.COMPLETED, EventKind.NO_SHOW, EventKind.TRANSFERRED, EventKind.PARKED)
OPEN_KINDS = (EventKind.WINDOW_OPEN, EventKind.WINDOW_RESUME, EventKind.WINDOW_SIGN_IN)


def window_event(action: str) -> EventKind:
    """The event kind a window action records (sign_in -> window_sign_in)."""
    return EventKind(f"window_{action}")
