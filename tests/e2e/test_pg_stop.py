"""PostgreSQL stops in the middle of a morning: kiosks get 503 and retry with their keys, nothing is lost or doubled.

A private PostgreSQL cluster (initdb in a temporary directory, its own port and socket: the shared cluster
of the other tests is never touched) serves a real `hall-server run` process. Four kiosk threads issue
tickets over HTTP, each ticket attempt under its own Idempotency-Key. Mid-run the cluster is stopped
(`pg_ctl -m fast stop`: sessions are terminated, new connections refused) for a few seconds and started
again. Meanwhile:

* every answer to a kiosk is a 2xx or a 503 `{"error": {"code": "unavailable"}}` with a Retry-After header
  (never a 500 or any other status); no answer at all (a timeout, a reset connection) counts like a 503;
* a kiosk retries like kiosk/static/kiosk.js: the SAME key again after max(0.8 s * tries, Retry-After
  capped at 5 s), until it is acknowledged (2xx);
* a counter calling next during the outage gets the same 503, and a normal answer after it.

When the database is back, without restarting the server process: every acknowledged ticket is in the
database exactly once under its key with the number and token it was acknowledged with, every key
answered twice got the same ticket both times, no number is given twice, no ticket exists that no kiosk
was told about, and at least one 503 was really seen (otherwise the test proved nothing).
"""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from hall_server.storage import make_engine, read_tx, tickets
from tests.support import PASSWORD, free_port, launch

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(180)]

SERVICES = ["building_permit", "rent_payment", "occupancy_licence_issue", "file_collect"]
KIOSKS = 4
OUTAGE_SECONDS = 5.0       # how long the cluster stays down
BEFORE_STOP = 20           # tickets acknowledged before the stop (requests are in flight when it comes)
AFTER_START = 3            # tickets each kiosk gets acknowledged with fresh keys once the database is back
REQUEST_TIMEOUT = 15       # the kiosk page's own timeout for the issue request
KEY_DEADLINE = 60          # a key not acknowledged this long after its first try fails the test


# ----- a private PostgreSQL cluster ------------------------------------------------------------------
def _pg_bin() -> Path:
    initdb = shutil.which("initdb")
    if initdb is None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                       key=lambda p: [int(x) for x in p.parent.parent.name.split(".") if x.isdigit()])
        if not found:
            pytest.skip("initdb is not installed (PostgreSQL server binaries are needed for a private cluster)")
        initdb = str(found[-1])
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run a private cluster as")
    return Path(os.path.realpath(initdb)).parent


@dataclass
class PrivateCluster:
    """A PostgreSQL cluster of this test only: start(), stop() and start() again like an operator would."""

    bin: Path
    root: Path
    port: int = field(default_factory=free_port)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/hall"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        cmd = list(args)
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)

    def _ok(self, *args: str, timeout: float = 60) -> None:
        r = self._run(*args, timeout=timeout)
        assert r.returncode == 0, f"{' '.join(args)} failed:\n{r.stdout}\n{r.stderr}\n{self.log_tail()}"

    def init(self) -> PrivateCluster:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._ok(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                 "-E", "UTF8", "--no-sync", "--no-instructions")
        self.start()
        self._ok(str(self.bin / "createdb"), "-h", str(self.root), "-p", str(self.port), "-U", "postgres", "hall")
        return self

    def start(self) -> None:
        self._ok(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "postgres.log"), "-w",
                 "-t", "60", "-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
                                   " -c max_connections=120", "start", timeout=90)

    def stop(self, mode: str = "fast") -> None:
        self._ok(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", timeout=90)

    def running(self) -> bool:
        return self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "status").returncode == 0

    def log_tail(self) -> str:
        log = self.root / "postgres.log"
        return log.read_text(errors="replace")[-3000:] if log.exists() else ""


@pytest.fixture
def cluster():
    pg_bin = _pg_bin()
    # Not under pytest's tmp_path: /tmp/pytest-of-root is 0700 and the postgres user could not enter it.
    # A short path also keeps the Unix socket's name within its 107 bytes.
    root = Path(tempfile.mkdtemp(prefix="hallpg-"))
    c = PrivateCluster(pg_bin, root)
    try:
        c.init()
        yield c
    finally:
        if (c.data / "postmaster.pid").exists():
            c._run(str(pg_bin / "pg_ctl"), "-D", str(c.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


# ----- kiosks and their bookkeeping -----------------------------------------------------------------
@dataclass
class Log:
    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))  # key -> every 2xx body
    bodies: dict[str, dict] = field(default_factory=dict)  # key -> the request sent under it
    statuses: Counter = field(default_factory=Counter)   # HTTP status (or "no answer") of every attempt
    unavailable: int = 0                                 # well-formed 503s
    retries: int = 0                                     # attempts after the first one of a key
    no_answer: int = 0
    wrong: list[str] = field(default_factory=list)       # anything a kiosk must never see
    acked_after_start: Counter = field(default_factory=Counter)  # per kiosk, fresh keys acknowledged

    def count(self) -> int:
        with self.lock:
            return len(self.answers)


def _kiosk(k: int, url: str, token: str, log: Log, stop: threading.Event, back: threading.Event,
           abort: threading.Event) -> None:
    """Issue tickets until told to stop; a key once tried is retried until acknowledged (even after stop).

    `abort`: the test has failed already; give up at once instead of retrying for KEY_DEADLINE.
    """
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {token}"
    i = 0
    while not stop.is_set():
        key = uuid.uuid4().hex  # one key per ticket attempt, like the kiosk page (>= 32 characters)
        fresh_after_start = back.is_set()
        body = {"service": SERVICES[(k + i) % len(SERVICES)]}
        first, tries = time.monotonic(), 0
        while True:
            if tries:
                with log.lock:
                    log.retries += 1
            retry_after = 0.0
            try:
                r = s.post(f"{url}/api/v1/halls/kfs/tickets", json=body, headers={"Idempotency-Key": key},
                           timeout=REQUEST_TIMEOUT)
            except requests.RequestException as exc:  # no answer: the ticket may exist; the same key finds it
                with log.lock:
                    log.statuses["no answer"] += 1
                    log.no_answer += 1
                    if time.monotonic() - first > KEY_DEADLINE:
                        log.wrong.append(f"kiosk {k}: key {key} never acknowledged ({exc!r})")
                        return
            else:
                with log.lock:
                    log.statuses[r.status_code] += 1
                if r.status_code in (200, 201):
                    with log.lock:
                        log.answers[key].append(r.json())
                        log.bodies[key] = body
                        if fresh_after_start:
                            log.acked_after_start[k] += 1
                    break
                problem = None
                if r.status_code != 503:
                    problem = f"kiosk {k}: HTTP {r.status_code} {r.text[:300]}"
                else:
                    try:
                        code = r.json()["error"]["code"]
                    except (ValueError, KeyError, TypeError):
                        code = None
                    ra = r.headers.get("Retry-After", "")
                    if code != "unavailable" or not ra.isdigit():
                        problem = f"kiosk {k}: a 503 without the contract's body or Retry-After: {r.text[:200]} {ra!r}"
                    else:
                        retry_after = float(ra)
                        with log.lock:
                            log.unavailable += 1
                if problem is not None:
                    with log.lock:
                        log.wrong.append(problem)
                if r.status_code < 500 or time.monotonic() - first > KEY_DEADLINE:
                    if r.status_code >= 500:
                        with log.lock:
                            log.wrong.append(f"kiosk {k}: key {key} never acknowledged")
                    return  # a 4xx: the kiosk would drop the key; the test has failed already
            if abort.is_set():
                return
            tries += 1
            # kiosk.js: max(800 ms x tries, Retry-After capped at 5 s); the same key again
            time.sleep(max(0.8 * tries, min(retry_after, 5.0)))
        i += 1


def _status_body(r: requests.Response) -> str:
    return f"{r.status_code} {r.headers.get('Retry-After')!r} {r.text[:300]}"


# fast: sessions are terminated (57P01), then a shutdown checkpoint; immediate: every process is killed and
# the start replays the WAL (crash recovery), answering 57P03 meanwhile. One async mode for each, to stay short.
@pytest.mark.parametrize(("mode", "stop_mode"), [("threading", "fast"), ("gevent", "immediate")])
def test_postgres_stops_mid_run_kiosks_retry_and_every_acknowledged_ticket_is_there_once(
        tmp_path, cluster, mode, stop_mode):
    t0 = time.monotonic()
    server = launch(tmp_path, database_url=cluster.url, async_mode=mode)
    pid = server.pid()
    clerk = server.login("clerk1")
    assert server.api("POST", "/halls/kfs/windows/1/sign-in", clerk).status_code == 200
    server.open_windows([5, 3, 9])  # the other SERVICES' windows: a ticket only for an open service
    log = Log()
    stop, back, abort = threading.Event(), threading.Event(), threading.Event()
    threads = [threading.Thread(target=_kiosk, args=(k, server.url, server.devices["kiosk-1"], log, stop, back,
                                                     abort), daemon=True) for k in range(KIOSKS)]
    outage = 0.0
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while log.count() < BEFORE_STOP:
            assert time.monotonic() < deadline, f"kiosks too slow before the stop: {log.statuses}"
            time.sleep(0.02)

        # ----- the outage: PostgreSQL stops while requests are in flight -----------------------------
        down_at = time.monotonic()
        cluster.stop(stop_mode)
        assert not cluster.running()
        acked_at_stop = log.count()
        during: list[str] = []
        r = server.api("POST", "/halls/kfs/windows/1/call-next", clerk)
        assert r.status_code == 503, _status_body(r)
        assert r.json()["error"]["code"] == "unavailable" and r.headers["Retry-After"].isdigit(), _status_body(r)
        during.append("call-next")
        r = server.api("POST", "/auth/login", json={"username": "clerk2", "password": PASSWORD})
        assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable", _status_body(r)
        assert r.headers["Retry-After"].isdigit(), _status_body(r)
        during.append("login")
        r = server.api("GET", "/halls/kfs/windows/1", clerk)
        assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable", _status_body(r)
        during.append("window view")
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))
        cluster.start()
        outage = time.monotonic() - down_at
        back.set()

        # ----- back: the same server process recovers on its own -------------------------------------
        recovered_in = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            r = server.api("POST", "/halls/kfs/windows/1/call-next", clerk)
            if r.status_code in (200, 204):
                recovered_in = time.monotonic() - (down_at + outage)
                break
            assert r.status_code == 503, _status_body(r)  # only until the pool has reconnected
            time.sleep(0.2)
        assert recovered_in is not None, "call-next never worked again after PostgreSQL came back"
        assert r.status_code == 200 and r.json()["status"] == "called", _status_body(r)
        called = r.json()
        assert server.api("POST", "/halls/kfs/windows/1/start", clerk).status_code == 200
        assert server.api("POST", "/halls/kfs/windows/1/complete", clerk).status_code == 200

        deadline = time.monotonic() + 30
        while any(log.acked_after_start[k] < AFTER_START for k in range(KIOSKS)):
            assert time.monotonic() < deadline, f"kiosks did not get going again: {log.acked_after_start} {log.wrong}"
            assert all(t.is_alive() for t in threads), log.wrong
            time.sleep(0.05)
        stop.set()
        for t in threads:
            t.join(KEY_DEADLINE + REQUEST_TIMEOUT + 5)
        assert log.wrong == [], log.wrong
        # every key once more, like a kiosk whose answer was lost: the same ticket back, nothing new
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {server.devices['kiosk-1']}"
        for key, sent in list(log.bodies.items()):
            r = s.post(f"{server.url}/api/v1/halls/kfs/tickets", json=sent, headers={"Idempotency-Key": key},
                       timeout=REQUEST_TIMEOUT)
            assert r.status_code == 200, _status_body(r)  # 200, not 201: found, not created again
            log.answers[key].append(r.json())
    except BaseException:
        abort.set()
        raise
    finally:
        stop.set()
        for t in threads:
            t.join(KEY_DEADLINE + REQUEST_TIMEOUT + 5)
        if not cluster.running():
            cluster.start()
        alive = server.proc is not None and server.proc.poll() is None
        server.stop()
    server_log = server.log_path.read_text(errors="replace") if server.log_path else ""

    # ----- what the kiosks saw -----------------------------------------------------------------------
    assert not any(t.is_alive() for t in threads), "a kiosk is still retrying"
    assert log.wrong == [], log.wrong
    assert alive and server.pid() == pid, "the server process died or was replaced"
    assert "unhandled error" not in server_log, server_log[-4000:]
    assert log.unavailable >= 1, f"no 503 was seen: the outage proved nothing ({log.statuses})"
    assert set(log.statuses) <= {200, 201, 503, "no answer"}, log.statuses

    # ----- what the database holds -----------------------------------------------------------------------
    engine = make_engine(cluster.url)
    try:
        with read_tx(engine) as c:
            rows = c.execute(select(tickets).where(tickets.c.hall == "kfs")).all()
    finally:
        engine.dispose()
    by_key = defaultdict(list)
    for row in rows:
        by_key[row.idempotency_key].append(row)
    numbers = Counter((row.day, row.number) for row in rows)
    assert [n for n, times in numbers.items() if times > 1] == [], "a number was given twice"
    for key, answers in log.answers.items():
        assert len({(a["number"], a["token"]) for a in answers}) == 1, f"key {key} got two tickets: {answers}"
        assert len(by_key[key]) == 1, f"key {key}: {len(by_key[key])} tickets in the database, acknowledged once"
        row, ack = by_key[key][0], answers[0]
        assert (row.number, row.token, row.device) == (ack["number"], ack["token"], "kiosk-1"), (row, ack)
    assert set(by_key) == set(log.answers), "a ticket exists that no kiosk was told about (or one is missing)"
    assert called["number"] in {a[0]["number"] for a in log.answers.values()}

    found_again = log.statuses[200]  # a retry found the ticket that its refused (or lost) attempt had committed
    print(f"\npg stop ({mode}, -m {stop_mode}): {len(log.answers)} tickets acknowledged ({acked_at_stop} before "
          f"the stop), outage {outage:.1f} s, {log.unavailable} x 503, {log.retries} retries, {log.no_answer} "
          f"without answer, {found_again} retries answered 200 (committed before), statuses {dict(log.statuses)}; "
          f"call-next back {recovered_in:.2f} s after the start; 503 during the outage for {', '.join(during)}; "
          f"{time.monotonic() - t0:.1f} s in all")
