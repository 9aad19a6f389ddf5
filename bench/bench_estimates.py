"""Wait-estimate accuracy: the estimate at issue against the wait that happened, per load.

Each load runs N simulated working days (seeded) through the real application layer, in
process, on a fresh SQLite file in /dev/shm (history builds up day by day, as in a real hall).
At every issue, all the estimators see the same state; the ticket's wait is issue -> first call.
Tickets never called (sent home at closing time) have no wait and are left out; their count is
shown. Prints a Markdown table (and writes it with --out).

Usage: .venv/bin/python bench/bench_estimates.py [--days 20] [--loads light,normal,overloaded,closing]
       [--seed 1] [--jobs 2] [--out bench/estimates_results.md]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from statistics import fmean
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ESTIMATORS = ("naive", "v1", "v2", "v3", "les")
# States a real hall passes through (issue 11): each a load plus what is special about its days.
SCENARIOS: dict[str, dict[str, Any]] = {
    "morning_peak": {"load": "normal"},  # real-looking arrivals: the 9-11 peak, sign-ins over 15 min, breaks
    "cold_start": {"load": "normal", "fresh_days": True},  # every day is the hall's first: no history
    "burst": {"load": "normal", "behaviour": {"burst": ("08:20", 30, 120.0)}},  # 30 citizens in 2 minutes
    "late_windows": {"load": "normal", "behaviour": {"sign_in_spread_min": 75.0}},  # windows open one by one
    "long_breaks": {"load": "normal", "behaviour": {"break_min": (30.0, 45.0),
                                                    "break_start": ("10:00", "11:30")}},
    "strict_order": {"load": "normal", "strategy": "strict_order"},
    "overloaded": {"load": "overloaded"},
}


def run_load(load_name: str, days: int, seed: int, start: str, db_dir: str,
             scenario: str | None = None) -> dict[str, Any]:
    """Simulate `days` days of one load (or scenario); returns per-estimator accuracy and day figures."""
    from dataclasses import replace
    from datetime import time as dtime

    from config import load_settings
    from hall_server import simulate
    from hall_server.domain import estimate
    from hall_server.migrate import upgrade
    from hall_server.storage import make_engine

    spec = SCENARIOS[scenario] if scenario else {"load": load_name}
    label = scenario or load_name
    overrides = {k: tuple(dtime.fromisoformat(x) for x in v) if k == "break_start"
                 else (dtime.fromisoformat(v[0]), *v[1:]) if k == "burst" else v
                 for k, v in spec.get("behaviour", {}).items()}
    behaviour = simulate.Behaviour(**overrides)
    first = date.fromisoformat(start)
    load = simulate.LOADS[spec["load"]]
    results = []
    elapsed = 0.0
    # cold start: each day on a fresh database (no history); else one database, history building up
    runs = [[d] for d in simulate.working_days(first, days, load_settings(env={}).hall("kfs"))] \
        if spec.get("fresh_days") else [None]
    for i, run in enumerate(runs):
        fd, path = tempfile.mkstemp(prefix=f"hall-est-{label}-", suffix=".db", dir=db_dir)
        os.close(fd)
        os.unlink(path)
        url = f"sqlite:///{path}"
        settings = load_settings(env={}, database_url=url, data_dir=Path(db_dir), async_mode="threading")
        if spec.get("strategy"):
            halls = tuple(replace(h, queue=replace(h.queue, strategy=spec["strategy"])) for h in settings.halls)
            settings = replace(settings, halls=halls)
        engine = make_engine(url)
        upgrade(engine)
        sim = simulate.in_process(settings, engine, "kfs", load, seed + i,
                                  datetime.combine(first, datetime.min.time(), tzinfo=UTC), measure=True,
                                  behaviour=behaviour)
        t0 = time.perf_counter()
        results += sim.run(run if run is not None else simulate.working_days(first, days, sim.hall))
        elapsed += time.perf_counter() - t0
        engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.unlink(path + suffix)
    tickets = [t for r in results for t in r.tickets]
    called = [t for t in tickets if t.waited_s is not None]
    common = [t for t in called if all(t.estimates[e] is not None for e in ("naive", "v1", "v2", "v3"))]
    rows = {}
    for name in ESTIMATORS:
        acc = simulate.accuracy((t.estimates[name], t.waited_s) for t in called)
        acc["mae_common_min"] = simulate.accuracy((t.estimates[name], t.waited_s) for t in common)["mae_min"]
        rows[name] = acc
    default = estimate.DEFAULT_ESTIMATOR
    errors = [(abs(t.estimates[default] - t.waited_s), t) for t in called if t.estimates[default] is not None]
    worst = max(errors, key=lambda e: e[0], default=(0.0, None))
    near = [t for t in called if t.ahead is not None and t.ahead <= 3 and t.estimates[default] is not None]
    over3 = [t for t in near if t.estimates[default] > 3 * t.waited_s]
    over3_floor = [t for t in over3 if t.estimates[default] > t.waited_s + 300]
    target = sim.hall.queue.wait_target_minutes * 60
    summaries = [r.summary(target) for r in results]
    return {
        "load": label, "days": len(results), "worst_min": worst[0] / 60,
        "near": len(near), "over3": len(over3), "over3_floor": len(over3_floor), "rows": rows, "seconds": elapsed,
        "tickets_per_day": len(tickets) / len(results),
        "mean_wait_min": fmean(t.waited_s for t in called) / 60,
        "within_target": sum(t.waited_s <= target for t in called) / len(called),
        "sent_home": sum(s["sent_home"] for s in summaries),
        "shown_mismatch": sum(t.eta_shown != t.estimates[estimate.DEFAULT_ESTIMATOR] for t in tickets),
        "default": estimate.DEFAULT_ESTIMATOR,
    }


def fmt(v: float | None, spec: str) -> str:
    return "—" if v is None else format(v, spec)


def table(results: list[dict[str, Any]]) -> str:
    """The accuracy table in Markdown."""
    lines = ["| load | days | tickets/day | mean wait (min) | sent home | estimator | coverage | "
             "MAE (min) | within 5 min | bias (min) | p90 abs err (min) | MAE on common (min) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for name in ESTIMATORS:
            a = r["rows"][name]
            mark = " (default)" if name == r["default"] else ""
            lines.append(
                f"| {r['load']} | {r['days']} | {r['tickets_per_day']:.0f} | {r['mean_wait_min']:.1f} | "
                f"{r['sent_home']} | {name}{mark} | {a['coverage']:.1%} | {fmt(a['mae_min'], '.1f')} | "
                f"{fmt(a['within_5'], '.1%')} | {fmt(a['bias_min'], '+.1f')} | {fmt(a['p90_abs_min'], '.1f')} | "
                f"{fmt(a['mae_common_min'], '.1f')} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=20)
    ap.add_argument("--loads", default="light,normal,overloaded,closing")
    ap.add_argument("--scenarios", help="comma-separated scenarios instead of loads: " + ", ".join(SCENARIOS)
                    + " (or 'all')")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", default="2026-03-01", help="first simulated day (weekends and holidays skipped)")
    ap.add_argument("--jobs", type=int, default=1, help="loads simulated in parallel (processes)")
    ap.add_argument("--db-dir", default="/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir())
    ap.add_argument("--out", help="also write the table and figures to this Markdown file")
    args = ap.parse_args()
    loads = [x.strip() for x in args.loads.split(",") if x.strip()]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        if args.scenarios:
            names = list(SCENARIOS) if args.scenarios == "all" else [x.strip() for x in args.scenarios.split(",")]
            futures = [pool.submit(run_load, "", args.days, args.seed, args.start, args.db_dir, n) for n in names]
        else:
            futures = [pool.submit(run_load, name, args.days, args.seed, args.start, args.db_dir)
                       for name in loads]
        results = [f.result() for f in futures]
    wall = time.perf_counter() - t0
    text = table(results)
    notes = [f"seed {args.seed}, {args.days} working days per load from {args.start}, hall kfs (9 windows); "
             f"wall time {wall:.0f} s with {args.jobs} process(es)"]
    for r in results:
        notes.append(f"- {r['load']}: {r['days']} days simulated in {r['seconds']:.0f} s "
                     f"({r['seconds'] / r['days']:.1f} s/day), {r['within_target']:.0%} called within the "
                     f"target, eta shown == {r['default']} on every ticket: {r['shown_mismatch'] == 0} "
                     f"({r['shown_mismatch']} differ); worst single error of {r['default']} "
                     f"{r['worst_min']:.1f} min; tickets with <=3 ahead: {r['near']}, estimate above 3x the real "
                     f"wait: {r['over3']} ({r['over3_floor']} of them also more than 5 min above it)")
    out = text + "\n\n" + "\n".join(notes)
    print(out)
    if args.out:
        Path(args.out).write_text(out + "\n")


if __name__ == "__main__":
    main()
