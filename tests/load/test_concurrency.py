"""Real concurrency against a real server: 16 kiosks issue 2,000 tickets while 9 counters work.

Checked afterwards from the database and from what every client was told: no duplicate number,
no gap, no ticket called twice, none lost, none left, and never two active tickets at a window.
"""
from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict

import pytest
import requests
from sqlalchemy import select

from hall_server.storage import make_engine, read_tx, ticket_events, tickets
from tests.support import launch

KIOSKS, TICKETS, WINDOWS = 16, 2000, 9

# Minutes on 2 cores: 8,000+ real HTTP requests and a real database; the limit only stops a hang.
pytestmark = [pytest.mark.slow, pytest.mark.serial, pytest.mark.timeout(1200)]


def _kiosk(server, services, n, issued, errors, seed):
    rnd = random.Random(seed)
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {server.devices['kiosk-1']}"
    for i in range(n):
        key = f"k{seed}-{i}"
        r = s.post(f"{server.url}/api/v1/halls/kfs/tickets", json={"service": rnd.choice(services)},
                   headers={"Idempotency-Key": key}, timeout=60)
        if r.status_code != 201:
            errors.append(("issue", r.status_code, r.text))
            continue
        issued.append(r.json())


def _sign_in_all(url: str, tokens: dict[int, str]) -> None:
    """Every clerk signs in before the kiosks start: a ticket is issued only for a service an open
    window serves. (Each counter thread signs in again on its own: the same clerk, so still 200.)"""
    for window, token in tokens.items():
        r = requests.post(f"{url}/api/v1/halls/kfs/windows/{window}/sign-in",
                          headers={"Authorization": f"Bearer {token}"}, timeout=60)
        assert r.status_code == 200, (window, r.text)


def _counter(server, window, token, kiosks_done, got, errors):
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {token}"
    base = f"{server.url}/api/v1/halls/kfs/windows/{window}"
    r = s.post(base + "/sign-in", timeout=60)
    if r.status_code != 200:
        errors.append(("sign-in", window, r.text))
        return
    while True:
        r = s.post(base + "/call-next", timeout=60)
        if r.status_code == 204:
            if kiosks_done.is_set():
                # one more look: a ticket committed just before the flag is still ours to call
                if s.post(base + "/call-next", timeout=60).status_code == 204:
                    return
                errors.append(("late", window))
                return
            time.sleep(0.05)  # a clerk glances at the screen, not a busy loop
            continue
        if r.status_code != 200:
            errors.append(("call-next", window, r.status_code, r.text))
            return
        t = r.json()
        got[window].append(t["number"])
        for action in ("start", "complete"):
            r = s.post(f"{base}/{action}", timeout=60)
            if r.status_code != 200:
                errors.append((action, window, r.status_code, r.text))
                return


def run_hall_under_load(tmp_path, database_url=None, async_mode="threading"):
    server = launch(tmp_path, database_url, async_mode=async_mode)
    try:
        services = [s["code"] for s in server.api("GET", "/halls/kfs/services").json()]
        tokens = {w: server.login(f"clerk{w}") for w in range(1, WINDOWS + 1)}
        _sign_in_all(server.url, tokens)
        issued: list[dict] = []
        got: dict[int, list[str]] = defaultdict(list)
        errors: list = []
        kiosks_done = threading.Event()
        counters = [threading.Thread(target=_counter, args=(server, w, tokens[w], kiosks_done, got, errors))
                    for w in range(1, WINDOWS + 1)]
        kiosks = [threading.Thread(target=_kiosk, args=(server, services, TICKETS // KIOSKS, issued, errors, k))
                  for k in range(KIOSKS)]
        for t in counters + kiosks:
            t.start()
        for t in kiosks:
            t.join()
        kiosks_done.set()
        for t in counters:
            t.join()
        assert errors == []
        engine = make_engine(server.database_url)
        with read_tx(engine) as c:
            rows = c.execute(select(tickets)).all()
            evs = c.execute(select(ticket_events).where(ticket_events.c.ticket_id.is_not(None))
                            .order_by(ticket_events.c.id)).all()
        engine.dispose()
    finally:
        server.stop()

    # none lost: every 201 is in the database with the number the kiosk showed
    assert len(issued) == TICKETS and len(rows) == TICKETS
    by_id = {r.id: r for r in rows}
    assert all(by_id[t["id"]].number == t["number"] for t in issued)
    # no duplicate number and no gap, per prefix
    per_prefix = defaultdict(list)
    for r in rows:
        per_prefix[r.prefix].append(r.seq)
    for prefix, seqs in per_prefix.items():
        assert sorted(seqs) == list(range(1, len(seqs) + 1)), prefix
    # every ticket called exactly once, by exactly one window, and none left waiting
    called_numbers = [n for lst in got.values() for n in lst]
    assert len(called_numbers) == TICKETS and len(set(called_numbers)) == TICKETS
    assert Counter(e.kind for e in evs if e.kind == "called")["called"] == TICKETS
    assert all(r.status == "done" for r in rows)
    # a window holds at most one ticket at a time: per window, called -> serving -> completed, in turn
    per_window = defaultdict(list)
    for e in evs:
        if e.kind in ("called", "serving", "completed"):
            per_window[e.window].append((e.kind, e.ticket_id))
    for window, seq in per_window.items():
        for i in range(0, len(seq), 3):
            (k1, t1), (k2, t2), (k3, t3) = seq[i:i + 3]
            assert (k1, k2, k3) == ("called", "serving", "completed") and t1 == t2 == t3, window
    assert len(got) == WINDOWS  # every counter got work


def test_load_on_sqlite(tmp_path):
    run_hall_under_load(tmp_path)


def test_load_on_sqlite_under_gevent(tmp_path):
    """The production mode: one event loop, writes grouped under one COMMIT (`storage._Group`)."""
    run_hall_under_load(tmp_path, async_mode="gevent")


@pytest.mark.postgres
def test_load_on_postgres(tmp_path):
    from tests.conftest import _pg_url
    run_hall_under_load(tmp_path, _pg_url())
