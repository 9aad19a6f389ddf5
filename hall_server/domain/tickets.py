"""Ticket states and the transitions the hall allows between them."""
from __future__ import annotations

from enum import Enum

from hall_server.domain.errors import InvalidTransition


class Status(str, Enum):
    """Where a ticket is in its life; transferred is recorded as an event, the ticket waits again."""

    WAITING = "waiting"
    CALLED = "called"
    SERVING = "serving"
    PARKED = "parked"
    DONE = "done"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"


ACTIVE = frozenset({Status.CALLED, Status.SERVING})
FINAL = frozenset({Status.DONE, Status.NO_SHOW, Status.CANCELLED})
PRIORITY_CLASSES = ("elderly", "disabled", "pregnant", "appointment")

# action -> (states it may start from, state it leads to)
_TRANSITIONS: dict[str, tuple[frozenset[Status], Status]] = {
    "call": (frozenset({Status.WAITING, Status.PARKED}), Status.CALLED),
    "recall": (frozenset({Status.CALLED}), Status.CALLED),
    "start": (frozenset({Status.CALLED}), Status.SERVING),
    "complete": (frozenset({Status.CALLED, Status.SERVING}), Status.DONE),
    "no_show": (frozenset({Status.CALLED}), Status.NO_SHOW),
    "transfer": (frozenset({Status.WAITING, Status.CALLED, Status.SERVING, Status.PARKED}), Status.WAITING),
    "park": (frozenset({Status.CALLED, Status.SERVING}), Status.PARKED),
    "cancel": (frozenset({Status.WAITING, Status.PARKED}), Status.CANCELLED),
}

OUTCOMES = ("served", "referred", "incomplete_documents", "rejected", "info_only")


def transition(current: Status | str, action: str) -> Status:
    """Return the state that `action` leads to from `current`, or raise InvalidTransition."""
    current = Status(current)
    try:
        sources, target = _TRANSITIONS[action]
    except KeyError:
        raise InvalidTransition(f"unknown action {action!r}") from None
    if current not in sources:
        allowed = ", ".join(sorted(s.value for s in sources))
        raise InvalidTransition(
            f"cannot {action.replace('_', ' ')} a ticket that is {current.value} (needs: {allowed})")
    return target


def recall_outcome(recall_count: int, limit: int) -> Status:
    """A recall within the limit calls again; the one past the limit makes the ticket a no-show."""
    return Status.CALLED if recall_count < limit else Status.NO_SHOW
