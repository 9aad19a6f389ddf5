"""Ticket issuance: latency p50/p99 and throughput at 1, 4 and 16 concurrent kiosk clients.

Usage: .venv/bin/python bench/bench_issue.py [--per-client N] [--pg] [--async-mode gevent]
"""
from __future__ import annotations

import argparse
import random
import threading
import time

import requests

from common import peak_rss_mib, pg_url, start_server, summary

SERVICES = ["building_permit", "rent_payment", "occupancy_licence_issue", "union_join", "file_collect",
            "shop_licence_issue", "housing_payment_certificate", "birth_certificate"]


def run(server, clients: int, per_client: int) -> tuple[list[float], float]:
    lat: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def kiosk(k: int) -> None:
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {server.devices['kiosk-1']}"
        rnd = random.Random(k)
        mine = []
        barrier.wait()
        for _ in range(per_client):
            t0 = time.perf_counter()
            r = s.post(f"{server.url}/api/v1/halls/kfs/tickets", json={"service": rnd.choice(SERVICES)}, timeout=60)
            mine.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 201, r.text
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=kiosk, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return lat, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-client", type=int, default=0, help="tickets per client (default: 400 total per level)")
    ap.add_argument("--pg", action="store_true", help="use PostgreSQL (HALL_TEST_PG_URL)")
    ap.add_argument("--async-mode", default="gevent")
    args = ap.parse_args()
    url = pg_url() if args.pg else None
    if args.pg and not url:
        raise SystemExit("set HALL_TEST_PG_URL for --pg")
    server = start_server(args.async_mode, url)
    try:
        server.open_windows()  # a ticket is issued only for a service an open window serves
        db = "PostgreSQL" if url else "SQLite (WAL, synchronous=FULL)"
        print(f"# ticket issuance over HTTP, server async_mode={args.async_mode}, {db}")
        for clients in (1, 4, 16):
            per = args.per_client or max(1, 400 // clients)
            lat, wall = run(server, clients, per)
            print(summary(f"{clients:>2} clients", lat) + f"  throughput={len(lat) / wall:.0f} tickets/s")
        cur, peak = peak_rss_mib(server.pid())
        print(f"server memory: rss={cur:.0f} MiB peak={peak:.0f} MiB")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
