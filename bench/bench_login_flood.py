"""Kiosk issuing while four anonymous clients flood the login with wrong passwords.

One server (gevent, SQLite by default), in one run: issue p50/p99 without a flood (the baseline),
then during a flood that no limit stops (a new user name and X-Forwarded-For address each attempt:
every attempt costs a password hash, in the bounded pool), then during the plain flood of the issue
(one address, one user: refused by the limits), each with its ratio to the baseline. Last, the
cost of a token lookup, which every authenticated request now pays (no cache: one indexed SELECT).

Before the pool and the limits: p50 14 ms without, 889 ms with four flooders (x63).

Usage: .venv/bin/python bench/bench_login_flood.py [-n 60] [--kiosks 2] [--clients 4] [--pg] [--async-mode gevent]
"""
from __future__ import annotations

import argparse
import time

from common import pct, pg_url, start_server
from tests.login_flood_support import Flood, issue


def line(label: str, ms: list[float], base: list[float] | None, logins: dict[int, int] | None = None) -> str:
    text = f"{label:<44} n={len(ms):>3} p50={pct(ms, 50):6.1f} ms p99={pct(ms, 99):7.1f} ms"
    if base:
        text += f"  x{pct(ms, 50) / pct(base, 50):.1f} p50, x{pct(ms, 99) / pct(base, 99):.1f} p99"
    if logins is not None:
        text += f"  logins {dict(sorted(logins.items()))}"
    return text


def token_lookup_us(database_url: str, n: int = 2000) -> tuple[float, float]:
    """Microseconds per resolve() of a device token and of a staff token, in this process."""
    from config import load_settings
    from hall_server.application import HallApp
    from hall_server.application.auth import Auth
    from hall_server.storage import make_engine
    engine = make_engine(database_url)
    settings = load_settings(env={}, database_url=database_url, async_mode="threading")
    HallApp(settings, engine)  # loads the audit key the login's audit entry is written with
    auth = Auth(engine, idle_minutes=120)
    device = auth.add_device("kfs", f"bench-{time.monotonic_ns()}", "kiosk")
    staff, _ = auth.login("supervisor", "test-pass-2026")
    out = []
    for token in (device, staff):
        assert auth.resolve(token) is not None
        t0 = time.perf_counter()
        for _ in range(n):
            auth.resolve(token)
        out.append((time.perf_counter() - t0) / n * 1e6)
    engine.dispose()
    return out[0], out[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=60, help="tickets per kiosk in each phase")
    ap.add_argument("--kiosks", type=int, default=2)
    ap.add_argument("--clients", type=int, default=4, help="flooding clients")
    ap.add_argument("--pg", action="store_true", help="use PostgreSQL (HALL_TEST_PG_URL)")
    ap.add_argument("--async-mode", default="gevent")
    args = ap.parse_args()
    url = pg_url() if args.pg else None
    if args.pg and not url:
        raise SystemExit("set HALL_TEST_PG_URL for --pg")
    server = start_server(args.async_mode, url)
    try:
        db = "PostgreSQL" if url else "SQLite"
        print(f"# kiosk issuing under a login flood: {args.kiosks} kiosks, {args.clients} flooders, "
              f"async_mode={args.async_mode}, {db}")
        server.api("POST", "/halls/kfs/windows/1/sign-in", server.login("clerk1"))
        kiosk = server.devices["kiosk-1"]
        issue(server.url, kiosk, args.kiosks, 5)  # warm up
        base, errors = issue(server.url, kiosk, args.kiosks, args.n)
        print(line("no flood (baseline)", base, None))
        with Flood(server.url, args.clients, spoof=True) as flood:
            ms, more = issue(server.url, kiosk, args.kiosks, args.n)
        errors += more
        print(line("flood, new user+address each try (hashed)", ms, base, flood.statuses))
        with Flood(server.url, args.clients, spoof=False) as flood:
            ms, more = issue(server.url, kiosk, args.kiosks, args.n)
        errors += more
        print(line("flood, one address and user (limited)", ms, base, flood.statuses))
        again, more = issue(server.url, kiosk, args.kiosks, args.n)
        errors += more
        print(line("no flood again", again, base))
        if errors:
            print(f"issue errors: {len(errors)}, first: {errors[0]}")
        device_us, staff_us = token_lookup_us(server.database_url)
        print(f"token lookup per request (in process, {db}): device {device_us:.0f} us, staff {staff_us:.0f} us")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
