"""Test and benchmark support: a real hall server process on a free port, with staff and devices."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "test-pass-2026"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_database(url: str, data_dir: Path, clerks: int = 9) -> dict[str, str]:
    """Migrate, create the hall rows, staff (clerk1.., supervisor, admin) and device tokens."""
    from config import load_settings
    from hall_server.application import HallApp
    from hall_server.application.auth import Auth
    from hall_server.migrate import upgrade
    from hall_server.storage import make_engine
    settings = load_settings(env={}, database_url=url, data_dir=data_dir, async_mode="threading")
    engine = make_engine(url)
    upgrade(engine)
    HallApp(settings, engine).ensure_halls()
    auth = Auth(engine)
    for i in range(1, clerks + 1):
        auth.add_user(f"clerk{i}", PASSWORD, "clerk", f"Clerk {i}")
    auth.add_user("supervisor", PASSWORD, "supervisor", "Supervisor")
    auth.add_user("admin", PASSWORD, "admin", "Admin")
    devices = {name: auth.add_device("kfs", name, role) for name, role in (
        ("kiosk-1", "kiosk"), ("board-1", "board"), ("announcer-1", "announcer"), ("printer-1", "printer"))}
    engine.dispose()
    return devices


def reset_postgres(url: str) -> None:
    """Drop every table of the test database so each run starts empty."""
    from sqlalchemy import text

    from hall_server.storage import make_engine
    engine = make_engine(url)
    with engine.begin() as c:
        c.execute(text("DROP SCHEMA public CASCADE"))
        c.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@dataclass
class LiveServer:
    """`hall-server run` in a child process; kill(), start() and restart() it like an operator."""

    data_dir: Path
    database_url: str
    async_mode: str = "threading"
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    devices: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> LiveServer:
        env = {**os.environ, "HALL_DATA_DIR": str(self.data_dir), "HALL_DATABASE_URL": self.database_url,
               "HALL_PUBLIC_URL": self.url, "HALL_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
               **self.env}
        self.log_path = self.data_dir / f"server-{self.port}.log"
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hall_server", "run", "--port", str(self.port), "--host", "127.0.0.1",
                 "--async-mode", self.async_mode], cwd=str(ROOT), env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                if requests.get(self.url + "/api/v1/halls", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("server did not start in time")

    def kill(self) -> None:
        """SIGKILL: no chance to flush or clean up, like a power cut of the process."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> LiveServer:
        self.stop()
        return self.start()

    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def login(self, username: str, password: str = PASSWORD) -> str:
        r = requests.post(self.url + "/api/v1/auth/login", json={"username": username, "password": password},
                          timeout=10)
        r.raise_for_status()
        return r.json()["token"]

    def open_windows(self, windows: Any = range(1, 10), hall: str = "kfs") -> dict[int, str]:
        """clerkN signs in at window N (again, if already there): the windows' services open, since a
        ticket is issued only for a service an open window serves. Returns the clerks' tokens by window."""
        tokens = {}
        for n in windows:
            tokens[n] = self.login(f"clerk{n}")
            r = self.api("POST", f"/halls/{hall}/windows/{n}/sign-in", tokens[n])
            if r.status_code != 200:
                raise RuntimeError(f"sign-in at window {n}: {r.status_code} {r.text[:300]}")
        return tokens

    @contextmanager
    def windows_open(self, windows: Any, hall: str = "kfs") -> Iterator[dict[int, str]]:
        """The windows open (open_windows) for the tickets issued inside, then their clerks sign out:
        for a test whose page or clerk signs in by itself later, with the citizens already waiting."""
        tokens = self.open_windows(windows, hall)
        yield tokens
        for n, token in tokens.items():
            r = self.api("POST", f"/halls/{hall}/windows/{n}/sign-out", token)
            if r.status_code != 200:
                raise RuntimeError(f"sign-out at window {n}: {r.status_code} {r.text[:300]}")

    def api(self, method: str, path: str, token: str | None = None, **kw: Any) -> requests.Response:
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, self.url + "/api/v1" + path, headers=headers, timeout=30, **kw)


def launch(tmp: Path, database_url: str | None = None, async_mode: str = "threading",
           env: dict[str, str] | None = None) -> LiveServer:
    """Prepare a database and start a server on it."""
    tmp.mkdir(parents=True, exist_ok=True)
    url = database_url or f"sqlite:///{tmp / 'hall.db'}"
    if url.startswith("postgresql"):
        reset_postgres(url)
    devices = prepare_database(url, tmp)
    server = LiveServer(data_dir=tmp, database_url=url, async_mode=async_mode, env=env or {}, devices=devices)
    return server.start()
