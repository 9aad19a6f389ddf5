"""Report figures from event rows: counts, waits, service times and shares within target.

Pure: the caller passes the hall's events (ordered), its request files, the time zone and the
range; nothing here reads a clock or a database.

Definitions (the report page and the CSV say the same):
- A *wait* is one spell in the queue: it starts when the ticket is issued or transferred, and ends
  when a window calls it (`called`, not `recalled`). A transferred ticket keeps its place in the
  queue (DESIGN.md), but its second spell is measured from the transfer: that is how long the
  citizen stood waiting for the second service. Resuming a parked ticket is not a wait.
  Waits count for the service and the window that called, for the clerk who called, and for the
  hour and day the spell *started* (when the citizen joined the queue).
- *Within target*: a wait of at most the target (inclusive), e.g. 15 minutes.
- *Percentile*: nearest-rank. The p-th percentile of n sorted values is the value at rank
  ceil(p/100 * n) (1-based), so it is always one of the observed waits; p=0 gives the minimum.
- *Service time*: from `serving` (start) to `completed`; when the clerk completed without
  pressing start, from the call. Counted for the window, clerk, service, hour and day of the
  completion.
- *Served* = `completed` events (any outcome); *no-show*, *cancelled*, *transferred* = those events.
  Transfers count for the service and window the ticket left.
- Request files: *received* in the range; *completed* = first reached `ready` or `rejected` (the
  back office finished) in the range; *late* = completed in the range after the due date, plus
  files still open at the end of the range (or today, if earlier) whose due date has passed.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from fractions import Fraction
from typing import Any, NamedTuple

from hall_server.domain.errors import InvalidInput

PERCENTILE_METHOD = "nearest-rank"
DIMENSIONS = ("service", "window", "clerk", "hour", "day")
_NOT_AT_WINDOW = ("issued", "cancelled")  # figures a window or clerk has nothing to do with


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile by nearest rank: the value at rank ceil(p/100 * n) of the sorted values."""
    if not 0 <= p <= 100:
        raise ValueError("p must be between 0 and 100")
    if not values:
        return None
    ordered = sorted(values)
    # Fraction keeps 90 * 10 / 100 exactly 9, where floats can give 9.000000000000002 -> rank 10.
    rank = math.ceil(Fraction(str(p)) * len(ordered) / 100)
    return ordered[max(rank, 1) - 1]


class TicketEvent(NamedTuple):
    """One ticket_events row as reports need it; `at` is an aware datetime or UNIX seconds.

    A tuple, so the adapter can hand over database rows (same columns, same order) unwrapped:
    a month of a busy hall is ~200,000 of them.
    """

    ticket_id: int
    kind: str
    at: datetime | float
    service: str | None = None
    window: int | None = None
    actor: str | None = None


@dataclass(frozen=True)
class FileRecord:
    """One request file: when it came in, when it is due, when the back office finished it."""

    number: str
    service: str
    received_at: datetime
    due_date: date
    completed_at: datetime | None = None


@dataclass
class Figures:
    """The running counts and samples of one group (a service, a window, an hour, ...).

    Waits and service times are kept in whole milliseconds: sums, comparisons with the target
    and the percentile are then exact, and only the output is in seconds.
    """

    issued: int = 0
    called: int = 0
    served: int = 0
    no_show: int = 0
    cancelled: int = 0
    transferred: int = 0
    waits: list[int] = field(default_factory=list)
    service_times: list[int] = field(default_factory=list)

    def as_dict(self, target_seconds: float, at_window: bool = False) -> dict[str, Any]:
        """The group's figures as JSON (seconds); issued/cancelled are None for windows and clerks."""
        target_ms = target_seconds * 1000
        within = sum(1 for w in self.waits if w <= target_ms)
        n = len(self.waits)
        p90 = percentile(self.waits, 90)
        return {
            "issued": None if at_window else self.issued, "called": self.called, "served": self.served,
            "no_show": self.no_show, "cancelled": None if at_window else self.cancelled,
            "transferred": self.transferred, "waits": n,
            "wait_avg_seconds": _mean_seconds(self.waits),
            "wait_p90_seconds": p90 / 1000 if p90 is not None else None,
            "wait_max_seconds": max(self.waits) / 1000 if self.waits else None,
            "within_target": within,
            "within_target_share": within / n if n else None,
            "service_times": len(self.service_times),
            "service_time_avg_seconds": _mean_seconds(self.service_times),
        }


def _mean_seconds(ms: Sequence[int]) -> float | None:
    return round(sum(ms) / len(ms) / 1000, 1) if ms else None


class _Spell:
    """Where one ticket is, while its events are replayed (times in UNIX milliseconds)."""

    __slots__ = ("waiting_since", "called_at", "serving_at")

    def __init__(self) -> None:
        self.waiting_since: int | None = None
        self.called_at: int | None = None
        self.serving_at: int | None = None


def _clerk(actor: str | None) -> str | None:
    """The username behind an actor label "user:clerk3"; devices and the system are no clerks."""
    if actor and actor.startswith("user:"):
        return actor[5:]
    return None


class _Groups:
    """Figures per dimension value, plus the hall's totals."""

    SLOT_MS = 900_000  # every time zone's offset and every switch of it fall on a quarter hour

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self.total = Figures()
        self.by: dict[str, dict[Any, Figures]] = {d: defaultdict(Figures) for d in DIMENSIONS}
        # (quarter hour, service, window, clerk) -> the groups an event there counts in: a month
        # of events falls into far fewer such keys than it has events
        self._cache: dict[tuple[int, str | None, int | None, str | None], list[Figures]] = {}

    def targets(self, ms: int, service: str | None, window: int | None, clerk: str | None) -> list[Figures]:
        """The groups an event at this time, service, window and clerk counts in."""
        slot = ms // self.SLOT_MS
        key = (slot, service, window, clerk)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        local = datetime.fromtimestamp(slot * self.SLOT_MS / 1000, self.tz)
        out = [self.total, self.by["hour"][local.hour], self.by["day"][local.date()]]
        if service is not None:
            out.append(self.by["service"][service])
        if window is not None:
            out.append(self.by["window"][window])
            if clerk is not None:
                out.append(self.by["clerk"][clerk])
        self._cache[key] = out
        return out


def _ms(at: datetime | float) -> int:
    """UNIX milliseconds; seconds from a database are rounded so 09:00:00 never reads 08:59:59.9999."""
    if isinstance(at, datetime):
        return round(at.timestamp() * 1000)
    return int(at * 1000 + 0.5)


def build_report(events: Iterable[TicketEvent], files: Iterable[FileRecord], *, tz: tzinfo,
                 day_from: date, day_to: date, target_seconds: float, as_of: date,
                 service_names: Mapping[str, tuple[str, str]] | None = None,
                 clerk_names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every figure of a hall's report for local days day_from..day_to (inclusive).

    `events` must be the hall's ticket events in the range, in the order they happened (by id);
    `as_of` is today's local date (files open "at the end" of a range reaching past today are
    judged today).
    """
    if day_to < day_from:
        raise ValueError("day_to is before day_from")
    service_names = service_names or {}
    clerk_names = clerk_names or {}
    g = _Groups(tz)
    targets = g.targets
    spells: dict[int, _Spell] = defaultdict(_Spell)
    clerks: dict[str | None, str | None] = {}
    for ticket_id, kind, at, service, window, actor in events:
        ts = _ms(at)
        s = spells[ticket_id]
        if actor in clerks:
            clerk = clerks[actor]
        else:
            clerk = clerks[actor] = _clerk(actor)
        if kind == "issued":
            for f in targets(ts, service, None, None):
                f.issued += 1
            s.waiting_since, s.called_at, s.serving_at = ts, None, None
        elif kind == "called":
            for f in targets(ts, service, window, clerk):
                f.called += 1
            if s.waiting_since is not None:
                wait = ts - s.waiting_since
                # by the hour/day the citizen joined the queue, but the window/clerk that called
                for f in targets(s.waiting_since, service, window, clerk):
                    f.waits.append(wait)
            s.waiting_since, s.called_at, s.serving_at = None, ts, None
        elif kind == "serving":
            s.serving_at = ts
        elif kind == "completed":
            begin = s.serving_at if s.serving_at is not None else s.called_at
            for f in targets(ts, service, window, clerk):
                f.served += 1
                if begin is not None:
                    f.service_times.append(ts - begin)
            spells.pop(ticket_id, None)
        elif kind == "no_show":
            for f in targets(ts, service, window, clerk):
                f.no_show += 1
            spells.pop(ticket_id, None)
        elif kind == "cancelled":
            for f in targets(ts, service, None, None):
                f.cancelled += 1
            spells.pop(ticket_id, None)
        elif kind == "transferred":
            for f in targets(ts, service, window, clerk if window else None):
                f.transferred += 1
            s.waiting_since, s.called_at, s.serving_at = ts, None, None
        elif kind == "parked":
            s.waiting_since, s.called_at, s.serving_at = None, None, None
        # recalled, window_* and board events change no figure

    t = target_seconds

    def rows(dim: str, keys: Iterable[Any], name: Any = None) -> list[dict[str, Any]]:
        at_window = dim in ("window", "clerk")
        out = []
        for k in keys:
            row = {"key": k.isoformat() if isinstance(k, date) else k}
            if name is not None:
                row["name"] = name(k)
            row.update(g.by[dim][k].as_dict(t, at_window) if k in g.by[dim] else Figures().as_dict(t, at_window))
            out.append(row)
        return out

    hours = sorted(g.by["hour"])
    hour_keys = list(range(hours[0], hours[-1] + 1)) if hours else []
    days = [day_from + timedelta(days=i) for i in range((day_to - day_from).days + 1)]
    n_days = len(days)
    by_hour = rows("hour", hour_keys)
    return {
        "from": day_from.isoformat(), "to": day_to.isoformat(), "days": n_days,
        "wait_target_seconds": target_seconds, "percentile_method": PERCENTILE_METHOD,
        "totals": g.total.as_dict(t),
        "by_service": rows("service", sorted(g.by["service"]),
                           lambda k: {"ar": service_names.get(k, (k, k))[0], "en": service_names.get(k, (k, k))[1]}),
        "by_window": rows("window", sorted(g.by["window"])),
        "by_clerk": rows("clerk", sorted(g.by["clerk"]), lambda k: clerk_names.get(k) or k),
        "by_hour": by_hour,
        "by_day": rows("day", days),
        "arrivals_per_hour": [{"hour": r["key"], "issued": r["issued"],
                               "per_day": round(r["issued"] / n_days, 2)} for r in by_hour],
        "files": file_figures(files, tz=tz, day_from=day_from, day_to=day_to, as_of=as_of,
                              service_names=service_names),
    }


def file_figures(files: Iterable[FileRecord], *, tz: tzinfo, day_from: date, day_to: date, as_of: date,
                 service_names: Mapping[str, tuple[str, str]] | None = None) -> dict[str, Any]:
    """Request files received, completed and late in the range, in total and per service."""
    service_names = service_names or {}
    judge_day = min(day_to, as_of)  # "still open at the end of the range", judged no later than today
    per: dict[str, dict[str, int]] = defaultdict(lambda: {"received": 0, "completed": 0, "late_completed": 0,
                                                          "late_open": 0})
    for f in files:
        received = f.received_at.astimezone(tz).date()
        done = f.completed_at.astimezone(tz).date() if f.completed_at is not None else None
        row = per[f.service]
        if day_from <= received <= day_to:
            row["received"] += 1
        if done is not None and day_from <= done <= day_to:
            row["completed"] += 1
            if done > f.due_date:
                row["late_completed"] += 1
        open_at_end = received <= judge_day and (done is None or done > judge_day)
        if open_at_end and judge_day > f.due_date:
            row["late_open"] += 1
    total = {"received": 0, "completed": 0, "late_completed": 0, "late_open": 0}
    by_service = []
    for code in sorted(per):
        row = per[code]
        if not any(row.values()):
            continue
        for k in total:
            total[k] += row[k]
        names = service_names.get(code, (code, code))
        by_service.append({"key": code, "name": {"ar": names[0], "en": names[1]}, **row,
                           "late": row["late_completed"] + row["late_open"]})
    return {**total, "late": total["late_completed"] + total["late_open"], "by_service": by_service}


def rank_halls(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Halls worst first: lowest share within target, then most late files, then longest p90 wait.

    A hall with no waits measured has no share; it goes after the halls that have one (nothing
    to judge), ordered among themselves by late files.
    """
    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        share = r["totals"]["within_target_share"]
        p90 = r["totals"]["wait_p90_seconds"] or 0
        return (share is None, share if share is not None else 0, -r["files"]["late"], -p90, r["hall"])
    return sorted(rows, key=key)


DAY_MIN, DAY_MAX = date(2000, 1, 1), date(2100, 12, 31)  # dates a query may name (no overflow at the edges)


def parse_day(raw: str | None, name: str, code: str = "invalid_date") -> date | None:
    """A YYYY-MM-DD value within DAY_MIN..DAY_MAX, None when absent; InvalidInput naming it otherwise."""
    if raw is None or raw == "":
        return None
    try:
        if len(raw) != 10 or not raw.isascii():
            raise ValueError(raw)
        day = date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a date like 2026-11-22", code) from None
    if not DAY_MIN <= day <= DAY_MAX:
        raise InvalidInput(f"{name} must be between {DAY_MIN} and {DAY_MAX}", code)
    return day
