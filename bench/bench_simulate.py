"""The simulator's speed, and what the wait estimators cost the live server.

1. One simulated day per load, in process on SQLite in /dev/shm: tickets, application commands
   (ticket and window events), wall and CPU seconds, and the day's arrivals per hour against the
   configured rates.
2. queue_state / services_overview (run after every command for the boards and kiosks) with
   v1 and with v2, with N tickets waiting: CPU milliseconds per call.

Usage: .venv/bin/python bench/bench_simulate.py [--loads light,normal,overloaded,closing] [--waiting 300]
"""
from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from config import load_settings  # noqa: E402
from hall_server import simulate  # noqa: E402
from hall_server.application import Actor, HallApp  # noqa: E402
from hall_server.application.auth import Auth  # noqa: E402
from hall_server.migrate import upgrade  # noqa: E402
from hall_server.storage import make_engine, read_tx, ticket_events  # noqa: E402

DB_DIR = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()


def fresh(name: str):
    """Settings and a migrated engine on a new SQLite file (drop it with `done`)."""
    path = Path(tempfile.mkdtemp(prefix=f"hall-bench-{name}-", dir=DB_DIR)) / "hall.db"
    url = f"sqlite:///{path}"
    settings = load_settings(env={}, database_url=url, data_dir=path.parent, async_mode="threading")
    engine = make_engine(url)
    upgrade(engine)
    return settings, engine


def done(settings, engine) -> None:
    """Close the database and remove its folder."""
    engine.dispose()
    shutil.rmtree(settings.data_dir, ignore_errors=True)


def one_day(load_name: str, seed: int, day: date) -> None:
    settings, engine = fresh(load_name)
    hall = settings.halls[0]
    sim = simulate.in_process(settings, engine, hall.code, simulate.LOADS[load_name], seed,
                              datetime.combine(day, datetime.min.time(), tzinfo=hall.tz))
    w0, c0 = time.perf_counter(), time.process_time()
    result = sim.run_day(day)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    with read_tx(engine) as c:
        commands = c.execute(select(func.count()).select_from(ticket_events)).scalar_one()
    per_hour = dict.fromkeys(sim.b.hours, 0)
    for t in result.tickets:
        per_hour[t.issued_at.astimezone(hall.tz).hour] += 1
    expected = sim.demand.hourly(day.weekday())
    worst = max(abs(per_hour[h] - expected[h]) / math.sqrt(expected[h]) for h in expected)
    s = result.summary(hall.queue.wait_target_minutes * 60)
    print(f"{load_name:>10}: {s['issued']} tickets, {commands} commands, wall {wall:.1f} s, CPU {cpu:.1f} s "
          f"({commands / cpu:.0f} commands per CPU-second); mean wait {s['mean_wait_min']:.1f} min; "
          f"arrivals per hour vs rate: worst {worst:.1f} sd")
    print("            observed/expected per hour: " + ", ".join(
        f"{h}h {per_hour[h]}/{expected[h]:.0f}" for h in sorted(expected)))
    done(settings, engine)


def estimator_cost(waiting: int, seed: int) -> None:
    settings, engine = fresh("estimators")
    now = [datetime(2026, 11, 22, 7, 0, tzinfo=UTC)]
    app = HallApp(settings, engine, clock=lambda: now[0])
    app.ensure_halls()
    hall = settings.halls[0]
    auth = Auth(engine)
    for w in hall.windows:
        uid = auth.add_user(f"bench-clerk-{w.number}", "bench-password", "clerk")
        clerk = Actor("user", f"bench-clerk-{w.number}", "clerk", user_id=uid)
        app.set_window_state(hall.code, w.number, "sign_in", clerk)
    rnd = random.Random(seed)
    codes = [c for w in hall.windows for c in w.services]
    for _ in range(waiting):
        app.issue_ticket(hall.code, rnd.choice(codes), priority="elderly" if rnd.random() < 0.08 else None)
        now[0] += timedelta(seconds=5)
    for name in ("v1", "v2"):
        app.estimator = name
        for label, fn in (("queue_state", app.queue_state), ("services_overview", app.services_overview)):
            c0 = time.process_time()
            for _ in range(30):
                now[0] += timedelta(seconds=1)
                fn(hall.code)
            print(f"{name} {label} with {waiting} waiting: {(time.process_time() - c0) / 30 * 1000:.1f} ms CPU")
    done(settings, engine)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loads", default="light,normal,overloaded,closing")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--day", default="2026-03-02", help="a working day (Monday: weekday factor 1.05)")
    ap.add_argument("--waiting", type=int, default=300)
    args = ap.parse_args()
    for name in args.loads.split(","):
        one_day(name.strip(), args.seed, date.fromisoformat(args.day))
    estimator_cost(args.waiting, args.seed)


if __name__ == "__main__":
    main()
