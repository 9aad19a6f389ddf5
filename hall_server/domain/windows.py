"""Window states: what a counter window is doing, as the call policy and the boards see it."""
from __future__ import annotations

from enum import Enum


class WindowState(str, Enum):
    """A window is open (takes calls), paused (a break: back soon) or closed (nobody there)."""

    OPEN = "open"
    PAUSED = "paused"
    CLOSED = "closed"


# what staff can do to a window (each records a window_<action> event)
WINDOW_ACTIONS = ("sign_in", "sign_out", "pause", "resume", "open", "close")
