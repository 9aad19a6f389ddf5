"""The call policy: which waiting ticket a window gets when its clerk presses "next"."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

LONGEST_WAIT = "longest_wait"
STRICT_ORDER = "strict_order"


@dataclass(frozen=True)
class Candidate:
    """A waiting ticket as the policy sees it; queued_at is the original issue time."""

    id: int
    service: str
    queued_at: datetime
    priority: str | None = None
    target_window: int | None = None


@dataclass(frozen=True)
class WindowProfile:
    """What a window works on: its number and its services, in order of preference."""

    number: int
    services: Sequence[str]
    strategy: str = LONGEST_WAIT
    priority_ratio: int = 3


@dataclass(frozen=True)
class Choice:
    """The policy's answer: the ticket to call and the window's new priority streak."""

    ticket: Candidate
    priority_streak: int


def eligible(window: WindowProfile, candidates: Iterable[Candidate]) -> list[Candidate]:
    """Tickets this window may call: those sent to it, and unsent ones of its services."""
    services = set(window.services)
    return [c for c in candidates
            if c.target_window == window.number or (c.target_window is None and c.service in services)]


def order_key(window: WindowProfile) -> Callable[[Candidate], tuple[int | datetime, ...]]:
    """How a window orders each of its two lists (priority, ordinary): issue time, or service order first."""
    rank = {code: i for i, code in enumerate(window.services)}
    if window.strategy == STRICT_ORDER:
        # A ticket transferred to this very window ranks with its first service.
        return lambda c: (0 if c.target_window == window.number else rank.get(c.service, 0),
                          c.queued_at, c.id)
    return lambda c: (c.queued_at, c.id)


def rank_candidates(window: WindowProfile, candidates: Iterable[Candidate],
                    priority_streak: int = 0) -> list[Choice]:
    """All eligible tickets, best first, each with the streak calling it would leave.

    Priority tickets go first, but after `priority_ratio` priority calls in a row a waiting
    ordinary ticket gets its turn, so the ordinary queue never starves.
    """
    if window.strategy not in (LONGEST_WAIT, STRICT_ORDER):
        raise ValueError(f"unknown strategy {window.strategy!r}")
    key = order_key(window)
    pool = eligible(window, candidates)
    prio = sorted((c for c in pool if c.priority), key=key)
    normal = sorted((c for c in pool if not c.priority), key=key)
    out: list[Choice] = []
    streak = priority_streak
    i = j = 0  # heads of the two lists (indices: popping the front of a list is O(n) each time)
    # Interleave by the ratio rule so the caller can fall back down the list under contention.
    while i < len(prio) or j < len(normal):
        if i < len(prio) and (j >= len(normal) or streak < window.priority_ratio):
            streak += 1
            out.append(Choice(prio[i], streak))
            i += 1
        else:
            streak = 0
            out.append(Choice(normal[j], streak))
            j += 1
    return out


def choose_next(window: WindowProfile, candidates: Iterable[Candidate],
                priority_streak: int = 0) -> Choice | None:
    """The ticket the window should call now, or None if nothing it serves is waiting."""
    ranked = rank_candidates(window, candidates, priority_streak)
    return ranked[0] if ranked else None
