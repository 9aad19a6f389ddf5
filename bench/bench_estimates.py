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


class _Measured(dict):
    """Every estimator's answer at one issue, with what they saw: the snapshot, the service asked for."""

    snap: Any = None
    service: str = ""
    priority: str | None = None


def _capture(driver: Any) -> None:
    """Keep the snapshot each issue's estimates were computed on (the driver computes it anyway).

    The simulated ticket's service changes when it is transferred; the record keeps the one asked
    for at the kiosk, which is what the estimate was about.
    """
    from hall_server.domain import estimate

    def estimates(service: str, priority: str | None) -> dict[str, int | None]:
        snap = driver.app.core.estimates.snapshot_now(driver.app.hall(driver.hall))
        out = _Measured(estimate.estimate_all(snap, service, priority))
        out.snap, out.service, out.priority = snap, service, priority
        return out

    driver.estimates = estimates


def run_load(load_name: str, days: int, seed: int, start: str, db_dir: str,
             scenario: str | None = None, dump_dir: str | None = None, violations: int = 0) -> dict[str, Any]:
    """Simulate `days` days of one load (or scenario); returns per-estimator accuracy and day figures."""
    import pickle
    from dataclasses import replace
    from datetime import time as dtime

    from config import load_settings
    from hall_server import simulate
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
        _capture(sim.driver)
        t0 = time.perf_counter()
        results += sim.run(run if run is not None else simulate.working_days(first, days, sim.hall))
        elapsed += time.perf_counter() - t0
        engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.unlink(path + suffix)
    records = []
    for r in results:
        for t in r.tickets:
            m = t.estimates
            records.append({
                "day": r.day.isoformat(), "issued_at": t.issued_at, "number": t.number,
                "service": m.service if isinstance(m, _Measured) else t.service,
                "priority": t.priority, "ahead": t.ahead, "waited_s": t.waited_s, "eta_shown": t.eta_shown,
                "estimates": dict(m) if m is not None else None, "transfers": t.transfers, "status": t.status,
                "window": t.calls[0][1] if t.calls else None,
                "snap": replace(m.snap, _memo={}) if isinstance(m, _Measured) else None})
    target = sim.hall.queue.wait_target_minutes * 60
    meta = {"load": label, "days": len(results), "seconds": elapsed, "target_s": target,
            "strategy": sim.hall.queue.strategy,
            "sent_home": sum(r.summary(target)["sent_home"] for r in results)}
    if dump_dir:
        Path(dump_dir).mkdir(parents=True, exist_ok=True)
        with open(Path(dump_dir) / f"{label}.pkl", "wb") as f:
            pickle.dump({"meta": meta, "records": records}, f, protocol=pickle.HIGHEST_PROTOCOL)
    return measure(meta, records, violations)


def replay(path: str, violations: int = 0) -> dict[str, Any]:
    """Re-run today's estimators on the snapshots a --dump kept: same days, same real waits.

    The simulated days do not depend on the estimates (nobody leaves because of a figure), so
    this measures a change of the estimator exactly, in seconds instead of minutes. (A change of
    what the snapshot holds, in hall_server/application/estimates.py, needs a new simulation: the
    snapshots are pickled whole, so a new field, such as each window's `busy_status`, the hall's
    `show_delays` and the learned `spreads`, is carried by a new --dump; an older dump replays with the
    fields' defaults.)
    """
    import pickle

    from hall_server.domain import estimate

    with open(path, "rb") as f:
        data = pickle.load(f)
    t0 = time.perf_counter()
    for r in data["records"]:
        if r["snap"] is not None:
            r["estimates"] = estimate.estimate_all(r["snap"], r["service"], r["priority"])
            r["eta_shown"] = r["estimates"][estimate.DEFAULT_ESTIMATOR]
    data["meta"]["seconds"] = time.perf_counter() - t0
    return measure(data["meta"], data["records"], violations)


# The 3x criterion is judged against the real wait floored at one minute: the phone and the kiosk
# show minutes, and anything up to a minute is shown as "now" (estimate.eta_range), so a clerk who
# calls after 20 seconds instead of the 50 foreseen has not been mis-announced by 2.5x.
JUDGE_FLOOR_S = 60.0
NEAR_AHEAD = 3


def measure(meta: dict[str, Any], records: list[dict[str, Any]], violations: int = 0) -> dict[str, Any]:
    """Accuracy per estimator, worst error and the near-the-front criterion, from issue records."""
    from hall_server import simulate
    from hall_server.domain import estimate

    default = estimate.DEFAULT_ESTIMATOR
    called = [r for r in records if r["waited_s"] is not None and r["estimates"] is not None]
    common = [r for r in called if all(r["estimates"][e] is not None for e in ("naive", "v1", "v2", "v3"))]
    rows = {}
    for name in ESTIMATORS:
        acc = simulate.accuracy((r["estimates"][name], r["waited_s"]) for r in called)
        acc["mae_common_min"] = simulate.accuracy((r["estimates"][name], r["waited_s"]) for r in common)["mae_min"]
        acc["worst_min"] = max((abs(r["estimates"][name] - r["waited_s"]) / 60 for r in called
                                if r["estimates"][name] is not None), default=None)
        rows[name] = acc
    errors = [(abs(r["estimates"][default] - r["waited_s"]), r) for r in called if r["estimates"][default] is not None]
    worst = max(errors, key=lambda e: e[0], default=(0.0, None))
    near = [r for r in called if r["ahead"] is not None and r["ahead"] <= NEAR_AHEAD
            and r["estimates"][default] is not None]
    over3_raw = [r for r in near if r["estimates"][default] > 3 * r["waited_s"]]
    over3 = [r for r in near if r["estimates"][default] > 3 * max(r["waited_s"], JUDGE_FLOOR_S)]
    over3_floor = [r for r in over3 if r["estimates"][default] > r["waited_s"] + 300]
    target = meta["target_s"]
    n_days = max(meta["days"], 1)
    out = {
        **meta, "worst_min": worst[0] / 60,
        "near": len(near), "over3": len(over3), "over3_raw": len(over3_raw), "over3_floor": len(over3_floor),
        "rows": rows, "tickets_per_day": len(records) / n_days,
        "mean_wait_min": fmean(r["waited_s"] for r in called) / 60,
        "within_target": sum(r["waited_s"] <= target for r in called) / len(called),
        "shown_mismatch": sum(r["eta_shown"] != r["estimates"][default] for r in records if r["estimates"]),
        "default": default, "violations": [],
    }
    if violations:
        shown = sorted(over3_raw, key=lambda r: -(r["estimates"][default] - 3 * max(r["waited_s"], JUDGE_FLOOR_S)))
        out["violations"] = [describe(r) for r in shown[:violations]]
        if worst[1] is not None:
            out["violations"].append("WORST " + describe(worst[1]))
    return out


def describe(r: dict[str, Any]) -> str:
    """One issue's facts: what the estimator saw and what happened (for --violations)."""
    from dataclasses import replace

    from hall_server.domain import estimate, policy

    est, snap = r["estimates"], r["snap"]
    head = (f"{r['day']} {r['issued_at']:%H:%M:%S} {r['number']} {r['service']}"
            f"{' prio=' + r['priority'] if r['priority'] else ''} ahead={r['ahead']} "
            f"real={r['waited_s'] / 60:.1f}m (window {r['window']}, transfers {r['transfers']}) "
            f"est: " + " ".join(f"{k}={'-' if v is None else f'{v / 60:.1f}m'}" for k, v in est.items()))
    if snap is None:
        return head
    me = policy.Candidate(estimate.NEW_TICKET_ID, r["service"], snap.at, r["priority"])
    with_me = replace(snap, waiting=(*snap.waiting, me), _memo={})
    live = estimate.LiveWaits(with_me)
    group = [w for w in live.active if r["service"] in w.services]
    wins = []
    for w in snap.windows:
        if r["service"] not in w.services:
            continue
        typical = snap.minutes_of(w.busy_service or "") * 60
        status = getattr(w, "busy_status", None)  # called | serving (None in a dump made before it)
        spread = f" cv {snap.spread_of(w.busy_service):.2f}" if hasattr(snap, "spread_of") else ""
        busy = f" busy {w.busy_s:.0f}s/{typical:.0f}s{spread}{' ' + status if status else ''}" \
            if w.busy_s is not None else ""
        paused = f" paused {w.paused_s:.0f}s" if w.paused_s is not None else ""
        ranked = estimate._ahead_at(with_me, w, me, None) if estimate._active(w) else []
        wins.append(f"w{w.number}:{w.state}{busy}{paused} ranked-before={len(ranked)}"
                    f"{' break-done' if w.paused_today else ''}")
    rho = estimate._overtaking_load(with_me, group, me, live.active) if group and not r["priority"] else 0.0
    plan_at = live.plan.calls.get(me.id)
    return (head + f"\n    {snap.strategy} svc={snap.minutes_of(r['service']):.1f}min waiting={len(snap.waiting)} "
            f"plan_call={'-' if plan_at is None else f'{plan_at / 60:.1f}m'} rho={rho:.2f} "
            f"day_s={snap.day_s and snap.day_s / 3600:.2f}h "
            f"no-shows={getattr(snap, 'p_noshow', estimate.NOSHOW_P):.1%} "
            f"after {getattr(snap, 'noshow_s', estimate.NOSHOW_S):.0f}s "
            f"show delays={len(getattr(snap, 'show_delays', ()))} "
            f"spread={snap.spread:.2f} (own for {len(getattr(snap, 'spreads', {}))} services) | " + "; ".join(wins))


def fmt(v: float | None, spec: str) -> str:
    return "—" if v is None else format(v, spec)


def table(results: list[dict[str, Any]]) -> str:
    """The accuracy table in Markdown."""
    lines = ["| load | days | tickets/day | mean wait (min) | sent home | estimator | coverage | "
             "MAE (min) | within 5 min | bias (min) | p90 abs err (min) | worst abs err (min) | MAE on common (min) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for name in ESTIMATORS:
            a = r["rows"][name]
            mark = " (default)" if name == r["default"] else ""
            lines.append(
                f"| {r['load']} | {r['days']} | {r['tickets_per_day']:.0f} | {r['mean_wait_min']:.1f} | "
                f"{r['sent_home']} | {name}{mark} | {a['coverage']:.1%} | {fmt(a['mae_min'], '.1f')} | "
                f"{fmt(a['within_5'], '.1%')} | {fmt(a['bias_min'], '+.1f')} | {fmt(a['p90_abs_min'], '.1f')} | "
                f"{fmt(a['worst_min'], '.1f')} | {fmt(a['mae_common_min'], '.1f')} |")
    return "\n".join(lines)


def summary(results: list[dict[str, Any]]) -> str:
    """Per scenario: the baseline beside the default, and the near-the-front criterion."""
    lines = ["| scenario | naive MAE | naive within 5 | default MAE | default within 5 | default bias | "
             f"default worst | <={NEAR_AHEAD} ahead | est > 3x real (real floored at 1 min) | "
             "est > 3x real (no floor) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        n, d = r["rows"]["naive"], r["rows"][r["default"]]
        lines.append(f"| {r['load']} | {fmt(n['mae_min'], '.1f')} | {fmt(n['within_5'], '.1%')} | "
                     f"{fmt(d['mae_min'], '.1f')} | {fmt(d['within_5'], '.1%')} | {fmt(d['bias_min'], '+.1f')} | "
                     f"{fmt(d['worst_min'], '.1f')} | {r['near']} | {r['over3']} | {r['over3_raw']} |")
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
    ap.add_argument("--dump", metavar="DIR", help="keep every issue's snapshot and outcome in DIR/<scenario>.pkl")
    ap.add_argument("--replay", metavar="DIR", help="no simulation: re-run the estimators on a --dump's snapshots")
    ap.add_argument("--violations", type=int, default=0, metavar="N",
                    help="print the N worst tickets with <=3 ahead estimated above 3x their real wait, with "
                         "what the estimator saw (windows open/busy/paused, service minutes, plan, strategy)")
    args = ap.parse_args()
    loads = [x.strip() for x in args.loads.split(",") if x.strip()]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        if args.replay:
            names = sorted(p.stem for p in Path(args.replay).glob("*.pkl")) if not args.scenarios or \
                args.scenarios == "all" else [x.strip() for x in args.scenarios.split(",")]
            order = {n: i for i, n in enumerate([*SCENARIOS, *loads])}
            names.sort(key=lambda n: order.get(n, len(order)))
            futures = [pool.submit(replay, str(Path(args.replay) / f"{n}.pkl"), args.violations) for n in names]
        elif args.scenarios:
            names = list(SCENARIOS) if args.scenarios == "all" else [x.strip() for x in args.scenarios.split(",")]
            futures = [pool.submit(run_load, "", args.days, args.seed, args.start, args.db_dir, n, args.dump,
                                   args.violations) for n in names]
        else:
            futures = [pool.submit(run_load, name, args.days, args.seed, args.start, args.db_dir, None, args.dump,
                                   args.violations) for name in loads]
        results = [f.result() for f in futures]
    wall = time.perf_counter() - t0
    text = summary(results) + "\n\n" + table(results)
    notes = [f"Minutes throughout. The 3x criterion (issue 11) counts tickets with <={NEAR_AHEAD} of their service "
             f"ahead at issue whose default estimate exceeds 3x their real wait; the real wait is floored at "
             f"{JUDGE_FLOOR_S / 60:.0f} minute because the citizen sees minutes and anything up to a minute as "
             "\"now\" (estimate.eta_range): a 2-minute figure for a 20-second wait is not a 6x error to him. "
             "The count without the floor is shown beside it.",
             f"seed {args.seed}, {results[0]['days'] if results else args.days} working days per load from "
             f"{args.start}, hall kfs (9 windows); "
             f"wall time {wall:.0f} s with {args.jobs} process(es)"]
    for r in results:
        notes.append(f"- {r['load']}: {r['days']} days simulated in {r['seconds']:.0f} s "
                     f"({r['seconds'] / r['days']:.1f} s/day), {r['within_target']:.0%} called within the "
                     f"target, eta shown == {r['default']} on every ticket: {r['shown_mismatch'] == 0} "
                     f"({r['shown_mismatch']} differ); worst single error of {r['default']} "
                     f"{r['worst_min']:.1f} min; tickets with <=3 ahead: {r['near']}, estimate above 3x the real "
                     f"wait: {r['over3']} judged with a 1-minute floor, {r['over3_raw']} without "
                     f"({r['over3_floor']} also more than 5 min above it)")
    out = text + "\n\n" + "\n".join(notes)
    print(out)
    for r in results:
        if r["violations"]:
            print(f"\n## {r['load']}: tickets with <={NEAR_AHEAD} ahead estimated above 3x their real wait "
                  f"(worst first), and the worst single error")
            print("\n".join(r["violations"]))
    if args.out:
        Path(args.out).write_text(out + "\n")


if __name__ == "__main__":
    main()
