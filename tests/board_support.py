"""Helpers for the board and announcer tests: staff at windows, tickets, calls, sockets, logs."""
from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from hall_server import events as ev
from tests.support import LiveServer

HALL = "kfs"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "board"


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, what: str = "condition",
             interval: float = 0.05) -> Any:
    """Poll until condition() is truthy and return it; fail naming what never happened."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def main_services() -> dict[int, str]:
    """Each window's first (main) service in the default hall file."""
    from config import load_settings
    hall = load_settings(env={}).hall(HALL)
    return {w.number: w.services[0] for w in hall.windows}


def sign_in(server: LiveServer, windows: range | list[int]) -> dict[int, str]:
    """Sign clerkN in at window N; return their tokens by window."""
    tokens = {}
    for w in windows:
        tokens[w] = server.login(f"clerk{w}")
        r = server.api("POST", f"/halls/{HALL}/windows/{w}/sign-in", tokens[w])
        assert r.status_code == 200, r.text
    return tokens


def issue(server: LiveServer, service: str, count: int = 1) -> list[dict]:
    """Issue tickets from the kiosk device."""
    out = []
    for _ in range(count):
        r = server.api("POST", f"/halls/{HALL}/tickets", server.devices["kiosk-1"], json={"service": service})
        assert r.status_code == 201, r.text
        out.append(r.json())
    return out


def act(server: LiveServer, token: str, window: int, action: str) -> requests.Response:
    """A window action (call-next, start, recall, ...) that must succeed."""
    r = server.api("POST", f"/halls/{HALL}/windows/{window}/{action}", token)
    assert r.status_code == 200, (window, action, r.status_code, r.text)
    return r


def calls_of(server: LiveServer) -> list[dict]:
    """The board's last calls, newest first."""
    return server.api("GET", f"/halls/{HALL}/board").json()["calls"]


def burst_plan(windows: int = 9, calls: int = 20, recalls: tuple[int, ...] = ()) -> list[list[str]]:
    """Per window, the actions of a burst: rounds of call-next (start first when serving), recalls last."""
    plan: list[list[str]] = [[] for _ in range(windows)]
    made = 0
    round_ = 0
    while made < calls - len(recalls):
        for w in range(windows):
            if made == calls - len(recalls):
                break
            plan[w] += (["start", "call-next"] if round_ else ["call-next"])
            made += 1
        round_ += 1
    for w in recalls:
        plan[w - 1].append("recall")
    return plan


def run_burst(server: LiveServer, tokens: dict[int, str], plan: list[list[str]]) -> float:
    """Run every window's actions at once (one thread per window); return the seconds it took."""
    gate = threading.Barrier(len(plan) + 1)
    errors: list[Any] = []

    def window(w: int, actions: list[str]) -> None:
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {tokens[w]}"
        gate.wait()
        for a in actions:
            r = s.post(f"{server.url}/api/v1/halls/{HALL}/windows/{w}/{a}", timeout=30)
            if r.status_code != 200:
                errors.append((w, a, r.status_code, r.text))

    threads = [threading.Thread(target=window, args=(w + 1, acts)) for w, acts in enumerate(plan)]
    for t in threads:
        t.start()
    gate.wait()
    started = time.perf_counter()
    for t in threads:
        t.join(60)
    took = time.perf_counter() - started
    assert not errors, errors
    return took


def called_ids(server: LiveServer) -> list[int]:
    """Every call's id (called and recalled events) from the server's database, in order."""
    from sqlalchemy import select

    from hall_server.storage import make_engine, read_tx, ticket_events
    engine = make_engine(server.database_url)
    try:
        with read_tx(engine) as c:
            return [r.id for r in c.execute(select(ticket_events.c.id).where(
                ticket_events.c.kind.in_(("called", "recalled"))).order_by(ticket_events.c.id))]
    finally:
        engine.dispose()


def call_span_seconds(server: LiveServer) -> float:
    """Seconds between the first and the last call of the hall (from the event rows' times)."""
    from sqlalchemy import func, select

    from hall_server.storage import make_engine, read_tx, ticket_events
    engine = make_engine(server.database_url)
    try:
        with read_tx(engine) as c:
            first, last = c.execute(select(func.min(ticket_events.c.at), func.max(ticket_events.c.at)).where(
                ticket_events.c.kind.in_(("called", "recalled")))).one()
    finally:
        engine.dispose()
    return (last - first).total_seconds()


def played_log(folder: Path) -> list[dict]:
    """The FileSink's played.log as rows (seq, file, label, start/end monotonic, duration)."""
    path = folder / "played.log"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text("utf-8").splitlines():
        seq, name, label, start, end, _ws, _we, duration = line.split("\t")
        rows.append({"seq": int(seq), "name": name, "label": label, "call_id": int(label.split()[0]),
                     "start": float(start), "end": float(end), "duration": float(duration)})
    return rows


def sox_stats(path: Path) -> dict[str, float]:
    """`sox file -n stat` as numbers (length, RMS amplitude, maximum amplitude)."""
    out = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True, check=True).stderr
    stats = {}
    for key, name in (("Length (seconds)", "length"), ("RMS     amplitude", "rms"),
                      ("Maximum amplitude", "max")):
        m = re.search(re.escape(key) + r":\s+(-?[0-9.]+)", out)
        assert m, out
        stats[name] = float(m.group(1))
    return stats


class HallListener:
    """A real Socket.IO client in the hall (supervisor or board role) that records every event."""

    def __init__(self, server: LiveServer, role: str = "board", auth: str | None = None) -> None:
        import socketio
        self.events: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("*", self._record)
        self.sio.on(ev.SNAPSHOT, lambda data: self._record(ev.SNAPSHOT, data))
        self.sio.connect(server.url, transports=["websocket"], wait_timeout=10)
        join = {"hall": HALL, "role": role}
        if auth:
            join["auth"] = auth
        ack = self.sio.call(ev.JOIN, join, timeout=10)
        assert ack and ack.get("ok"), ack

    def _record(self, name: str, data: Any = None) -> None:
        with self._lock:
            self.events.append((name, data))

    def of(self, name: str) -> list[Any]:
        """Payloads of one event received so far."""
        with self._lock:
            return [d for n, d in self.events if n == name]

    def close(self) -> None:
        self.sio.disconnect()


def open_board(browser: Any, server: LiveServer, viewport: tuple[int, int] = (1920, 1080),
               **params: str) -> Any:
    """A Chromium page on the board (device board-1), joined and showing its first snapshot."""
    ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                              locale="ar-EG", timezone_id="Africa/Cairo")
    page = ctx.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda e: page.errors.append(str(e)))  # type: ignore[attr-defined]
    query = "&".join(f"{k}={v}" for k, v in {"device": server.devices["board-1"], **params}.items())
    page.goto(f"{server.url}/board/{HALL}?{query}")
    page.wait_for_function("document.body.dataset.seq !== undefined", timeout=20000)
    return page


def shot(page: Any, name: str) -> Path:
    """Save a screenshot under test-artifacts/board/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def save_json(name: str, data: Any) -> Path:
    """Save test evidence (audio logs, timings) under test-artifacts/board/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False))
    return path
