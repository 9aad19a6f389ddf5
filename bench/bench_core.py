"""The hall server's core paths against a floor and against themselves, all in one run on one machine.

Sections (each prints its figures and a ratio to a baseline measured in the same run):
  floor    a minimal Flask app on the same gevent stack doing the same durable SQLite writes per
           ticket (bench/core_floor.py): throughput, p50/p99 at 1, 4 and 16 clients
  issue    POST /api/v1/halls/kfs/tickets with a kiosk token at 1, 4 and 16 clients; ratio to the
           floor measured again around each level (the shared machine's load drifts)
  queue    single-client issue with 0, 500, 1,500 and 5,000 tickets waiting; ratio to the 0-waiting p50
  calls    9 clerks at 9 windows (call-next, then complete) over 2,000 waiting: calls/s, p50/p99;
           ratio to one clerk alone at window 1, measured just before on the same queue
  fanout   call-next -> `ticket_called` received by 100 and 1,000 Socket.IO board clients running in
           their own processes (bench/core_clients.py), timed from the request's send time
           (time.time(), matched on the ticket number); ratio to the 100-client p50
  memory   server VmRSS idle, with 1,000 clients, after they leave, after 5,000 joined and left;
           KB per connected client, difference to idle
  printer  single-client issue from a kiosk without a printer and from one whose network printer
           accepts the connection and never reads (held); ratio to the no-printer latency

Every hall server is a fresh `hall-server run` (tests/support.py's LiveServer, gevent) on a copy of
one prepared SQLite database; all clients and servers run on this machine over loopback.
Targets are printed next to the figures for information; nothing is asserted.

Usage:
  .venv/bin/python bench/bench_core.py              # full run (about 10 minutes on 2 cores)
  .venv/bin/python bench/bench_core.py --quick      # everything at small sizes (1 to 1.5 minutes)
  .venv/bin/python bench/bench_core.py --only queue # one section (or a comma-separated list)
The last line of the output is one JSON object with every figure.
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import queue as queue_mod
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from common import ROOT, pct, peak_rss_mib
from tests.support import PASSWORD, LiveServer, free_port, prepare_database

BENCH = Path(__file__).resolve().parent
HALL = "kfs"
SECTIONS = ("floor", "issue", "queue", "calls", "fanout", "memory", "printer")
START_ATTEMPTS = 5  # a hall server that fails to start is retried (30 s apart) this many times


# ----- sizes ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sizes:
    """How much each section does; `--quick` shrinks everything."""

    load_levels: dict[int, int]          # clients -> requests measured (floor and issue)
    queue_levels: tuple[int, ...]        # tickets waiting before the single-client issues
    queue_samples: int
    calls_waiting: int
    calls_max: int                       # call-nexts measured with 9 windows (at most)
    calls_baseline: int                  # call-nexts by window 1 alone, the baseline
    fanout_levels: tuple[int, ...]       # Socket.IO clients
    fanout_calls: int
    fanout_procs: int
    memory_connected: int
    memory_churn: int
    memory_churn_procs: int
    printer_plain: int
    printer_held: int
    settle_s: float                      # pause before reading the server's memory


FULL = Sizes(load_levels={1: 200, 4: 400, 16: 640}, queue_levels=(0, 500, 1500, 5000), queue_samples=80,
             calls_waiting=2000, calls_max=800, calls_baseline=100,
             fanout_levels=(100, 1000), fanout_calls=20, fanout_procs=4,
             memory_connected=1000, memory_churn=5000, memory_churn_procs=10,
             printer_plain=100, printer_held=30, settle_s=5.0)
QUICK = Sizes(load_levels={1: 20, 4: 40, 16: 96}, queue_levels=(0, 40, 120, 240), queue_samples=15,
              calls_waiting=90, calls_max=60, calls_baseline=15,
              fanout_levels=(20, 100), fanout_calls=3, fanout_procs=2,
              memory_connected=100, memory_churn=300, memory_churn_procs=3,
              printer_plain=20, printer_held=4, settle_s=1.0)

TARGETS = {
    "queue_p50_ratio": 1.5,          # issue p50 at the largest queue <= 1.5 x p50 at 0 waiting
    "issue_floor_ratio": 0.5,        # issue throughput at 16 clients >= 0.5 x floor
    "calls_p99_ms": 50.0,            # call-next p99 with 9 windows
    "fanout_p99_ms": 250.0,          # 1,000 clients p99
    "kb_per_client": 40.0,           # per connected Socket.IO client
    "churn_mib": 20.0,               # RSS after 5,000 joined and left, minus idle
}


# ----- output --------------------------------------------------------------------------------------
class Report:
    """Prints the human-readable tables and keeps every figure for the final JSON line."""

    def __init__(self, quick: bool) -> None:
        self.data: dict[str, Any] = {"bench": "bench_core", "quick": quick, "sections": {}}
        self.targets: list[tuple[str, str, str, bool | None]] = []

    def section(self, title: str) -> None:
        print(f"\n== {title}", flush=True)

    def table(self, headers: list[str], rows: Iterable[list[Any]]) -> None:
        """An aligned table; the first column left-aligned, the others right-aligned."""
        cells = [headers] + [[_fmt(v) for v in row] for row in rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
        for j, row in enumerate(cells):
            print("  " + "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)))
            if j == 0:
                print("  " + "  ".join("-" * w for w in widths))
        sys.stdout.flush()

    def line(self, text: str) -> None:
        print(f"  {text}", flush=True)

    def put(self, section: str, figures: dict[str, Any]) -> None:
        self.data["sections"][section] = figures

    def target(self, name: str, goal: str, measured: str, met: bool | None) -> None:
        """An informational target; `met` None when the figure could not be measured."""
        self.targets.append((name, goal, measured, met))
        self.line(f"target {goal}: {measured} -> {_met(met)}")

    def finish(self, wall: float) -> None:
        if self.targets:
            self.section("targets (informational, not asserted)")
            self.table(["target", "goal", "measured", "status"],
                       [[n, g, m, _met(ok)] for n, g, m, ok in self.targets])
        self.data["targets"] = {n: {"goal": g, "measured": m, "met": ok} for n, g, m, ok in self.targets}
        self.data["wall_s"] = round(wall, 1)
        print(f"\nbench_core finished in {wall:.0f} s")
        print(json.dumps(self.data, sort_keys=False), flush=True)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if v != v:  # nan
            return "-"
        return f"{v:.2f}" if abs(v) < 10 else f"{v:.1f}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def _met(ok: bool | None) -> str:
    return "n/a" if ok is None else "met" if ok else "NOT met"


def ratio(a: float, b: float) -> float:
    """a / b, nan when b is zero or missing."""
    return a / b if b and b == b and a == a else float("nan")


# ----- HTTP ----------------------------------------------------------------------------------------
class Http:
    """One keep-alive HTTP/1.1 connection (http.client: light on the client's CPU)."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        u = urlsplit(base_url)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 80
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.conn = self._connect()
        self.reconnects = 0

    def _connect(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """(status, parsed JSON or None); reconnects once if the server closed the idle connection."""
        data = None if body is None else json.dumps(body).encode()
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, body=data, headers=self.headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                if attempt:
                    raise
                self.reconnects += 1
                self.conn = self._connect()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")[:300]
        return resp.status, parsed

    def post(self, path: str, body: Any = None) -> tuple[int, Any]:
        return self.request("POST", path, body)

    def close(self) -> None:
        self.conn.close()


@dataclass
class Load:
    """Latencies (ms) of one measured run and its wall time."""

    lat: list[float] = field(default_factory=list)
    wall: float = 0.0
    errors: int = 0
    first_error: str = ""

    @property
    def rate(self) -> float:
        return len(self.lat) / self.wall if self.wall else float("nan")

    def p(self, q: float) -> float:
        return pct(self.lat, q)

    def figures(self) -> dict[str, Any]:
        return {"n": len(self.lat), "per_s": round(self.rate, 1), "p50_ms": round(self.p(50), 2),
                "p99_ms": round(self.p(99), 2), "max_ms": round(max(self.lat), 2) if self.lat else None,
                "errors": self.errors, "wall_s": round(self.wall, 2)}


Op = Callable[[Http, random.Random], float]  # one timed operation; returns its latency in ms


def run_load(url: str, token: str | None, clients: int, total: int, op: Op, *, warmup: int = 1,
             deadline_s: float = 120.0, seed: int = 0) -> Load:
    """`clients` threads, each on its own keep-alive connection, share `total` operations.

    Each thread first does `warmup` untimed operations (opens its connection), then all start
    together; the run stops at `total` operations or after `deadline_s`.
    """
    out = Load()
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)
    left = [total]
    stop_at = [float("inf")]

    def worker(k: int) -> None:
        rnd = random.Random(seed * 1000 + k)
        http_ = Http(url, token)
        mine: list[float] = []
        try:
            for _ in range(warmup):
                with contextlib.suppress(Exception):  # a failed warm-up shows up in the timed part
                    op(http_, rnd)
            barrier.wait()
            while True:
                with lock:
                    if left[0] <= 0 or time.perf_counter() > stop_at[0]:
                        break
                    left[0] -= 1
                try:
                    mine.append(op(http_, rnd))
                except Exception as exc:  # noqa: BLE001 - counted and shown
                    with lock:
                        out.errors += 1
                        out.first_error = out.first_error or f"{type(exc).__name__}: {exc}"[:300]
        finally:
            http_.close()
            with lock:
                out.lat.extend(mine)

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    stop_at[0] = t0 + deadline_s
    for t in threads:
        t.join()
    out.wall = time.perf_counter() - t0
    return out


# ----- the hall: services, servers, tickets ---------------------------------------------------------
class Mix:
    """Tickets spread over services as a real hall gets them: each window's main service most,
    its second one less, the rest a little; about 1 in 20 with a priority class."""

    def __init__(self) -> None:
        from config import load_settings
        hall = load_settings(env={}).hall(HALL)
        weights: dict[str, float] = {}
        for w in hall.windows:
            for i, code in enumerate(w.services):
                weights[code] = weights.get(code, 0.0) + (6.0 if i == 0 else 2.0 if i == 1 else 1.0)
        self.services = sorted(weights)
        self.weights = [weights[s] for s in self.services]
        self.priorities = tuple(hall.queue.priority_classes)
        self.window_services = {w.number: tuple(w.services) for w in hall.windows}

    def body(self, rnd: random.Random) -> dict[str, Any]:
        b: dict[str, Any] = {"service": rnd.choices(self.services, self.weights)[0]}
        if self.priorities and rnd.random() < 0.05:
            b["priority"] = rnd.choice(self.priorities)
        return b


ISSUE_PATH = f"/api/v1/halls/{HALL}/tickets"


def issue_op(mix: Mix | None, service: str | None = None, sink: Counter | None = None) -> Op:
    """Issue one ticket (timed); `sink` counts the response's print status."""
    def op(h: Http, rnd: random.Random) -> float:
        body = mix.body(rnd) if mix else {"service": service}
        t0 = time.perf_counter()
        status, data = h.post(ISSUE_PATH, body)
        ms = (time.perf_counter() - t0) * 1000
        if status != 201:
            raise RuntimeError(f"issue answered {status}: {data}")
        if sink is not None:
            sink[(data.get("print") or {}).get("status", "?")] += 1
        return ms
    return op


def prefill(server: LiveServer, n: int, mix: Mix | None, service: str | None = None, seed: int = 99) -> float:
    """Issue n tickets through the API with 16 kiosk clients (untimed); returns seconds taken."""
    if n <= 0:
        return 0.0
    load = run_load(server.url, server.devices["kiosk-1"], 16, n, issue_op(mix, service), warmup=0,
                    deadline_s=900, seed=seed)
    if load.errors:
        raise RuntimeError(f"prefill: {load.errors} issues failed, first: {load.first_error}")
    return load.wall


def waiting_now(server: LiveServer) -> int:
    """Tickets waiting in the hall, from GET /halls/kfs/queue."""
    r = server.api("GET", f"/halls/{HALL}/queue")
    r.raise_for_status()
    w = r.json().get("waiting", {})
    return sum(v if isinstance(v, int) else sum(x for x in v.values() if isinstance(x, int))
               for v in (w.values() if isinstance(w, dict) else []))


def sign_in(server: HallServer, windows: int) -> dict[int, str]:
    """clerk<i> signs in to window i for i in 1..windows; returns window -> clerk token."""
    for i in range(1, windows + 1):
        r = server.api("POST", f"/halls/{HALL}/windows/{i}/sign-in", server.clerks[i])
        if r.status_code != 200:
            raise RuntimeError(f"sign-in at window {i}: {r.status_code} {r.text[:300]}")
    return {i: server.clerks[i] for i in range(1, windows + 1)}


class HallServer(LiveServer):
    """`hall-server run` (tests/support.py) plus the clerks' staff tokens."""

    clerks: dict[int, str]


class Template:
    """One prepared database, copied for every hall server of the run (preparing one takes seconds).

    Migrated, hall rows, staff and device tokens as tests/support.py makes them, plus the kiosk
    `kiosk-held` (section printer) and a staff token for clerk1..clerk9 (password hashing is slow
    on purpose; tokens live in the database, so every copy accepts them).
    """

    def __init__(self, folder: Path) -> None:
        from hall_server.storage import make_engine
        try:
            from hall_server.application.auth import Auth
        except ImportError:  # before the application layer became a package
            from hall_server.auth import Auth  # type: ignore[no-redef]
        self.path = folder / "template.db"
        url = f"sqlite:///{self.path}"
        self.devices = prepare_database(url, folder)
        engine = make_engine(url)
        auth = Auth(engine)
        self.devices["kiosk-held"] = auth.add_device(HALL, "kiosk-held", "kiosk")
        self.clerks = {i: auth.login(f"clerk{i}", PASSWORD)[0] for i in range(1, 10)}
        engine.dispose()  # the last connection closing checkpoints the WAL into the file

    def copy_to(self, folder: Path) -> str:
        """Copy the database (and any WAL) into folder; returns its URL."""
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                shutil.copyfile(src, folder / ("hall.db" + suffix))
        return f"sqlite:///{folder / 'hall.db'}"


class Run:
    """Shared state of one bench run: sizes, temp folder, report, the database template."""

    def __init__(self, sizes: Sizes, report: Report, tmp: Path) -> None:
        self.sizes, self.report, self.tmp = sizes, report, tmp
        self.floor: dict[int, Load] = {}
        self._n = 0
        self._template: Template | None = None
        self._template_error: str | None = None
        self.startup_s = 0.0  # spent preparing databases and starting servers (reset per section)

    def folder(self, name: str) -> Path:
        self._n += 1
        d = self.tmp / f"{self._n:02d}-{name}"
        d.mkdir(parents=True)
        return d

    def hall_server(self, name: str, env: dict[str, str] | None = None, folder: Path | None = None) -> HallServer:
        """A fresh `hall-server run` (gevent, the production default) on its own copy of the template."""
        if self._template_error is not None:
            raise RuntimeError(f"no database template: {self._template_error}")
        if self._template is None:
            t0 = time.perf_counter()
            try:
                self._template = self._retrying("database preparation", lambda: Template(self.folder("template")))
            except Exception as exc:
                self._template_error = f"{type(exc).__name__}: {exc}"  # the next sections fail at once
                raise
            self.startup_s += time.perf_counter() - t0
        folder = folder or self.folder(name)
        server = HallServer(data_dir=folder, database_url=self._template.copy_to(folder), async_mode="gevent",
                            env=env or {}, devices=dict(self._template.devices))
        server.clerks = dict(self._template.clerks)
        t0 = time.perf_counter()
        self._retrying("server start", server.start)
        self.startup_s += time.perf_counter() - t0
        return server

    def _retrying(self, what: str, fn: Callable[[], Any]) -> Any:
        """fn(), tried START_ATTEMPTS times 30 s apart.

        Others edit the server while we measure: an import broken for a minute by a refactor in
        progress is waited out; a lasting failure still fails the section after the tries.
        """
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                return fn()
            except Exception as exc:
                if attempt == START_ATTEMPTS:
                    raise
                last = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
                self.report.line(f"({what} failed, attempt {attempt}: {last[:160]}; retrying in 30 s)")
                time.sleep(30)
        raise AssertionError("unreachable")


# ----- 1. floor ------------------------------------------------------------------------------------
class FloorServer:
    """bench/core_floor.py in a child process."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(folder / "floor.log", "wb")  # noqa: SIM115 - the child writes to it until stop()
        self.proc = subprocess.Popen([sys.executable, str(BENCH / "core_floor.py"), "--port", str(self.port),
                                      "--db", str(folder / "floor.db")], cwd=str(ROOT),
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"floor server exited: {(folder / 'floor.log').read_text()[-2000:]}")
            try:
                probe = Http(self.url)
                probe.request("GET", "/ping")
                probe.close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("floor server did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def floor_op(mix: Mix) -> Op:
    """One ticket from the floor server (timed)."""
    def op(h: Http, rnd: random.Random) -> float:
        t0 = time.perf_counter()
        status, data = h.post("/tickets", mix.body(rnd))
        ms = (time.perf_counter() - t0) * 1000
        if status != 201:
            raise RuntimeError(f"floor answered {status}: {data}")
        return ms
    return op


def merge(*loads: Load) -> Load:
    """Several runs as one: latencies together, walls added."""
    out = Load()
    for load in loads:
        out.lat += load.lat
        out.wall += load.wall
        out.errors += load.errors
        out.first_error = out.first_error or load.first_error
    return out


def section_floor(run: Run) -> None:
    """The same durable writes on the same stack, without the hall's logic: the best we can hope for."""
    rep = run.report
    rep.section("1. floor: minimal Flask on gevent pywsgi (TCP_NODELAY) + one SQLite tx per ticket "
                "(WAL, synchronous=FULL, BEGIN IMMEDIATE: counter upsert, ticket, event) -> 201 JSON")
    floor = FloorServer(run.folder("floor"))
    try:
        for clients, n in run.sizes.load_levels.items():
            run.floor[clients] = run_load(floor.url, None, clients, n, floor_op(Mix()), seed=clients)
    finally:
        floor.stop()
    rows = []
    for clients, load in run.floor.items():
        rows.append([clients, len(load.lat), load.rate, load.p(50), load.p(99), load.errors])
    rep.table(["clients", "n", "tickets/s", "p50 ms", "p99 ms", "errors"], rows)
    rep.put("floor", {str(c): f.figures() for c, f in run.floor.items()})


# ----- 2. issue ------------------------------------------------------------------------------------
def section_issue(run: Run) -> None:
    """Issue throughput and latency at 1, 4 and 16 kiosk clients; ratio to the floor at the same level.

    The machine is shared, so its load drifts: at each level the floor is measured again right
    around the hall server (half its requests before, half after) and the ratio uses that pair.
    """
    rep = run.report
    rep.section("2. issue: POST /api/v1/halls/kfs/tickets (kiosk token), fresh hall server; ratio to the floor "
                "at the same number of clients, measured around it (half just before, half just after)")
    floor = FloorServer(run.folder("issue-floor"))
    server: LiveServer | None = None
    mix = Mix()
    loads: dict[int, Load] = {}
    floors: dict[int, Load] = {}
    try:
        server = run.hall_server("issue")
        sign_in(server, 9)  # a ticket is issued only for a service an open window serves
        for clients, n in run.sizes.load_levels.items():
            before = run_load(floor.url, None, clients, n // 2, floor_op(mix), seed=clients)
            loads[clients] = run_load(server.url, server.devices["kiosk-1"], clients, n, issue_op(mix),
                                      seed=clients)
            after = run_load(floor.url, None, clients, n - n // 2, floor_op(mix), seed=clients + 50)
            floors[clients] = merge(before, after)
    finally:
        if server is not None:
            server.stop()
        floor.stop()
    rows, figs = [], {}
    for clients, load in loads.items():
        fl = floors[clients]
        tr, p50r = ratio(load.rate, fl.rate), ratio(load.p(50), fl.p(50))
        rows.append([clients, len(load.lat), load.rate, load.p(50), load.p(99), load.errors,
                     fl.rate, fl.p(50), f"{tr:.2f}x", f"{p50r:.1f}x"])
        figs[str(clients)] = {**load.figures(), "floor": fl.figures(), "throughput_vs_floor": round(tr, 3),
                              "p50_vs_floor": round(p50r, 2)}
        for label, one in (("", load), (" (floor)", fl)):
            if one.first_error:
                rep.line(f"{clients} clients{label}, first error: {one.first_error}")
    rep.table(["clients", "n", "tickets/s", "p50 ms", "p99 ms", "errors", "floor tickets/s", "floor p50 ms",
               "tput/floor", "p50/floor"], rows)
    rep.put("issue", figs)
    top = max(loads)
    tr = figs[str(top)]["throughput_vs_floor"]
    rep.target("issue_vs_floor", f"issue throughput at {top} clients >= {TARGETS['issue_floor_ratio']}x floor",
               f"{tr:.2f}x ({loads[top].rate:.0f} vs {floors[top].rate:.0f} tickets/s)",
               tr >= TARGETS["issue_floor_ratio"] if tr == tr else None)


# ----- 3. queue size -------------------------------------------------------------------------------
def section_queue(run: Run) -> None:
    """Single-client issue latency as the queue grows (9 windows open, tickets over all services).

    The queue is topped up through the API (16 kiosk clients, untimed) before each level; each
    measured ticket is cancelled right after (untimed) so the level stays where it is.
    The shared machine's load drifts over the minutes this takes, so a second server that stays
    at 0 waiting is measured alongside, sample for sample (alternating): "p50/p50(0)" compares
    with the first level on the same server, "p50/ref" with that reference at the same moments.
    """
    rep = run.report
    sz = run.sizes
    rep.section("3. issue latency vs tickets waiting (single client, 9 windows signed in, tickets spread over "
                "services; each measured ticket cancelled right after; a reference server at 0 waiting "
                "measured alternately)")
    mix = Mix()
    servers: list[HallServer] = []
    results: list[tuple[int, int, float, list[float], list[float]]] = []

    def issue_cancel(h: Http, rnd: random.Random) -> float:
        """Issue (timed), then cancel the ticket (untimed) so the number waiting stays put."""
        t0 = time.perf_counter()
        status, data = h.post(ISSUE_PATH, mix.body(rnd))
        ms = (time.perf_counter() - t0) * 1000
        if status != 201:
            raise RuntimeError(f"issue answered {status}: {data}")
        st, cancelled = h.post(f"/api/v1/tickets/{data['token']}/cancel")
        if st != 200:
            raise RuntimeError(f"cancel answered {st}: {cancelled}")
        return ms

    try:
        server = run.hall_server("queue")
        servers.append(server)
        ref = run.hall_server("queue-ref")
        servers.append(ref)
        for s_ in servers:
            sign_in(s_, 9)
        kiosk = server.devices["kiosk-1"]
        h, h_ref = Http(server.url, kiosk), Http(ref.url, kiosk)
        rnd = random.Random(3)
        for _ in range(20):  # warm-up: the baseline must not carry start-up costs
            issue_cancel(h, rnd)
            issue_cancel(h_ref, rnd)
        filled = 0
        for level in sz.queue_levels:
            secs = prefill(server, level - filled, mix, seed=level)
            filled = level
            time.sleep(1.0)  # let the coalesced queue_changed of the top-up go out
            for _ in range(3):
                issue_cancel(h, rnd)
            lat, lat_ref = [], []
            for i in range(sz.queue_samples):
                pair = [(h, lat), (h_ref, lat_ref)]
                for conn, sink in (pair if i % 2 else pair[::-1]):
                    sink.append(issue_cancel(conn, rnd))
            results.append((level, waiting_now(server), secs, lat, lat_ref))
        h.close()
        h_ref.close()
    finally:
        for s_ in servers:
            s_.stop()
    base = pct(results[0][3], 50) if results else float("nan")
    rows, figs = [], {}
    for level, waiting, secs, lat, lat_ref in results:
        p50, p50_ref = pct(lat, 50), pct(lat_ref, 50)
        rows.append([level, waiting, len(lat), p50, pct(lat, 99), f"{ratio(p50, base):.2f}x", p50_ref,
                     f"{ratio(p50, p50_ref):.2f}x", f"{secs:.1f} s"])
        figs[str(level)] = {"n": len(lat), "p50_ms": round(p50, 2), "p99_ms": round(pct(lat, 99), 2),
                            "waiting_checked": waiting, "p50_vs_0": round(ratio(p50, base), 3),
                            "ref_p50_ms": round(p50_ref, 2), "ref_p99_ms": round(pct(lat_ref, 99), 2),
                            "p50_vs_ref": round(ratio(p50, p50_ref), 3), "prefill_s": round(secs, 1)}
    rep.table(["waiting", "checked", "n", "p50 ms", "p99 ms", "p50/p50(0)", "ref p50 ms (0 waiting)", "p50/ref",
               "top-up took"], rows)
    rep.put("queue", figs)
    if results:
        top, _, _, lat, lat_ref = results[-1]
        r_ref = ratio(pct(lat, 50), pct(lat_ref, 50))
        r_own = ratio(pct(lat, 50), base)
        rep.target("queue_growth", f"issue p50 at {top} waiting <= {TARGETS['queue_p50_ratio']}x p50 at 0",
                   f"{r_ref:.2f}x ({pct(lat, 50):.1f} vs {pct(lat_ref, 50):.1f} ms at 0 alongside; "
                   f"{r_own:.2f}x vs level 0 earlier)",
                   r_ref <= TARGETS["queue_p50_ratio"] if r_ref == r_ref else None)


# ----- 4. call-next with 9 windows -----------------------------------------------------------------
@dataclass
class Clerks:
    """What clerk threads measured: call-next and complete latencies (ms), calls per window."""

    call: list[float] = field(default_factory=list)
    done: list[float] = field(default_factory=list)
    per_window: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    wall: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.call) / self.wall if self.wall else float("nan")


def run_clerks(server: HallServer, windows: list[int], cap: int, deadline_s: float = 300) -> Clerks:
    """One thread per window, each with its clerk's token on a keep-alive connection: call-next
    (timed), then complete (timed apart), until `cap` calls in all, a 204 (nothing left for that
    window) or the deadline."""
    out = Clerks()
    lock = threading.Lock()
    left = [cap]
    barrier = threading.Barrier(len(windows) + 1)

    def clerk(window: int) -> None:
        h = Http(server.url, server.clerks[window])
        path = f"/api/v1/halls/{HALL}/windows/{window}"
        mine_call, mine_done = [], []
        barrier.wait()
        deadline = time.perf_counter() + deadline_s
        try:
            while time.perf_counter() < deadline:
                with lock:
                    if left[0] <= 0:
                        break
                    left[0] -= 1
                t0 = time.perf_counter()
                status, data = h.post(path + "/call-next")
                t1 = time.perf_counter()
                if status == 204:
                    break  # nothing this window serves is waiting
                if status != 200:
                    with lock:
                        out.errors.append(f"window {window} call-next {status}: {data}"[:300])
                    break
                mine_call.append((t1 - t0) * 1000)
                status, data = h.post(path + "/complete")
                mine_done.append((time.perf_counter() - t1) * 1000)
                if status != 200:
                    with lock:
                        out.errors.append(f"window {window} complete {status}: {data}"[:300])
                    break
        finally:
            h.close()
            with lock:
                out.call.extend(mine_call)
                out.done.extend(mine_done)
                out.per_window[window] += len(mine_call)

    threads = [threading.Thread(target=clerk, args=(w,), daemon=True) for w in windows]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    out.wall = time.perf_counter() - t0
    return out


def section_calls(run: Run) -> None:
    """9 clerk threads, each signed in to its window: call-next then complete, until the cap.

    The baseline, on the same server and queue just before: clerk 1 alone at window 1.
    """
    rep = run.report
    sz = run.sizes
    rep.section(f"4. call-next with 9 windows over {sz.calls_waiting} waiting (9 clerk threads: call-next then "
                "complete, each on its keep-alive connection); baseline: window 1 alone, just before")
    server = run.hall_server("calls")
    try:
        sign_in(server, 9)
        fill_s = prefill(server, sz.calls_waiting, Mix(), seed=7)
        time.sleep(1.0)
        one = run_clerks(server, [1], sz.calls_baseline)
        time.sleep(1.0)
        nine = run_clerks(server, list(range(1, 10)), sz.calls_max)
    finally:
        server.stop()
    rows = []
    for label, c in (("1 window", one), ("9 windows", nine)):
        rows.append([f"call-next, {label}", len(c.call), c.rate, pct(c.call, 50), pct(c.call, 99),
                     max(c.call, default=float("nan")), f"{ratio(pct(c.call, 50), pct(one.call, 50)):.2f}x",
                     f"{ratio(pct(c.call, 99), pct(one.call, 99)):.2f}x"])
        rows.append([f"complete, {label}", len(c.done), len(c.done) / c.wall if c.wall else float("nan"),
                     pct(c.done, 50), pct(c.done, 99), max(c.done, default=float("nan")), "", ""])
    rep.table(["", "n", "calls/s", "p50 ms", "p99 ms", "max ms", "p50/1 window", "p99/1 window"], rows)
    rep.line(f"9 windows: calls per window {dict(sorted(nine.per_window.items()))}; wall {nine.wall:.1f} s; "
             f"calls/s {ratio(nine.rate, one.rate):.2f}x the single window's; "
             f"prefill {sz.calls_waiting} took {fill_s:.1f} s")
    for e in (one.errors + nine.errors)[:3]:
        rep.line(f"error: {e}")
    figs: dict[str, Any] = {"waiting": sz.calls_waiting, "prefill_s": round(fill_s, 1)}
    for key, c in (("one_window", one), ("nine_windows", nine)):
        figs[key] = {"calls": len(c.call), "calls_per_s": round(c.rate, 1),
                     "call_next_p50_ms": round(pct(c.call, 50), 2), "call_next_p99_ms": round(pct(c.call, 99), 2),
                     "complete_p50_ms": round(pct(c.done, 50), 2), "complete_p99_ms": round(pct(c.done, 99), 2),
                     "per_window": {str(k): v for k, v in sorted(c.per_window.items())}, "errors": len(c.errors),
                     "wall_s": round(c.wall, 2)}
    p99 = pct(nine.call, 99)
    figs["nine_windows"]["p99_vs_one_window"] = round(ratio(p99, pct(one.call, 99)), 2)
    figs["nine_windows"]["rate_vs_one_window"] = round(ratio(nine.rate, one.rate), 2)
    rep.put("calls", figs)
    rep.target("calls_p99", f"call-next p99 < {TARGETS['calls_p99_ms']:.0f} ms with 9 windows", f"{p99:.1f} ms",
               p99 < TARGETS["calls_p99_ms"] if p99 == p99 else None)


# ----- Socket.IO client processes ------------------------------------------------------------------
class Fleet:
    """Processes of bench/core_clients.py, together holding `total` board clients of the hall."""

    def __init__(self, url: str, total: int, procs: int, log_dir: Path, concurrency: int = 25) -> None:
        procs = max(1, min(procs, total))
        sizes = [total // procs + (1 if i < total % procs else 0) for i in range(procs)]
        self.procs: list[subprocess.Popen] = []
        self.inbox: list[queue_mod.Queue] = []
        self.done: list[set[str]] = []
        self._cond = threading.Condition()
        self.logs = [log_dir / f"clients-{time.monotonic_ns()}-{i}.log" for i in range(procs)]
        for i, n in enumerate(sizes):
            err = open(self.logs[i], "wb")  # noqa: SIM115 - the client process writes to it until it ends
            p = subprocess.Popen([sys.executable, str(BENCH / "core_clients.py"), "--url", url, "--n", str(n),
                                  "--hall", HALL, "--concurrency", str(concurrency)], cwd=str(ROOT),
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1)
            err.close()
            self.procs.append(p)
            self.inbox.append(queue_mod.Queue())
            self.done.append(set())
            threading.Thread(target=self._read, args=(i,), daemon=True).start()

    def _read(self, i: int) -> None:
        for line in self.procs[i].stdout:  # type: ignore[union-attr]
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if "done" in msg:
                with self._cond:
                    self.done[i].add(str(msg["done"]))
                    self._cond.notify_all()
            else:
                self.inbox[i].put(msg)
        self.inbox[i].put({"eof": True})

    def _collect(self, key: str, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        out = []
        for i, q in enumerate(self.inbox):
            while True:
                try:
                    msg = q.get(timeout=max(0.1, deadline - time.monotonic()))
                except queue_mod.Empty:
                    raise RuntimeError(f"client process {i} sent no {key!r} in {timeout:.0f} s "
                                       f"(log: {self.logs[i].read_text()[-1500:]})") from None
                if key in msg:
                    out.append(msg)
                    break
                if "eof" in msg:
                    raise RuntimeError(f"client process {i} ended: {self.logs[i].read_text()[-1500:]}")
        return out

    def _send(self, cmd: str) -> None:
        for p in self.procs:
            if p.poll() is None and p.stdin:
                p.stdin.write(cmd + "\n")
                p.stdin.flush()

    def ready(self, timeout: float) -> tuple[int, int, float, list[str]]:
        """Wait until every client has joined or failed: (connected, failed, seconds, sample errors)."""
        msgs = self._collect("ready", timeout)
        errs = [e for m in msgs for e in m.get("errors", [])]
        return sum(m["ready"] for m in msgs), sum(m["failed"] for m in msgs), max(m["secs"] for m in msgs), errs

    def wait_done(self, number: str, timeout: float) -> bool:
        """True once every process says all its clients received `ticket_called` for number."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not all(number in d for d in self.done):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def dump(self, timeout: float = 60) -> dict[str, list[float]]:
        """Every receipt time per ticket number, from all processes (and forget them there)."""
        self._send("DUMP")
        merged: dict[str, list[float]] = {}
        for m in self._collect("dump", timeout):
            for number, stamps in m["dump"].items():
                merged.setdefault(number, []).extend(stamps)
        return merged

    def leave(self, timeout: float = 300) -> int:
        """Disconnect every client; returns how many left."""
        self._send("LEAVE")
        return sum(m["left"] for m in self._collect("left", timeout))

    def close(self) -> None:
        self._send("EXIT")
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


def join_timeout(n: int) -> float:
    """Generous: the server builds a snapshot for every join."""
    return 120 + n * 0.2


# ----- 5. fan-out ----------------------------------------------------------------------------------
def section_fanout(run: Run) -> None:
    """call-next -> `ticket_called` at every board client, timed from the request's send time."""
    rep = run.report
    sz = run.sizes
    rep.section(f"5. call-next -> ticket_called received, board clients in {sz.fanout_procs} processes "
                "(asyncio python-socketio, websocket), delay from sending call-next (time.time())")
    server = run.hall_server("fanout")
    results: dict[int, dict[str, Any]] = {}
    try:
        tokens = sign_in(server, 1)
        prefill(server, sz.fanout_calls * len(sz.fanout_levels) + 5, None, service="building_permit")
        h = Http(server.url, tokens[1])
        path = f"/api/v1/halls/{HALL}/windows/1"
        for n in sz.fanout_levels:
            fleet = Fleet(server.url, n, sz.fanout_procs, run.tmp)
            try:
                connected, failed, secs, errs = fleet.ready(join_timeout(n))
                time.sleep(0.5 + n / 1000)  # the joins' snapshots are out
                sent: dict[str, float] = {}
                missing_calls = 0
                for _ in range(sz.fanout_calls):
                    t_send = time.time()
                    status, data = h.post(path + "/call-next")
                    if status != 200:
                        raise RuntimeError(f"call-next answered {status}: {data}")
                    sent[str(data["number"])] = t_send
                    if not fleet.wait_done(str(data["number"]), 15.0):
                        missing_calls += 1
                    h.post(path + "/complete")
                    time.sleep(0.6)  # the coalesced queue_changed goes out before the next call
                stamps = fleet.dump()
                lat = [(t - sent[num]) * 1000 for num, ts in stamps.items() if num in sent for t in ts]
                expected = connected * len(sent)
                fleet.leave()
            finally:
                fleet.close()
            results[n] = {"clients": n, "connected": connected, "join_failed": failed, "join_s": secs,
                          "calls": len(sent), "received": len(lat), "missing": expected - len(lat),
                          "calls_incomplete": missing_calls, "p50_ms": round(pct(lat, 50), 2),
                          "p90_ms": round(pct(lat, 90), 2), "p99_ms": round(pct(lat, 99), 2),
                          "max_ms": round(max(lat), 2) if lat else None, "join_errors": errs[:3]}
            time.sleep(1.0)
        h.close()
    finally:
        server.stop()
    base = results[min(results)]["p50_ms"] if results else float("nan")
    rows = []
    for n, r in results.items():
        rows.append([n, r["connected"], f"{r['join_s']:.1f} s", r["calls"], r["received"], r["missing"],
                     r["p50_ms"], r["p90_ms"], r["p99_ms"], r["max_ms"], f"{ratio(r['p50_ms'], base):.2f}x"])
        r["p50_vs_smallest"] = round(ratio(r["p50_ms"], base), 3)
        for e in r["join_errors"]:
            rep.line(f"{n} clients, join error: {e}")
    rep.table(["clients", "joined", "join took", "calls", "received", "missing", "p50 ms", "p90 ms", "p99 ms",
               "max ms", f"p50/p50({min(results)})"], rows)
    rep.put("fanout", {str(n): r for n, r in results.items()})
    top = max(results)
    p99 = results[top]["p99_ms"]
    rep.target("fanout_p99", f"{top} clients p99 < {TARGETS['fanout_p99_ms']:.0f} ms", f"{p99:.1f} ms",
               p99 < TARGETS["fanout_p99_ms"] if p99 == p99 else None)


# ----- 6. memory -----------------------------------------------------------------------------------
def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB (/proc's "kB"), from /proc/<pid>/status."""
    cur, peak = peak_rss_mib(pid)
    return round(cur * 1024), round(peak * 1024)


def open_fds(pid: int) -> int:
    """How many file descriptors the process holds (sockets included)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def section_memory(run: Run) -> None:
    """Server RSS idle, with N clients connected, after they leave, after a bigger crowd came and went.

    "idle" is read after a warm-up (a few tickets, a few clients joined and left), so one-time
    imports and caches count as idle; the cold figure right after start-up is shown too.
    """
    rep = run.report
    sz = run.sizes
    rep.section(f"6. server memory (VmRSS): idle, {sz.memory_connected} board clients connected, after they "
                f"leave, after {sz.memory_churn} joined ({sz.memory_churn_procs} processes) and left")
    # INFO: the memory reclaimer (hall_server/memory.py) logs each trim; the settled figure waits for it
    server = run.hall_server("memory", env={"HALL_LOG_LEVEL": "INFO"})
    pid = server.pid()
    readings: dict[str, tuple[str, int, int]] = {}  # key -> (label, RSS KiB, open fds)

    def trims() -> list[str]:
        """The reclaimer's trims so far, from the server's log ("memory: trimmed (<why>; ...")."""
        try:
            text = server.log_path.read_text(errors="replace") if server.log_path else ""
        except OSError:
            return []
        return [line.split("memory: trimmed (", 1)[1].split(";", 1)[0] for line in text.splitlines()
                if "memory: trimmed (" in line]

    def reclaimed(since: int, limit_s: float) -> tuple[float, list[str]]:
        """Wait for the reclaimer's follow-up trim of a burst (once engineio has let go of the closed
        sockets, ~25 s after the first) among the trims after the first `since`; (seconds waited,
        the trims seen). Gives up after limit_s (HALL_MEMORY_TUNING=0: no trims)."""
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < limit_s:
            new = trims()[since:]
            # this burst's own trim, then its follow-up (an earlier burst's follow-up may come first)
            if "burst" in new and "after a burst" in new[new.index("burst"):]:
                return time.perf_counter() - t0, new
            time.sleep(0.5)
        return time.perf_counter() - t0, trims()[since:]

    def read(key: str, label: str) -> int:
        time.sleep(sz.settle_s)
        readings[key] = (label, rss_kib(pid)[0], open_fds(pid))
        return readings[key][1]

    def drained(limit_s: float) -> float:
        """Wait until the server has closed the clients' sockets (its fds back near idle); seconds."""
        t0 = time.perf_counter()
        while open_fds(pid) > idle_fds + 5 and time.perf_counter() - t0 < limit_s:
            time.sleep(0.5)
        return time.perf_counter() - t0

    leave_marks: dict[int, int] = {}

    def crowd(n: int, procs: int, measure: bool = True) -> tuple[int, int, float, list[str]]:
        """n clients join, RSS is read, they leave; (connected, failed, join seconds, errors)."""
        fleet = Fleet(server.url, n, procs, run.tmp)
        try:
            connected, failed, secs, errs = fleet.ready(join_timeout(n))
            if measure:
                read(f"with_{n}", f"{connected} clients connected")
            leave_marks[n] = len(trims())  # the reclaimer's trims so far: the next "burst" is this crowd's
            fleet.leave()
        finally:
            fleet.close()
        return connected, failed, secs, errs

    try:
        read("cold", "cold (just started)")
        sign_in(server, 9)  # a ticket is issued only for a service an open window serves
        prefill(server, 5, Mix())
        crowd(10, 1, measure=False)
        idle = read("idle", "idle (after warm-up: 5 tickets, 10 clients came and went)")
        idle_fds = readings["idle"][2]
        connected, failed, secs, errs = crowd(sz.memory_connected, sz.fanout_procs)
        drain = drained(120)
        read("after", f"after the {connected} left (sockets closed after {drain:.0f} s)")
        churn, churn_failed, churn_secs, churn_errs = crowd(sz.memory_churn, sz.memory_churn_procs)
        read("churn_left", f"the {churn} just left (clients disconnected)")
        churn_drain = drained(240)
        read("churn_after", f"after the {churn} left (sockets closed after {churn_drain:.0f} s)")
        # The settled figure: after the reclaimer's trims of this burst (at most one per 30 s, then a
        # follow-up ~25 s later); bench_memory reads 30 s after the sockets closed for the same reason.
        from hall_server import memory as hall_memory
        limit = hall_memory.MIN_TRIM_INTERVAL_S + 25 + 4 * hall_memory.CHECK_S + 30
        waited, seen = reclaimed(leave_marks[sz.memory_churn], limit)
        churn_later = read("churn_later", f"  after the reclaimer's trims ({', '.join(seen) or 'none seen'}), "
                                          f"{sz.settle_s + waited + sz.settle_s:.0f} s later")
        hwm = rss_kib(pid)[1]
    finally:
        server.stop()
    rep.table(["state", "RSS MiB", "minus idle MiB", "x idle", "open fds"],
              [[label, kib / 1024, (kib - idle) / 1024, f"{ratio(kib, idle):.2f}x", fds]
               for label, kib, fds in readings.values()])
    per_client = (readings[f"with_{sz.memory_connected}"][1] - idle) / connected if connected else float("nan")
    per_churn = (readings[f"with_{sz.memory_churn}"][1] - idle) / churn if churn else float("nan")
    rep.line(f"KB per connected client: {per_client:.1f} (at {connected}), {per_churn:.1f} (at {churn}); "
             f"joins took {secs:.1f} s and {churn_secs:.1f} s; failed joins {failed} and {churn_failed}; "
             f"peak RSS (VmHWM) {hwm / 1024:.0f} MiB")
    for e in (errs + churn_errs)[:3]:
        rep.line(f"join error: {e}")
    figs: dict[str, Any] = {key: {"label": label, "rss_kib": kib, "minus_idle_mib": round((kib - idle) / 1024, 2),
                                  "open_fds": fds} for key, (label, kib, fds) in readings.items()}
    figs.update({"kb_per_client": round(per_client, 2), "kb_per_client_churn": round(per_churn, 2),
                 "connected": connected, "churn_connected": churn, "join_failed": failed + churn_failed,
                 "join_s": secs, "churn_join_s": churn_secs, "hwm_kib": hwm, "sockets_closed_s": round(drain, 1),
                 "churn_sockets_closed_s": round(churn_drain, 1)})
    rep.put("memory", figs)
    rep.target("kb_per_client", f"<= {TARGETS['kb_per_client']:.0f} KB per connected client",
               f"{per_client:.1f} KB", per_client <= TARGETS["kb_per_client"] if per_client == per_client else None)
    back = (churn_later - idle) / 1024
    rep.target("churn_back", f"RSS within {TARGETS['churn_mib']:.0f} MiB of idle after {churn} joined and left",
               f"{back:+.1f} MiB", back <= TARGETS["churn_mib"])


# ----- 7. held printer -----------------------------------------------------------------------------
class HeldPrinter:
    """A TCP peer on loopback that accepts connections and never reads or answers: a jammed printer."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)  # kept open, never read

    def close(self) -> None:
        self._closed = True
        self.sock.close()
        for c in self.conns:
            c.close()


def held_printer_hall(folder: Path, port: int) -> Path:
    """The default hall file plus a kiosk `kiosk-held` whose server-side network printer is `port`."""
    from config.loader import load_catalog, load_hall
    text = (ROOT / "config" / "halls" / "kafr_saqr.toml").read_text(encoding="utf-8")
    text += ("\n# bench_core: a kiosk whose network printer accepts and never reads\n[[devices]]\n"
             'name = "kiosk-held"\nkind = "kiosk"\n'
             f'printer = {{mode = "server", backend = "network", host = "127.0.0.1", port = {port}}}\n')
    path = folder / "hall-held-printer.toml"
    path.write_text(text, encoding="utf-8")
    load_hall(path, load_catalog())  # a ConfigError here names the key
    return path


def section_printer(run: Run) -> None:
    """Single-client issue from a kiosk without a printer, then from the one whose printer is held.

    Both kiosks are in the same hall on the same server (the hall file is the default one plus
    `kiosk-held`); the kiosk without a printer goes first, so nothing left behind by the held
    printer can slow the baseline, and again after the held one (does a jammed printer at one
    kiosk slow the others?).
    """
    rep = run.report
    sz = run.sizes
    rep.section("7. issue latency, single client: kiosk without printer vs kiosk whose network printer "
                "(mode server) accepts and never reads")
    peer = HeldPrinter()
    mix = Mix()
    plain_status: Counter = Counter()
    held_status: Counter = Counter()
    after_status: Counter = Counter()
    server: LiveServer | None = None
    try:
        folder = run.folder("printer")
        hall_file = held_printer_hall(folder, peer.port)
        server = run.hall_server("printer", env={"HALL_HALLS": str(hall_file)}, folder=folder)
        devices = server.devices
        sign_in(server, 9)  # a ticket is issued only for a service an open window serves
        plain = run_load(server.url, devices["kiosk-1"], 1, sz.printer_plain, issue_op(mix, sink=plain_status),
                         warmup=3, seed=1)
        held = run_load(server.url, devices["kiosk-held"], 1, sz.printer_held, issue_op(mix, sink=held_status),
                        warmup=1, deadline_s=90, seed=2)
        after = run_load(server.url, devices["kiosk-1"], 1, max(1, sz.printer_plain // 2),
                         issue_op(mix, sink=after_status), warmup=0, seed=3)
    finally:
        if server is not None:
            server.stop()
        peer.close()
    base = plain.p(50)
    rows = []
    runs = (("no printer", plain, plain_status), ("held printer", held, held_status),
            ("no printer, after the held", after, after_status))
    for label, load, st in runs:
        rows.append([label, len(load.lat), load.p(50), load.p(99), max(load.lat, default=0.0),
                     f"{ratio(load.p(50), base):.2f}x", f"{ratio(load.p(99), plain.p(99)):.2f}x",
                     ", ".join(f"{k}={v}" for k, v in sorted(st.items()))])
    rep.table(["kiosk", "n", "p50 ms", "p99 ms", "max ms", "p50/no-printer", "p99/no-printer", "print status"], rows)
    rep.line(f"the held peer accepted {len(peer.conns)} connections")
    for label, load, _ in runs:
        if load.first_error:
            rep.line(f"{label}, first error: {load.first_error}")
    rep.put("printer", {"plain": {**plain.figures(), "print": dict(plain_status)},
                        "held": {**held.figures(), "print": dict(held_status),
                                 "p50_vs_plain": round(ratio(held.p(50), base), 2),
                                 "p99_vs_plain": round(ratio(held.p(99), plain.p(99)), 2)},
                        "plain_after": {**after.figures(), "print": dict(after_status),
                                        "p50_vs_plain": round(ratio(after.p(50), base), 2)},
                        "peer_connections": len(peer.conns)})


# ----- main ----------------------------------------------------------------------------------------
RUNNERS: dict[str, Callable[[Run], None]] = {
    "floor": section_floor, "issue": section_issue, "queue": section_queue, "calls": section_calls,
    "fanout": section_fanout, "memory": section_memory, "printer": section_printer,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="every section at small sizes (well under 2 minutes)")
    ap.add_argument("--only", default="", help=f"one section or a comma-separated list: {', '.join(SECTIONS)}")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (databases, server logs)")
    args = ap.parse_args()
    chosen = [s.strip() for s in args.only.split(",") if s.strip()] or list(SECTIONS)
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        raise SystemExit(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    chosen = [s for s in SECTIONS if s in chosen]
    sizes = QUICK if args.quick else FULL
    report = Report(args.quick)
    tmp = Path(tempfile.mkdtemp(prefix="hall-bench-core-"))
    run = Run(sizes, report, tmp)
    t_all = time.perf_counter()
    load1 = os.getloadavg()[0]
    report.data["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0], "loadavg_start": load1}
    report.data["section_s"] = {}
    print(f"# bench_core: {'quick' if args.quick else 'full'} run, sections {', '.join(chosen)}; "
          f"{os.cpu_count()} CPUs (load average {load1:.1f} at start: the machine is shared), "
          f"Python {sys.version.split()[0]}, server async_mode=gevent, SQLite (WAL, synchronous=FULL) in {tmp}",
          flush=True)
    try:
        for name in chosen:
            t0 = time.perf_counter()
            run.startup_s = 0.0
            try:
                RUNNERS[name](run)
            except Exception as exc:  # noqa: BLE001 - one broken section must not hide the others
                text = f"{type(exc).__name__}: {exc}"
                tail = " ... " + text[-600:] if len(text) > 800 else text[200:]
                report.line(f"SECTION {name} FAILED: {text[:200]}{tail}")
                report.data["sections"][name] = {"failed": text[-600:]}
            took = time.perf_counter() - t0
            report.data["section_s"][name] = {"s": round(took, 1), "setup_s": round(run.startup_s, 1),
                                              "loadavg_after": os.getloadavg()[0]}
            report.line(f"({name} took {took:.0f} s, of which {run.startup_s:.0f} s preparing the database and "
                        f"starting the server; load average {os.getloadavg()[0]:.1f})")
    finally:
        if args.keep:
            print(f"# kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    report.finish(time.perf_counter() - t_all)


if __name__ == "__main__":
    main()
