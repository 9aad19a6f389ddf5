"""Report generation time: 30 days of 1,500 tickets a day across 9 windows.

The history is written in bulk (tickets, their event rows and request files, as the application
would have left them), then the hall report is built for one day, a week and the whole 30 days,
as JSON and as CSV, plus the governorate view over 30 days. Prints figures; asserts nothing.

Usage: .venv/bin/python bench/bench_reports.py [--days 30] [--per-day 1500] [--repeat 3] [--postgres]
(--postgres uses HALL_TEST_PG_URL and empties that database first).
"""
from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import text

from common import pg_url
from config import load_settings
from hall_server.application import HallApp
from hall_server.application.reports import Reports, to_csv
from hall_server.domain.files import add_working_days
from hall_server.migrate import upgrade
from hall_server.storage import file_events, make_engine, request_files, ticket_events, tickets, users, write_tx

CAIRO = ZoneInfo("Africa/Cairo")


def generate(app: HallApp, days: int, per_day: int, seed: int = 7) -> tuple[int, int, date, date]:
    """Write `days` days of history ending yesterday; returns (tickets, events, first day, last day)."""
    rng = random.Random(seed)
    hall = app.hall("kfs")
    catalog = app.settings.catalog
    main = {w.number: list(w.services) for w in hall.windows}
    with write_tx(app.engine) as c:
        clerks = {}
        for n in main:
            clerks[n] = f"user:benchclerk{n}"
            c.execute(users.insert().values(username=f"benchclerk{n}", password_hash="x", role="clerk",
                                            full_name=f"موظف {n}", active=True, created_at=datetime.now(UTC)))
    last = datetime.now(CAIRO).date() - timedelta(days=1)
    first = last - timedelta(days=days - 1)
    n_tickets = n_events = 0
    tid = 0
    file_seq = 0
    for d in range(days):
        day = first + timedelta(days=d)
        opening = datetime(day.year, day.month, day.day, 8, 0, tzinfo=CAIRO)
        t_rows, e_rows, f_rows, fe_rows = [], [], [], []
        seqs: dict[str, int] = {}
        for _ in range(per_day):
            tid += 1
            window = rng.randint(1, 9)
            service = rng.choice(main[window][:3])
            prefix = catalog.service(service).prefix
            seqs[prefix] = seqs.get(prefix, 0) + 1
            # arrivals peak mid-morning: a triangle over 08:00-15:00
            issued = opening + timedelta(minutes=rng.triangular(0, 420, 120))
            wait = timedelta(seconds=rng.expovariate(1 / 600))
            called = issued + wait
            started = called + timedelta(seconds=rng.randint(10, 90))
            finished = started + timedelta(seconds=rng.randint(120, 1200))
            clerk = clerks[window]
            roll = rng.random()
            ev = [("issued", issued, service, None, "device:kiosk-1")]
            status, outcome = "done", "served"
            if roll < .02:
                ev.append(("cancelled", issued + wait / 2, service, None, "citizen:citizen"))
                status, called, started, finished = "cancelled", None, None, issued + wait / 2
            elif roll < .05:
                ev += [("called", called, service, window, clerk), ("recalled", called + timedelta(minutes=1),
                       service, window, clerk), ("no_show", called + timedelta(minutes=3), service, window, clerk)]
                status, started, finished = "no_show", None, called + timedelta(minutes=3)
            elif roll < .07:
                other = rng.choice(list(main[(window % 9) + 1][:3]))
                moved = started + timedelta(minutes=2)
                again = moved + timedelta(seconds=rng.expovariate(1 / 300))
                w2 = (window % 9) + 1
                ev += [("called", called, service, window, clerk), ("serving", started, service, window, clerk),
                       ("transferred", moved, service, window, clerk), ("called", again, other, w2, clerks[w2]),
                       ("serving", again + timedelta(seconds=30), other, w2, clerks[w2]),
                       ("completed", again + timedelta(minutes=8), other, w2, clerks[w2])]
                service, window, called, finished = other, w2, again, again + timedelta(minutes=8)
            else:
                ev += [("called", called, service, window, clerk), ("serving", started, service, window, clerk),
                       ("completed", finished, service, window, clerk)]
            t_rows.append({"id": tid, "hall": "kfs", "prefix": prefix, "day": day, "seq": seqs[prefix],
                           "number": f"{prefix}-{seqs[prefix]:03d}", "service": service, "status": status,
                           "token": f"bench{tid}", "issued_at": issued, "queued_at": issued, "called_at": called,
                           "started_at": started, "finished_at": finished, "window": window,
                           "recall_count": 0, "outcome": outcome if status == "done" else None,
                           "near_notified": False})
            for kind, at, svc, win, actor in ev:
                e_rows.append({"hall": "kfs", "ticket_id": tid, "kind": kind, "at": at, "service": svc,
                               "window": win, "actor": actor})
        for _ in range(per_day // 15):  # request files: about one submission in fifteen
            file_seq += 1
            received = opening + timedelta(minutes=rng.randint(0, 400))
            svc = rng.choice(["building_permit", "occupancy_licence_issue", "shop_licence_issue"])
            due = add_working_days(day, catalog.service(svc).deadline_days, hall.holidays)
            done = received + timedelta(days=rng.randint(3, 45)) if rng.random() < .8 else None
            f_rows.append({"id": file_seq, "hall": "kfs", "year": day.year, "seq": file_seq,
                           "number": f"{day.year}-{file_seq:06d}", "service": svc, "status": "ready" if done else
                           "under_review", "department": catalog.service(svc).sector, "citizen_name": "مواطن",
                           "national_id": "29001011300011", "fee": 0.0, "documents": [], "received_at": received,
                           "due_date": due, "updated_at": done or received})
            fe_rows.append({"file_id": file_seq, "hall": "kfs", "kind": "received", "at": received,
                            "to_status": "received"})
            if done:
                fe_rows.append({"file_id": file_seq, "hall": "kfs", "kind": "status", "at": done,
                                "from_status": "under_review", "to_status": "ready"})
        with write_tx(app.engine) as c:
            c.execute(tickets.insert(), t_rows)
            c.execute(ticket_events.insert(), e_rows)
            c.execute(request_files.insert(), f_rows)
            c.execute(file_events.insert(), fe_rows)
        n_tickets += len(t_rows)
        n_events += len(e_rows)
    return n_tickets, n_events, first, last


def measure(label: str, fn, repeat: int) -> float:
    """Run fn `repeat` times; print wall-clock median/min/max and this process's CPU time, in ms.

    On a shared machine the wall clock also counts other people's load; the CPU time is what the
    report itself costs here (SQLite runs in this process; PostgreSQL's own work is not in it).
    """
    times, cpu = [], []
    result = None
    for _ in range(repeat):
        t, p = time.perf_counter(), time.process_time()
        result = fn()
        times.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - p) * 1000)
    med = statistics.median(times)
    size = f" ({len(result) / 1024:.0f} KiB)" if isinstance(result, str) else ""
    print(f"  {label:<38} wall median {med:7.0f} ms  min {min(times):7.0f}  max {max(times):7.0f}"
          f"  | CPU median {statistics.median(cpu):7.0f} ms{size}")
    return med


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--per-day", type=int, default=1500)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--postgres", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hall-bench-reports-"))
    if args.postgres:
        url = pg_url()
        if not url:
            raise SystemExit("set HALL_TEST_PG_URL for --postgres")
        from tests.support import reset_postgres
        reset_postgres(url)
    else:
        url = f"sqlite:///{tmp / 'hall.db'}"
    settings = load_settings(env={}, database_url=url, data_dir=tmp, async_mode="threading")
    engine = make_engine(url)
    upgrade(engine)
    app = HallApp(settings, engine)
    app.ensure_halls()
    t = time.perf_counter()
    n_t, n_e, first, last = generate(app, args.days, args.per_day)
    # a live database is analysed by autovacuum; right after a bulk load the planner has no statistics
    with engine.connect() as c:
        c.execute(text("ANALYZE"))
        c.commit()
    print(f"database: {engine.dialect.name}; history: {n_t} tickets, {n_e} events over {args.days} days "
          f"({first}..{last}), 9 windows; written in {time.perf_counter() - t:.1f} s")
    reports = Reports(app)
    week = last - timedelta(days=6)
    load = os.getloadavg()
    print(f"report generation (median of {args.repeat}; load average now {load[0]:.1f} on {os.cpu_count()} CPUs):")
    measure("hall report, 1 day (JSON dict)", lambda: reports.hall_report("kfs", last, last), args.repeat)
    measure("hall report, 7 days", lambda: reports.hall_report("kfs", week, last), args.repeat)
    measure(f"hall report, {args.days} days", lambda: reports.hall_report("kfs", first, last), args.repeat)
    measure(f"hall report, {args.days} days, as CSV",
            lambda: to_csv(reports.hall_report("kfs", first, last)), args.repeat)
    measure(f"governorate view, {args.days} days", lambda: reports.governorate(first, last), args.repeat)
    r = reports.hall_report("kfs", first, last)
    print(f"check: issued {r['totals']['issued']}, waits {r['totals']['waits']}, "
          f"p90 wait {r['totals']['wait_p90_seconds']:.0f} s, within target {r['totals']['within_target_share']:.3f}, "
          f"files received {r['files']['received']}, late {r['files']['late']}")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    engine.dispose()


if __name__ == "__main__":
    main()
