"""Alerts: a hall's alert snapshot from the database and the device registry, and its history.

Alerts are evaluated on request (the live page asks after each hall event, debounced, and every
half minute for alerts that time alone raises); their raised/cleared history is kept in memory
per server process: a restart starts a fresh history, and the active alerts come back at once
because they are recomputed from the database and the device registry.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from hall_server.application.hall import HallApp
from hall_server.application.views import window_marks
from hall_server.domain import alerts as al
from hall_server.domain import files as fd
from hall_server.domain.tickets import ACTIVE, Status
from hall_server.storage import read_tx, request_files, tickets, windows

log = logging.getLogger(__name__)

DeviceList = Callable[[str], list[dict[str, Any]]]


class AlertDesk:
    """Builds a hall's alert snapshot from the database and devices, and keeps the history."""

    def __init__(self, app: HallApp, devices: DeviceList | None = None) -> None:
        self.app = app
        self.device_list = devices
        self.book = al.AlertBook()
        self._lock = threading.Lock()
        self.service_names = {s.code: (s.name_ar, s.name_en) for s in app.settings.catalog.services}

    def rules(self, hall_code: str) -> al.Rules:
        """The hall's thresholds; idle minutes come from [queue] idle_alert_minutes when the loader has it."""
        q = self.app.hall(hall_code).queue
        idle = getattr(q, "idle_alert_minutes", None) or al.DEFAULT_IDLE_MINUTES
        return al.Rules(wait_target_seconds=q.wait_target_minutes * 60, idle_seconds=idle * 60)

    def devices(self, hall_code: str) -> list[dict[str, Any]]:
        """The device registry's entries for the hall (empty before Socket.IO is set up)."""
        return self.device_list(hall_code) if self.device_list is not None else []

    def snapshot(self, hall_code: str) -> al.Snapshot:
        """Everything the alert rules look at, read in one transaction."""
        hall = self.app.hall(hall_code)
        now = self.app.clock()
        today = now.astimezone(hall.tz).date()
        with read_tx(self.app.engine) as c:
            waiting = [al.WaitingTicket(r.number, r.service, r.queued_at, r.target_window) for r in c.execute(
                select(tickets.c.number, tickets.c.service, tickets.c.queued_at, tickets.c.target_window)
                .where(tickets.c.hall == hall.code, tickets.c.status == Status.WAITING.value))]
            current = {r.window: r.number for r in c.execute(
                select(tickets.c.window, tickets.c.number).where(
                    tickets.c.hall == hall.code, tickets.c.status.in_([s.value for s in ACTIVE])))}
            marks = window_marks(c, hall.code, now - timedelta(hours=24))
            wins = []
            for w in c.execute(select(windows).where(windows.c.hall == hall.code).order_by(windows.c.number)):
                finished, opened = marks.get(w.number, (None, None))
                if finished is None and opened is None:  # nothing in the last day: the row's own time
                    opened = w.changed_at
                wins.append(al.WindowState(w.number, w.state, tuple(w.services), current.get(w.number),
                                           finished, opened))
            late, oldest = c.execute(select(func.count(), func.min(request_files.c.due_date)).where(
                request_files.c.hall == hall.code, request_files.c.due_date < today,
                request_files.c.status.in_([fd.RECEIVED, fd.UNDER_REVIEW, fd.NEEDS_DOCUMENTS]))).one()
        devices = [al.DeviceState(d["device"], d.get("role", ""), d["status"], d.get("detail", ""),
                                  datetime.fromtimestamp(d["at"], UTC) if d.get("at") else None)
                   for d in self.devices(hall.code)]
        return al.Snapshot(now=now, waiting=waiting, windows=wins, devices=devices, late_files=late or 0,
                           oldest_late_due=oldest, service_names=self.service_names, tz=hall.tz)

    def current(self, hall_code: str) -> dict[str, Any]:
        """Active alerts (with when this server first saw each) and the raised/cleared history."""
        snap = self.snapshot(hall_code)
        rules = self.rules(hall_code)
        active = al.evaluate(snap, rules)
        with self._lock:
            changes = self.book.update(hall_code, active, snap.now)
            raised = {a.key: _iso(self.book.first_seen(hall_code, a)) for a in active}
            history = self.book.changes(hall_code)
        for ch in changes:
            log.info("hall %s: alert %s %s %s", hall_code, ch.change, ch.alert.code, ch.alert.subject)
        return {
            "hall": hall_code, "at": snap.now.isoformat(),
            "active": [{**a.as_dict(), "raised_at": raised[a.key]} for a in active],
            "history": [h.as_dict() for h in history],
            "devices": self.devices(hall_code),
            "late_files": snap.late_files,
            "rules": {"wait_target_seconds": rules.wait_target_seconds, "idle_seconds": rules.idle_seconds},
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
