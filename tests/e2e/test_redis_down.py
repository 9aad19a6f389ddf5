"""Redis down: each process still pushes to its own boards, and a board catches up on the calls it missed.

Two server processes share a database and a real redis-server. Redis is killed (or hung with SIGSTOP:
it accepts connections and never answers) mid-run while clerks on
both processes keep calling: every board (a Socket.IO client per process) still gets each call of its
own process as a live `ticket_called`. After Redis returns, the board's missed-calls fetch (what
hall-live.js does on a gap in seq: GET /halls/<hall>/calls?since_seq=N) brings the other process's
calls too, each once. No timed assertions: bounded waits only.
"""
from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
import socketio

from hall_server import events as ev
from tests.support import LiveServer, free_port, launch

WAIT_S = 30.0  # bound on every wait; the checks never depend on how fast anything is


class RedisServer:
    """A private redis-server on a fixed port that can be killed and started again."""

    def __init__(self, tmp: Path) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.skip("redis-server is not installed (scripts/setup.sh installs it)")
        self.exe, self.tmp, self.port = exe, tmp, free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.tmp)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def down(self, how: str) -> None:
        """"kill": gone (connections refused); "sigstop": hung (connections accepted, never answered)."""
        if how == "kill":
            self.kill()
        else:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGSTOP)

    def up(self, how: str) -> None:
        if how == "kill":
            self.start()
        else:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGCONT)


class Board:
    """A board on one process: the ticket_called events it got live, and its newest seq."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.lock = threading.Lock()
        self.calls: dict[int, dict] = {}  # call_id -> payload, from live events
        self.seq = 0
        self.sio = socketio.Client(reconnection=True)
        self.sio.on(ev.SNAPSHOT, self._seq)
        self.sio.on(ev.TICKET_CALLED, self._called)
        self.sio.on("*", lambda _name, data: self._seq(data))

    def _seq(self, data) -> None:
        if isinstance(data, dict) and isinstance(data.get("seq"), int):
            with self.lock:
                self.seq = max(self.seq, data["seq"])

    def _called(self, data) -> None:
        with self.lock:
            self.calls[data["call_id"]] = data
        self._seq(data)

    def connect(self) -> Board:
        self.sio.connect(self.server.url, transports=["websocket"])
        ack = self.sio.call(ev.JOIN, {"hall": "kfs", "role": "board"}, timeout=WAIT_S)
        assert ack["ok"], ack
        return self

    def numbers(self) -> set[str]:
        with self.lock:
            return {c["number"] for c in self.calls.values()}

    def missed_since(self, since_seq: int) -> list[dict]:
        r = requests.get(f"{self.server.url}/api/v1/halls/kfs/calls", params={"since_seq": since_seq}, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()["calls"]


def _wait(cond, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {WAIT_S}s: {what}")


class Clerk:
    def __init__(self, server: LiveServer, user: str, window: int) -> None:
        self.s = requests.Session()
        self.s.headers["Authorization"] = "Bearer " + server.login(user)
        self.base = f"{server.url}/api/v1/halls/kfs/windows/{window}"
        assert self.s.post(self.base + "/sign-in", timeout=30).status_code == 200

    def call(self) -> str:
        """Call the next citizen (finishing the current one first); the called number."""
        r = self.s.post(self.base + "/call-next", timeout=30)
        assert r.status_code == 200, r.text  # REST works with Redis down
        number = r.json()["number"]
        for action in ("start", "complete"):
            assert self.s.post(f"{self.base}/{action}", timeout=30).status_code == 200
        return number


# each way of failing once, each server mode once (the four pairs took a minute and found nothing more)
@pytest.mark.parametrize(("mode", "how"), [("gevent", "kill"), ("threading", "sigstop")])
def test_redis_down_each_process_still_reaches_its_boards_and_boards_catch_up(tmp_path, mode, how):
    redis = RedisServer(tmp_path)
    redis.start()
    env = {"HALL_MESSAGE_QUEUE": redis.url}
    a = launch(tmp_path / "a", async_mode=mode, env=env)
    b = LiveServer(data_dir=tmp_path / "a", database_url=a.database_url, async_mode=mode, env=env,
                   devices=a.devices).start()
    boards: list[Board] = []
    try:
        kiosk = a.devices["kiosk-1"]
        # the clerks sign in first: a ticket is issued only for a service an open window serves
        clerk_a, clerk_b = Clerk(a, "clerk1", 1), Clerk(b, "clerk2", 2)
        for _ in range(50):
            assert a.api("POST", "/halls/kfs/tickets", kiosk, json={"service": "building_permit"}).status_code \
                in (200, 201)
        board_a, board_b = Board(a).connect(), Board(b).connect()
        boards += [board_a, board_b]

        # Redis up: each board gets every call of both processes
        before = {clerk_a.call(), clerk_b.call()}
        for board in boards:
            _wait(lambda board=board: before <= board.numbers(), "calls reach both boards through Redis")
        seq_before = {id(bd): bd.seq for bd in boards}

        # Redis down: clerks on both processes keep calling; REST answers, local boards still hear
        redis.down(how)
        own: dict[str, list[str]] = {"a": [], "b": []}
        for _ in range(5):
            own["a"].append(clerk_a.call())
            own["b"].append(clerk_b.call())
        _wait(lambda: set(own["a"]) <= board_a.numbers(), "process a's calls reach its own board")
        _wait(lambda: set(own["b"]) <= board_b.numbers(), "process b's calls reach its own board")

        # Redis back: cross-process pushes resume (the listener reconnects by itself)
        redis.up(how)
        after: list[str] = []

        def crossed() -> bool:
            after.append(clerk_b.call())
            try:
                _wait_short(lambda: after[-1] in board_a.numbers())
                return True
            except AssertionError:
                return False
        deadline = time.monotonic() + 4 * WAIT_S
        while not crossed():
            assert time.monotonic() < deadline, "pushes never crossed processes again after Redis returned"

        # A board that saw the gap fetches what it missed: every call since its last seq, each once,
        # the other process's calls included; with its live events, deduped by call_id, nothing is missing
        made = set(own["a"]) | set(own["b"]) | set(after)
        for board in boards:
            missed = board.missed_since(seq_before[id(board)])
            ids = [c["call_id"] for c in missed]
            assert len(ids) == len(set(ids)), "a call fetched twice"
            assert [c["seq"] for c in missed] == sorted(c["seq"] for c in missed)
            assert all(c["seq"] > seq_before[id(board)] for c in missed)
            assert {c["number"] for c in missed} == made
            for c in missed:
                assert set(c) >= {"call_id", "number", "window", "service", "recall", "at", "audio_url", "seq"}
            shown = {c["call_id"]: c["number"] for c in missed}
            with board.lock:
                shown.update({cid: c["number"] for cid, c in board.calls.items()})
            assert made <= set(shown.values())
            assert len(shown) == len(set(shown.values())), "one call shown under two ids"
        # the other process's outage calls came only through the fetch, and they did come
        assert set(own["b"]) <= {c["number"] for c in board_a.missed_since(seq_before[id(board_a)])}
    finally:
        for board in boards:
            board.sio.disconnect()
        b.stop()
        a.stop()
        redis.kill()


def _wait_short(cond) -> None:
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("not yet")
