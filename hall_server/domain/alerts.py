"""Supervisor alerts: rules over a snapshot of the hall, and the raised/cleared history.

Pure: `evaluate` looks at one snapshot at `now` and returns the alerts whose condition holds;
an alert clears simply by no longer being returned. `AlertBook` compares successive evaluations
to keep when each alert was raised and cleared (in memory, per server process).
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

WAIT_OVER_TARGET = "wait_over_target"
NO_OPEN_WINDOW = "no_open_window"
WINDOW_IDLE = "window_idle"
DEVICE_OFFLINE = "device_offline"
DEVICE_PROBLEM = "device_problem"
LATE_FILES = "late_files"
CODES = (WAIT_OVER_TARGET, NO_OPEN_WINDOW, WINDOW_IDLE, DEVICE_OFFLINE, DEVICE_PROBLEM, LATE_FILES)
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
DEFAULT_IDLE_MINUTES = 3


@dataclass(frozen=True)
class WaitingTicket:
    """A ticket in the queue: its service, when it joined, and a window it was sent to, if any."""

    number: str
    service: str
    queued_at: datetime
    target_window: int | None = None


@dataclass(frozen=True)
class WindowState:
    """A window as alerts see it; times say when it last finished a ticket and last opened."""

    number: int
    state: str  # open | paused | closed
    services: tuple[str, ...]
    current: str | None = None
    last_finished_at: datetime | None = None
    opened_at: datetime | None = None


@dataclass(frozen=True)
class DeviceState:
    """A device's last report (print agent, announcer, server TTS, ...)."""

    name: str
    role: str
    status: str
    detail: str = ""
    since: datetime | None = None


@dataclass(frozen=True)
class Snapshot:
    """What the rules need to know about a hall at one instant."""

    now: datetime
    waiting: Sequence[WaitingTicket] = ()
    windows: Sequence[WindowState] = ()
    devices: Sequence[DeviceState] = ()
    late_files: int = 0
    oldest_late_due: date | None = None
    service_names: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    tz: tzinfo | None = None  # the hall's time zone: a due date ends at its local midnight


@dataclass(frozen=True)
class Rules:
    """Thresholds: the wait target and how long an open window may idle while people wait."""

    wait_target_seconds: float = 15 * 60
    idle_seconds: float = DEFAULT_IDLE_MINUTES * 60


@dataclass(frozen=True)
class Alert:
    """One active alert; (code, subject) identifies it across evaluations."""

    code: str
    severity: str  # critical | warning
    subject: str
    since: datetime | None
    message_ar: str
    message_en: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.code, self.subject)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "subject": self.subject,
                "since": self.since.isoformat() if self.since else None,
                "message_ar": self.message_ar, "message_en": self.message_en}


def _minutes(seconds: float) -> int:
    return int(seconds // 60)


def evaluate(snap: Snapshot, rules: Rules = Rules()) -> list[Alert]:
    """The alerts whose condition holds at snap.now, most severe first."""
    now = snap.now
    names = snap.service_names
    alerts: list[Alert] = []

    def sname(code: str) -> tuple[str, str]:
        return names.get(code, (code, code))

    by_service: dict[str, list[WaitingTicket]] = {}
    for t in snap.waiting:
        by_service.setdefault(t.service, []).append(t)
    open_windows = [w for w in snap.windows if w.state == "open"]
    served_by_open = {code for w in open_windows for code in w.services}
    open_numbers = {w.number for w in open_windows}

    # 1. someone has waited longer than the target
    for code, queue in sorted(by_service.items()):
        oldest = min(queue, key=lambda t: t.queued_at)
        waited = (now - oldest.queued_at).total_seconds()
        if waited > rules.wait_target_seconds:
            ar, en = sname(code)
            severe = waited > 2 * rules.wait_target_seconds
            m, target = _minutes(waited), _minutes(rules.wait_target_seconds)
            alerts.append(Alert(
                WAIT_OVER_TARGET, "critical" if severe else "warning", f"service:{code}",
                oldest.queued_at + timedelta(seconds=rules.wait_target_seconds),
                f"«{ar}»: {oldest.number} ينتظر منذ {m} دقيقة (الهدف {target})",
                f"{en}: {oldest.number} has waited {m} min (target {target})"))

    # 2. people wait for a service no open window serves (tickets sent to one window count there)
    for code, queue in sorted(by_service.items()):
        stranded = [t for t in queue if t.target_window is None or t.target_window not in open_numbers]
        if code in served_by_open:
            stranded = [t for t in stranded if t.target_window is not None]
        if not stranded:
            continue
        ar, en = sname(code)
        alerts.append(Alert(
            NO_OPEN_WINDOW, "critical", f"service:{code}", min(t.queued_at for t in stranded),
            f"«{ar}»: {len(stranded)} في الانتظار ولا يوجد شباك مفتوح يخدمها",
            f"{en}: {len(stranded)} waiting and no open window serves it"))

    # 3. an open window with nothing to do for too long while its queue has people
    for w in open_windows:
        if w.current is not None:
            continue
        queue = [t for t in snap.waiting
                 if t.target_window == w.number or (t.target_window is None and t.service in w.services)]
        if not queue:
            continue
        marks = [m for m in (w.last_finished_at, w.opened_at) if m is not None]
        # idle since the later of: its last ticket ended, it (re)opened, someone started waiting for it
        idle_since = max(marks + [min(t.queued_at for t in queue)])
        idle = (now - idle_since).total_seconds()
        if idle > rules.idle_seconds:
            alerts.append(Alert(
                WINDOW_IDLE, "warning", f"window:{w.number}", idle_since + timedelta(seconds=rules.idle_seconds),
                f"الشباك {w.number} بلا عمل منذ {_minutes(idle)} دقيقة و{len(queue)} في انتظار خدماته",
                f"Window {w.number} idle for {_minutes(idle)} min while {len(queue)} wait for its services"))

    # 4. devices that are offline or report a fault
    for d in snap.devices:
        if d.status == "online":
            continue
        offline = d.status == "offline"
        detail = f" ({d.detail})" if d.detail else ""
        alerts.append(Alert(
            DEVICE_OFFLINE if offline else DEVICE_PROBLEM, "critical", f"device:{d.name}", d.since,
            (f"الجهاز {d.name} غير متصل" if offline else f"الجهاز {d.name}: {d.status}") + detail,
            (f"Device {d.name} is offline" if offline else f"Device {d.name}: {d.status}") + detail))

    # 5. request files past their due date
    if snap.late_files > 0:
        since = None
        if snap.oldest_late_due is not None:  # late from the first day after the due date
            first_late = snap.oldest_late_due + timedelta(days=1)
            since = datetime(first_late.year, first_late.month, first_late.day, tzinfo=snap.tz or now.tzinfo)
        alerts.append(Alert(
            LATE_FILES, "warning", "files", since,
            f"{snap.late_files} ملف طلب تجاوز موعده", f"{snap.late_files} request file(s) past their due date"))

    alerts.sort(key=lambda a: (SEVERITY_ORDER.get(a.severity, 9), CODES.index(a.code), a.subject))
    return alerts


@dataclass(frozen=True)
class Change:
    """A line of the history: an alert raised or cleared at a time."""

    change: str  # raised | cleared
    at: datetime
    alert: Alert

    def as_dict(self) -> dict[str, Any]:
        return {"change": self.change, "at": self.at.isoformat(), **self.alert.as_dict()}


class AlertBook:
    """The active alerts of each hall and the history of raises and clears, newest first.

    Not thread-safe by itself: the adapter holds a lock around `update`.
    """

    def __init__(self, keep: int = 200) -> None:
        self.active: dict[str, dict[tuple[str, str], Alert]] = {}
        self.raised_at: dict[str, dict[tuple[str, str], datetime]] = {}
        self.history: dict[str, deque[Change]] = {}
        self.keep = keep

    def update(self, hall: str, alerts: Iterable[Alert], now: datetime) -> list[Change]:
        """Record one evaluation; returns what changed (raised and cleared) since the last one."""
        before = self.active.get(hall, {})
        raised_at = self.raised_at.setdefault(hall, {})
        history = self.history.setdefault(hall, deque(maxlen=self.keep))
        current = {a.key: a for a in alerts}
        changes: list[Change] = []
        for key, a in before.items():
            if key not in current:
                changes.append(Change("cleared", now, a))
                raised_at.pop(key, None)
        for key, a in current.items():
            if key not in before:
                raised_at[key] = now
                changes.append(Change("raised", now, a))
        for c in changes:
            history.appendleft(c)
        self.active[hall] = current
        return changes

    def changes(self, hall: str) -> list[Change]:
        """The hall's history, newest first."""
        return list(self.history.get(hall, ()))

    def first_seen(self, hall: str, alert: Alert) -> datetime | None:
        """When this process first saw the alert active."""
        return self.raised_at.get(hall, {}).get(alert.key)
