"""Reports: event rows from the database -> domain figures -> JSON or CSV.

A hall's report covers whole local days (the hall's time zone); the governorate view runs the
same report for every hall on the server and ranks them worst first.
"""
from __future__ import annotations

import csv
import io
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Float, and_, cast, extract, func, select

from hall_server.application import HallApp
from hall_server.domain import files as fd
from hall_server.domain import reports as rd
from hall_server.domain.errors import InvalidInput
from hall_server.domain.estimate import accuracy_of
from hall_server.domain.reports import parse_day
from hall_server.storage import file_events, read_tx, request_files, ticket_events, tickets, users, windows

log = logging.getLogger(__name__)

MAX_DAYS = 400  # a year and a bit: longer ranges are an export job, not a page
# The days a report may name: date arithmetic overflows at year 1 and 9999, and no hall has history outside.
REPORT_KINDS = ("issued", "called", "serving", "completed", "no_show", "cancelled", "transferred", "parked")
CSV_COLUMNS = ("section", "key", "name_ar", "name_en", "issued", "called", "served", "no_show", "cancelled",
               "transferred", "waits", "wait_avg_seconds", "wait_p90_seconds", "wait_max_seconds",
               "within_target", "within_target_share", "service_time_avg_seconds",
               "files_received", "files_completed", "files_late",
               # wait estimates at issue against the waits that happened (the report's "estimates")
               "estimates_judged", "estimates_within_5_min_share", "estimate_mean_abs_error_seconds",
               "estimate_bias_seconds")



def parse_range(args: Mapping[str, str], today: date) -> tuple[date, date]:
    """The report's days from ?from=&to= (both default to today; to defaults to from)."""
    day_from = parse_day(args.get("from"), "from") or today
    day_to = parse_day(args.get("to"), "to") or (day_from if args.get("from") else today)
    if day_to < day_from:
        raise InvalidInput("to must not be before from", "invalid_range")
    if (day_to - day_from).days + 1 > MAX_DAYS:
        raise InvalidInput(f"a report covers at most {MAX_DAYS} days", "invalid_range")
    return day_from, day_to


def _estimate_accuracy(rows: Sequence[Any], tz: Any) -> dict[str, Any]:
    """Each called ticket's estimate at issue against its wait: overall, per day, service and hour."""
    groups: dict[str, dict[Any, list[tuple[float, float]]]] = {"day": defaultdict(list), "service": defaultdict(list),
                                                               "hour": defaultdict(list)}
    every: list[tuple[float, float]] = []
    for r in rows:
        pair = (float(r.eta_at_issue), (r.called_at - r.issued_at).total_seconds())
        every.append(pair)
        groups["day"][r.day.isoformat()].append(pair)
        groups["service"][r.service].append(pair)
        groups["hour"][r.issued_at.astimezone(tz).hour].append(pair)
    return {"all": accuracy_of(every),
            **{f"by_{name}": [{name: key, **accuracy_of(pairs)} for key, pairs in sorted(g.items())]
               for name, g in groups.items()}}


class Reports:
    """Builds hall and governorate reports from the hall application's database."""

    def __init__(self, app: HallApp) -> None:
        self.app = app
        catalog = app.settings.catalog
        self.service_names = {s.code: (s.name_ar, s.name_en) for s in catalog.services}

    def today(self, hall_code: str) -> date:
        """The hall's local date now."""
        return self.app.clock().astimezone(self.app.hall(hall_code).tz).date()

    def hall_report(self, hall_code: str, day_from: date, day_to: date) -> dict[str, Any]:
        """Every figure of one hall for local days day_from..day_to."""
        hall = self.app.hall(hall_code)
        tz = hall.tz
        start = datetime.combine(day_from, time(0), tz)
        end = datetime.combine(day_to + timedelta(days=1), time(0), tz)
        te = ticket_events
        with read_tx(self.app.engine) as c:
            # rows go to the domain as they come: (ticket_id, kind, UNIX seconds, service, window, actor)
            events = c.execute(
                select(te.c.ticket_id, te.c.kind, _epoch(te.c.at, self.app.core.pg), te.c.service, te.c.window,
                       te.c.actor)
                .where(te.c.hall == hall.code, te.c.at >= start, te.c.at < end,
                       te.c.ticket_id.is_not(None), te.c.kind.in_(REPORT_KINDS))
                .order_by(te.c.id)).all()
            files = self._files(c, hall.code, start, end)
            judged = c.execute(select(tickets.c.day, tickets.c.service, tickets.c.issued_at, tickets.c.called_at,
                                      tickets.c.eta_at_issue)
                               .where(tickets.c.hall == hall.code, tickets.c.day >= day_from,
                                      tickets.c.day <= day_to, tickets.c.called_at.is_not(None),
                                      tickets.c.eta_at_issue.is_not(None))).all()
            names = {u.username: u.full_name for u in c.execute(select(users.c.username, users.c.full_name))}
        # rows are TicketEvent-shaped tuples (same columns, same order): handed over unwrapped
        report = rd.build_report(events, files,  # type: ignore[arg-type]
                                 tz=tz, day_from=day_from, day_to=day_to,
                                 target_seconds=hall.queue.wait_target_minutes * 60,
                                 as_of=self.today(hall.code), service_names=self.service_names,
                                 clerk_names=names)
        return {"hall": hall.code, "name": {"ar": hall.name_ar, "en": hall.name_en},
                "kind": hall.kind, "timezone": hall.timezone, **report,
                "estimates": _estimate_accuracy(judged, tz)}

    def _files(self, c, hall: str, start: datetime, end: datetime) -> list[rd.FileRecord]:
        """Files that can count: received before the end and not finished before the start."""
        done = (select(file_events.c.file_id, func.min(file_events.c.at).label("completed_at"))
                .where(file_events.c.hall == hall, file_events.c.kind == "status",
                       file_events.c.to_status.in_((fd.READY, fd.REJECTED)))
                .group_by(file_events.c.file_id).subquery())
        rf = request_files
        rows = c.execute(
            select(rf.c.number, rf.c.service, rf.c.received_at, rf.c.due_date, done.c.completed_at)
            .select_from(rf.outerjoin(done, done.c.file_id == rf.c.id))
            .where(rf.c.hall == hall, rf.c.received_at < end,
                   (done.c.completed_at.is_(None)) | (done.c.completed_at >= start))).all()
        return [rd.FileRecord(r[0], r[1], r[2], r[3], _aware(r[4])) for r in rows]

    def governorate(self, day_from: date, day_to: date) -> dict[str, Any]:
        """Every hall on this server with the same indicators, worst first, plus the live queue."""
        rows = []
        for hall in self.app.settings.halls:
            rep = self.hall_report(hall.code, day_from, day_to)
            rows.append({"hall": hall.code, "name": rep["name"], "kind": hall.kind,
                         "governorate": {"ar": hall.governorate_ar, "en": hall.governorate_en},
                         "wait_target_seconds": rep["wait_target_seconds"],
                         "totals": rep["totals"], "files": {k: v for k, v in rep["files"].items()
                                                            if k != "by_service"},
                         "by_day": [{"key": d["key"], "within_target_share": d["within_target_share"],
                                     "issued": d["issued"], "served": d["served"]} for d in rep["by_day"]],
                         "live": self._live(hall.code)})
        ranked = rd.rank_halls(rows)
        for i, r in enumerate(ranked, 1):
            r["rank"] = i
        return {"from": day_from.isoformat(), "to": day_to.isoformat(), "percentile_method": rd.PERCENTILE_METHOD,
                "sorted_by": ["within_target_share asc", "files.late desc", "wait_p90_seconds desc"],
                "halls": ranked}

    def _live(self, hall: str) -> dict[str, int]:
        """How the hall stands right now: people waiting and windows open."""
        with read_tx(self.app.engine) as c:
            waiting = c.execute(select(func.count()).select_from(tickets).where(
                tickets.c.hall == hall, tickets.c.status == "waiting")).scalar_one()
            open_windows = c.execute(select(func.count()).select_from(windows).where(
                and_(windows.c.hall == hall, windows.c.state == "open"))).scalar_one()
        return {"waiting": waiting, "open_windows": open_windows}


def _epoch(column: Any, pg: bool) -> Any:
    """The column as UNIX seconds computed by the database: no datetime object per row in Python."""
    if pg:
        return cast(extract("epoch", column), Float)  # timestamps are stored as naive UTC
    return (func.julianday(column) - 2440587.5) * 86400.0  # SQLite: days since the UNIX epoch, in seconds


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:  # aggregates over a joined subquery lose the type
        return value.replace(tzinfo=UTC)
    return value


def to_csv(report: dict[str, Any]) -> str:
    """The report as one CSV table (UTF-8 with BOM so spreadsheet programs read the Arabic right)."""
    out = io.StringIO()
    out.write("\ufeff")
    w = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\r\n")
    w.writeheader()
    files_by_service = {f["key"]: f for f in report["files"]["by_service"]}
    accuracy = report.get("estimates") or {}
    acc_by = {name: {a[name]: a for a in accuracy.get(f"by_{name}", ())} for name in ("day", "service", "hour")}

    def estimates(a: Mapping[str, Any] | None) -> dict[str, Any]:
        """The accuracy columns of one row: blank where no estimate was judged."""
        if not a or not a.get("count"):
            return {"estimates_judged": 0 if a is not None else ""}
        return {"estimates_judged": a["count"],
                "estimates_within_5_min_share": f"{a['within_5_min_share']:.4f}",
                "estimate_mean_abs_error_seconds": a["mean_abs_error_seconds"],
                "estimate_bias_seconds": a["bias_seconds"]}

    def row(section: str, key: Any, figures: Mapping[str, Any], name: Any = None,
            file_row: Mapping[str, Any] | None = None, acc: Mapping[str, Any] | None = None) -> None:
        r = {k: ("" if v is None else v) for k, v in figures.items() if k in CSV_COLUMNS}
        if section in ("total", "service", "hour", "day"):
            r.update(estimates(acc))
        if isinstance(r.get("within_target_share"), float):
            r["within_target_share"] = f"{r['within_target_share']:.4f}"
        if isinstance(name, dict):
            r["name_ar"], r["name_en"] = name.get("ar", ""), name.get("en", "")
        elif name:
            r["name_ar"] = r["name_en"] = name
        if file_row is not None:
            r["files_received"] = file_row["received"]
            r["files_completed"] = file_row["completed"]
            r["files_late"] = file_row["late"]
        w.writerow({**r, "section": section, "key": key})

    row("total", f"{report['hall']} {report['from']}..{report['to']}", report["totals"], report.get("name"),
        report["files"], accuracy.get("all"))
    seen = set()
    for s in report["by_service"]:
        seen.add(s["key"])
        row("service", s["key"], s, s.get("name"), files_by_service.get(s["key"]), acc_by["service"].get(s["key"], {}))
    for code, f in files_by_service.items():  # services with files but no tickets in the range
        if code not in seen:
            row("service", code, {}, f.get("name"), f, acc_by["service"].get(code, {}))
    for s in report["by_window"]:
        row("window", s["key"], s)
    for s in report["by_clerk"]:
        row("clerk", s["key"], s, s.get("name"))
    for s in report["by_hour"]:
        row("hour", f"{s['key']:02d}:00", s, acc=acc_by["hour"].get(s["key"], {}))
    for s in report["by_day"]:
        row("day", s["key"], s, acc=acc_by["day"].get(s["key"], {}))
    return out.getvalue()
