"""Ticket numbers: per hall, prefix and local day, e.g. "A-023"."""
from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

_NUMBER_RE = re.compile(r"^(?:([A-Z])-?)?(\d{1,6})$")


def local_day(now: datetime, tz: ZoneInfo) -> date:
    """The hall's calendar day for an aware instant; numbering restarts on it."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(tz).date()


def format_number(prefix: str, seq: int) -> str:
    """Display form of a ticket number: prefix, dash, at least three digits."""
    if seq < 1:
        raise ValueError("sequence numbers start at 1")
    return f"{prefix}-{seq:03d}" if prefix else f"{seq:03d}"


def parse_number(text: str) -> tuple[str, int] | None:
    """Split "A-023" (or "a23") into ("A", 23); None if it is not a ticket number."""
    m = _NUMBER_RE.match(text.strip().upper())
    if not m:
        return None
    return (m.group(1) or "", int(m.group(2)))
