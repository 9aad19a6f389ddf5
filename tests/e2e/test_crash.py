"""A ticket the kiosk was told about survives SIGKILL of the server, and numbering never reuses."""
from __future__ import annotations

import threading
import time

import pytest
import requests
from sqlalchemy import select

from hall_server.storage import make_engine, read_tx, tickets
from tests.support import launch

SERVICES = ["building_permit", "rent_payment", "occupancy_licence_issue", "file_collect"]


# gevent on SQLite commits writes in batches (group commit, storage._Group), each batch's COMMIT inline
# while the disk syncs fast (HALL_COMMIT_OFF_LOOP=auto, storage.CommitPace), else on the hub's thread
# pool: "gevent-thread-pool" forces that path, so both are killed mid-stream
@pytest.mark.parametrize("mode", ["threading", "gevent", "gevent-thread-pool"])
def test_sigkill_while_kiosks_issue(tmp_path, mode):
    env = {"HALL_COMMIT_OFF_LOOP": "1"} if mode == "gevent-thread-pool" else {}
    server = launch(tmp_path, async_mode=mode.split("-")[0], env=env)
    server.open_windows([1, 5, 3, 9])  # SERVICES' windows: a ticket is issued only for an open service
    acknowledged: list[dict] = []
    lock = threading.Lock()
    stop = threading.Event()

    def kiosk(k: int) -> None:
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {server.devices['kiosk-1']}"
        i = 0
        while not stop.is_set():
            try:
                r = s.post(f"{server.url}/api/v1/halls/kfs/tickets", json={"service": SERVICES[(k + i) % 4]},
                           timeout=5)
            except requests.RequestException:
                return  # the server is gone
            if r.status_code == 201:
                with lock:
                    acknowledged.append(r.json())
            i += 1

    threads = [threading.Thread(target=kiosk, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    while len(acknowledged) < 60:
        time.sleep(0.01)
    server.kill()  # mid-stream: requests are in flight
    stop.set()
    for t in threads:
        t.join()
    assert server.proc.returncode == -9

    server.start()
    try:
        engine = make_engine(server.database_url)
        with read_tx(engine) as c:
            rows = {r.token: r for r in c.execute(select(tickets))}
        engine.dispose()
        for t in acknowledged:
            assert t["token"] in rows, f"acknowledged ticket {t['number']} lost"
            assert rows[t["token"]].number == t["number"]
        # numbering continues after the highest number ever given, with no reuse
        last = {}
        for r in rows.values():
            last[r.prefix] = max(last.get(r.prefix, 0), r.seq)
        for service, prefix in zip(SERVICES, ["A", "D", "B", "R"]):
            r = server.api("POST", "/halls/kfs/tickets", server.devices["kiosk-1"], json={"service": service})
            assert r.status_code == 201
            assert r.json()["number"] == f"{prefix}-{last.get(prefix, 0) + 1:03d}"
    finally:
        server.stop()
