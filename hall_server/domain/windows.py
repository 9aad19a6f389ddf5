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


# The one rule for "this service is open now", shared by everything that says so: the kiosk's
# catalog and queue_changed (`open`, `open_windows`), and issuing, which refuses a ticket for a
# service that no open window serves (409 service_closed).
TAKES_TICKETS = (WindowState.OPEN.value,)


def takes_tickets(state: str) -> bool:
    """Does a window in this state count as open for the services it serves?

    Only an open window does. A paused window (a break) does not: the kiosk shows the service
    closed while its only clerk is on a break and the API refuses its tickets alike, so a citizen
    is never handed a ticket the screen called closed; the break ends with `resume` and the service
    reopens at once. A closed window has nobody at it. Tickets already waiting keep their place in
    every case: this rule only decides whether a new ticket may be issued.
    """
    return state in TAKES_TICKETS
