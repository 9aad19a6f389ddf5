"""Several server processes on one port: `hall-server run --workers 2` behind nginx (config/nginx-hall.conf),
sharing PostgreSQL and Redis, under the concurrency check of tests/e2e/test_concurrency.py.

16 kiosks issue 600 tickets and 9 counters call, start and complete them, all through the proxy, so both
processes take requests. Checked afterwards from the database (no duplicate number, no gap per prefix
and day, every ticket called once and done, each window called -> serving -> completed in turn) and from
boards on Socket.IO through the proxy (websocket-only on both processes, long-polling held to one
process, polling upgraded to websocket): each got every seq of the hall from 1 to the last one.
"""
from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
import socketio
from sqlalchemy import select

from hall_server import events as ev
from hall_server.storage import halls, make_engine, read_tx, ticket_events, tickets
from tests.support import PASSWORD, ROOT, free_port, prepare_database, reset_postgres

pytestmark = pytest.mark.serial  # CPU-heavy: runs after the parallel part of the suite (scripts/test.sh)

try:  # the load tests are moving from tests/e2e to tests/load
    from tests.load.test_concurrency import _counter, _kiosk, _sign_in_all
except ImportError:
    from tests.e2e.test_concurrency import _counter, _kiosk, _sign_in_all
try:
    from tests.e2e import test_redis_scale as _redis_scale
except ImportError:
    from tests.load import test_redis_scale as _redis_scale
redis_url = _redis_scale.redis_url  # the fixture: a private redis-server on a free port

KIOSKS, TICKETS, WINDOWS, WORKERS = 16, 600, 9, 2
NGINX_CONF = ROOT / "config" / "nginx-hall.conf"


def _nginx() -> str:
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(exe):
        if os.environ.get("CI"):
            pytest.fail("nginx is missing: scripts/setup.sh installs it")
        pytest.skip("nginx is not installed (scripts/setup.sh installs it)")
    return exe


def _consecutive_ports(n: int) -> int:
    """A first port such that it and the next n-1 are free right now."""
    for _ in range(50):
        first = free_port()
        try:
            for p in range(first, first + n):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
            return first
        except OSError:
            continue
    raise RuntimeError("no run of free ports")


def _wait_up(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[:4]} exited {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            if requests.get(url + "/api/v1/halls", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in time: {log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen | None) -> int | None:
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()  # the workers follow (PR_SET_PDEATHSIG)
            proc.wait(10)
    return proc.returncode


def proxy_config(tmp: Path, listen_port: int, worker_ports: list[int]) -> Path:
    """The shipped nginx file with this test's ports, inside a minimal nginx.conf that logs upstreams."""
    text = NGINX_CONF.read_text()
    servers = "".join(f"    server 127.0.0.1:{p};\n" for p in worker_ports)
    text, n_up = re.subn(r"(?:^[ \t]*server 127\.0\.0\.1:\d+;[ \t]*\n)+", servers, text, flags=re.M)
    text, n_listen = re.subn(r"^(\s*)listen 80;", rf"\1listen 127.0.0.1:{listen_port};", text, flags=re.M)
    assert (n_up, n_listen) == (2, 1), "config/nginx-hall.conf changed shape: two upstreams, one listen 80"
    (tmp / "hall.conf").write_text(text)
    user = ""
    if os.geteuid() == 0:  # nginx's workers would otherwise run as nobody, locked out of the 0700 tmp dir
        user = f"user {pwd.getpwuid(0).pw_name};"
    temp = " ".join(f"{kind}_temp_path {tmp / ('ngx-' + kind)};" for kind in
                    ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = tmp / "nginx.conf"
    conf.write_text(f"""{user}
worker_processes 1;
pid {tmp / 'nginx.pid'};
events {{ worker_connections 1024; }}
http {{
    log_format hall '$upstream_addr $status "$request"';
    access_log {tmp / 'nginx-access.log'} hall;
    {temp}
    include {tmp / 'hall.conf'};
}}
""")
    return conf


class Board:
    """A board on Socket.IO that records the seq of every hall event it is sent."""

    def __init__(self, url: str, transports: list[str] | None) -> None:
        self.seqs: set[int] = set()
        self.snapshot_seq: int | None = None
        self.lock = threading.Lock()
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("*", self._event)
        self.sio.connect(url, transports=transports, wait_timeout=15)
        ack = self.sio.call(ev.JOIN, {"hall": "kfs", "role": "board"}, timeout=15)
        assert ack and ack["ok"], ack

    def _event(self, event: str, data=None) -> None:
        if not isinstance(data, dict) or data.get("seq") is None:
            return
        with self.lock:
            if event == ev.SNAPSHOT:
                self.snapshot_seq = data["seq"]
            else:
                self.seqs.add(data["seq"])

    def missing(self, last: int) -> list[int]:
        with self.lock:
            return sorted(set(range(1, last + 1)) - self.seqs)


def _check_database(rows, evs, issued, got) -> None:
    """The checks of the single-process load test, from the shared database."""
    assert len(issued) == TICKETS and len(rows) == TICKETS
    by_id = {r.id: r for r in rows}
    assert all(by_id[t["id"]].number == t["number"] for t in issued)
    per_prefix_day = defaultdict(list)
    for r in rows:
        per_prefix_day[(r.prefix, r.day)].append(r.seq)
    for key, seqs in per_prefix_day.items():
        assert sorted(seqs) == list(range(1, len(seqs) + 1)), key  # no duplicate, no gap
    called_numbers = [n for lst in got.values() for n in lst]
    assert len(called_numbers) == TICKETS and len(set(called_numbers)) == TICKETS
    assert Counter(e.kind for e in evs)["called"] == TICKETS
    assert Counter(e.ticket_id for e in evs if e.kind == "called") == Counter(list(by_id))  # each exactly once
    assert all(r.status == "done" for r in rows)
    per_window = defaultdict(list)
    for e in evs:
        if e.kind in ("called", "serving", "completed"):
            per_window[e.window].append((e.kind, e.ticket_id))
    for window, seq in per_window.items():
        assert len(seq) % 3 == 0, window
        for i in range(0, len(seq), 3):
            (k1, t1), (k2, t2), (k3, t3) = seq[i:i + 3]
            assert (k1, k2, k3) == ("called", "serving", "completed") and t1 == t2 == t3, window
    assert len(got) == WINDOWS  # every counter got work


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(1200)
def test_two_workers_behind_nginx_share_postgres_and_redis(tmp_path, redis_url):
    from tests.conftest import _pg_url
    pg_url = _pg_url()
    nginx = _nginx()
    reset_postgres(pg_url)
    devices = prepare_database(pg_url, tmp_path)
    first = _consecutive_ports(WORKERS)
    worker_ports = list(range(first, first + WORKERS))
    proxy_port = free_port()
    public = f"http://127.0.0.1:{proxy_port}"
    conf = proxy_config(tmp_path, proxy_port, worker_ports)
    check = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "nginx-error.log")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr

    env = {**os.environ, "HALL_DATA_DIR": str(tmp_path), "HALL_DATABASE_URL": pg_url, "HALL_PUBLIC_URL": public,
           "HALL_MESSAGE_QUEUE": redis_url, "HALL_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}
    server_log, proxy_log = tmp_path / "workers.log", tmp_path / "nginx.log"
    server = proxy = None
    boards: list[Board] = []
    try:
        with open(server_log, "ab") as out:
            server = subprocess.Popen(
                [sys.executable, "-m", "hall_server", "run", "--workers", str(WORKERS), "--port", str(first),
                 "--host", "127.0.0.1", "--async-mode", "gevent"],
                cwd=str(ROOT), env=env, stdout=out, stderr=subprocess.STDOUT)
        with open(proxy_log, "ab") as out:
            proxy = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(conf), "-e",
                                      str(tmp_path / "nginx-error.log"), "-g", "daemon off;"],
                                     stdout=out, stderr=subprocess.STDOUT)
        for p in worker_ports:
            _wait_up(f"http://127.0.0.1:{p}", server, server_log)
        _wait_up(public, proxy, proxy_log)

        # boards first, so that they see the hall from seq 1: websocket-only (spread over the workers),
        # long-polling (sticky to one worker), and polling upgraded to websocket (the upgrade stays sticky)
        boards = [Board(public, ["websocket"]) for _ in range(4)]
        polling, upgrading = Board(public, ["polling"]), Board(public, None)
        boards += [polling, upgrading]

        kiosk = SimpleNamespace(url=public, devices=devices)
        services = [s["code"] for s in requests.get(f"{public}/api/v1/halls/kfs/services", timeout=30).json()]
        tokens = {}
        for w in range(1, WINDOWS + 1):
            r = requests.post(f"{public}/api/v1/auth/login", json={"username": f"clerk{w}", "password": PASSWORD},
                              timeout=30)
            r.raise_for_status()
            tokens[w] = r.json()["token"]
        _sign_in_all(public, tokens)
        issued: list[dict] = []
        got: dict[int, list[str]] = defaultdict(list)
        errors: list = []
        kiosks_done = threading.Event()
        counts = [TICKETS // KIOSKS + (1 if k < TICKETS % KIOSKS else 0) for k in range(KIOSKS)]
        counters = [threading.Thread(target=_counter, args=(kiosk, w, tokens[w], kiosks_done, got, errors))
                    for w in range(1, WINDOWS + 1)]
        kiosks = [threading.Thread(target=_kiosk, args=(kiosk, services, counts[k], issued, errors, k))
                  for k in range(KIOSKS)]
        for t in counters + kiosks:
            t.start()
        for t in kiosks:
            t.join()
        kiosks_done.set()
        for t in counters:
            t.join()
        assert errors == []

        engine = make_engine(pg_url)
        try:
            with read_tx(engine) as c:
                rows = c.execute(select(tickets)).all()
                evs = c.execute(select(ticket_events).where(ticket_events.c.ticket_id.is_not(None))
                                .order_by(ticket_events.c.id)).all()
                last = c.execute(select(halls.c.seq).where(halls.c.code == "kfs")).scalar_one()
        finally:
            engine.dispose()
        _check_database(rows, evs, issued, got)

        # every seq reaches every board, whichever process made the change (coalesced queue_changed
        # follows 0.3 s later); the deadline only stops a hang
        deadline = time.monotonic() + 120
        while any(b.missing(last) for b in boards) and time.monotonic() < deadline:
            time.sleep(0.2)
        for i, b in enumerate(boards):
            assert b.snapshot_seq == 0, i
            assert b.missing(last) == [], (i, len(b.missing(last)), b.missing(last)[:20])
        assert polling.sio.transport() == "polling" and upgrading.sio.transport() == "websocket"
        sids = {"polling": polling.sio.eio.sid, "upgrading": upgrading.sio.eio.sid}
    finally:
        for b in boards:
            b.sio.disconnect()
        proxy_rc = _stop(proxy)  # nginx writes a websocket's log line when it closes
        server_rc = _stop(server)
    assert server_rc == 0, server_log.read_text()[-3000:]
    assert proxy_rc == 0, proxy_log.read_text()[-3000:]

    # through one port to both processes: the API and the websockets were spread, a polling session was not
    upstream_of = defaultdict(Counter)
    for line in (tmp_path / "nginx-access.log").read_text().splitlines():
        addr, status, request = line.split(" ", 2)
        path = request.split(" ")[1] if " " in request else request
        if path.startswith("/api/v1/halls/kfs/tickets"):
            upstream_of["issue"][addr] += 1
        elif "/windows/" in path:
            upstream_of["counter"][addr] += 1
        elif path.startswith("/socket.io/") and "transport=websocket" in path and "sid=" not in path:
            upstream_of["websocket"][addr] += 1
        for name, sid in sids.items():
            if f"sid={sid}" in path:
                upstream_of[name][addr] += 1
    workers = {f"127.0.0.1:{p}" for p in worker_ports}
    for kind in ("issue", "counter", "websocket"):
        assert set(upstream_of[kind]) == workers, (kind, upstream_of[kind])
    for name in sids:
        assert len(upstream_of[name]) == 1 and set(upstream_of[name]) <= workers, (name, upstream_of[name])


def _refused(tmp_path, **env) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("HALL_MESSAGE_QUEUE", "HALL_PUBLIC_URL",
                                                              "HALL_DATABASE_URL")}
    return subprocess.run([sys.executable, "-m", "hall_server", "run", "--workers", "2", "--async-mode", "threading",
                           "--port", str(free_port())], cwd=str(ROOT), capture_output=True, text=True, timeout=120,
                          env={**base, "HALL_DATA_DIR": str(tmp_path), "HALL_LOG_LEVEL": "WARNING", **env})


def test_several_workers_need_a_message_queue_and_postgres(tmp_path):
    r = _refused(tmp_path, HALL_DATABASE_URL=f"sqlite:///{tmp_path / 'hall.db'}")
    assert r.returncode == 2 and "needs a message queue: set HALL_MESSAGE_QUEUE" in r.stderr, r.stderr
    r = _refused(tmp_path, HALL_DATABASE_URL=f"sqlite:///{tmp_path / 'hall.db'}",
                 HALL_MESSAGE_QUEUE="redis://127.0.0.1:6379/0")
    assert r.returncode == 2 and "needs PostgreSQL: set HALL_DATABASE_URL" in r.stderr, r.stderr
    r = _refused(tmp_path, HALL_DATABASE_URL="postgresql://hall:hall@127.0.0.1:1/hall",
                 HALL_MESSAGE_QUEUE="redis://127.0.0.1:6379/0")
    assert r.returncode == 2 and "needs HALL_PUBLIC_URL" in r.stderr, r.stderr
