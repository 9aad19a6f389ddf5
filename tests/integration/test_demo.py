"""`hall-server demo`: a hall at work from the first second, and the address phones use.

The server tests run `hall-server demo` (and `run`) as child processes on a temporary data dir and
a free port; every wait is bounded and nothing asserts how long something took.
"""
from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from hall_server import cli
from tests.support import ROOT, free_port


# ----- the address logic (no server) -------------------------------------------------------------
@pytest.mark.parametrize(("host", "public_url", "warns"), [
    ("0.0.0.0", "http://127.0.0.1:8080", True),
    ("0.0.0.0", "http://localhost:8080", True),
    ("::", "http://[::1]:8080", True),
    ("192.168.1.20", "http://0.0.0.0:8080", True),   # the loader's default for --host 0.0.0.0 is no better
    ("0.0.0.0", "http://192.168.1.20:8080", False),
    ("0.0.0.0", "https://hall.example.gov.eg", False),
    ("127.0.0.1", "http://127.0.0.1:8080", False),    # nothing but this machine can connect anyway
    ("localhost", "http://localhost:8080", False),
])
def test_public_url_warning(host, public_url, warns):
    warning = cli._public_url_warning(host, public_url)
    assert (warning is not None) == warns
    if warning:
        assert public_url in warning and "HALL_PUBLIC_URL" in warning


def test_lan_address_is_one_of_this_machines_own():
    addr = cli._lan_address()
    if addr is None:
        pytest.skip("this machine has no network address besides loopback")
    import ipaddress
    ip = ipaddress.ip_address(addr)
    assert not (ip.is_loopback or ip.is_unspecified or ip.is_link_local)
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return
    assert f"inet {addr}/" in out


def test_demo_address(monkeypatch, settings):
    monkeypatch.delenv("HALL_PUBLIC_URL", raising=False)
    monkeypatch.setattr(cli, "_lan_address", lambda: "192.168.7.7")
    loop = settings  # host 127.0.0.1, port 8080 (the loader's defaults)
    assert cli._demo_address(loop, host_given=False)[:2] == ("0.0.0.0", "http://192.168.7.7:8080")
    host, url, note = cli._demo_address(loop, host_given=True)  # --host 127.0.0.1: this machine only
    assert (host, url) == ("127.0.0.1", "http://127.0.0.1:8080") and "phones cannot" in note
    from dataclasses import replace
    assert cli._demo_address(replace(settings, host="0.0.0.0"), True)[:2] == ("0.0.0.0", "http://192.168.7.7:8080")
    assert cli._demo_address(replace(settings, host="10.1.2.3"), True)[:2] == ("10.1.2.3", "http://10.1.2.3:8080")
    monkeypatch.setattr(cli, "_lan_address", lambda: None)
    host, url, note = cli._demo_address(loop, host_given=False)
    assert (host, url) == ("127.0.0.1", "http://127.0.0.1:8080") and note
    monkeypatch.setenv("HALL_PUBLIC_URL", "https://hall.example")  # the user's choice wins
    assert cli._demo_address(replace(settings, public_url="https://hall.example"), False)[:2] == \
        ("0.0.0.0", "https://hall.example")


# ----- the demo server -----------------------------------------------------------------------------
def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALL_")}
    return {**env, "PYTHONUNBUFFERED": "1", "HALL_LOG_LEVEL": "WARNING", "HALL_TTS_ENGINE": "none", **extra}


class Server:
    """A `hall-server` child process whose output is read line by line in a thread."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.port = int(args[args.index("--port") + 1])
        self.lines: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        self.proc = subprocess.Popen([sys.executable, "-m", "hall_server", *args], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._q.put(line.rstrip("\n"))
        self._q.put(None)

    def wait_for(self, pattern: str, timeout: float = 90) -> str:
        """The first output line matching `pattern` (earlier lines are kept in self.lines)."""
        for line in self.lines:
            if re.search(pattern, line):
                return line
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._q.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError("the server exited:\n" + "\n".join(self.lines))
            self.lines.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r} in time:\n" + "\n".join(self.lines))

    def started(self) -> Server:
        self.wait_for(r"hall-server listening on ")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(self.api_url("/halls"), timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError("the server does not answer:\n" + "\n".join(self.lines))

    def api_url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1{path}"

    def api(self, method: str, path: str, token: str | None = None, **kw) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.request(method, self.api_url(path), headers=headers, timeout=30, **kw)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._reader.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def servers():
    started: list[Server] = []

    def start(args: list[str], **env: str) -> Server:
        s = Server(args, _env(**env))
        started.append(s)
        return s.started()

    yield start
    for s in started:
        s.stop()


def _banner(server: Server) -> dict[str, str]:
    """The demo's banner lines by label ("kiosk", "back office", ...)."""
    server.wait_for(r"device tokens are in ")
    out = {}
    for line in server.lines:
        m = re.match(r"^\s+([a-z -]+?):\s+(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def _until(what: str, check, timeout: float = 90.0, every: float = 0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not in time: {what}")


@pytest.mark.slow  # starts the demo twice (~10 s)
def test_demo_opens_the_hall_prints_to_files_and_restarts(servers, tmp_path):
    data = tmp_path / "demo"
    port = free_port()
    demo = servers(["demo", "--data-dir", str(data), "--port", str(port)])  # no --host: the LAN address
    banner = _banner(demo)
    lan = cli._lan_address()
    base = f"http://{lan}:{port}" if lan else f"http://127.0.0.1:{port}"
    assert banner["index"] == f"{base}/"
    assert banner["back office"].startswith(f"{base}/backoffice/kfs ") and "backoffice /" in banner["back office"]
    assert banner["inquiry"].startswith(f"{base}/inquiry")
    assert banner["supervisor"].startswith(f"{base}/supervisor/kfs")
    assert banner["counter"].startswith(f"{base}/counter/kfs")
    assert f"open {base} " in banner["phones"]
    kiosk_token = re.search(r"/kiosk/kfs\?device=(\S+)", banner["kiosk"]).group(1)
    tickets_dir = Path(re.search(r"prints each ticket to (\S+)", "\n".join(demo.lines)).group(1))
    assert tickets_dir == data / "tickets"
    # secrets and personal data are the owner's only
    for secret in (data, data / "devices.txt", data / "demo.db"):
        assert secret.stat().st_mode & 0o077 == 0, secret

    # every window is signed in: every service is open, and the kiosk's token issues at once
    windows = demo.api("GET", "/halls/kfs/board").json()["windows"]
    assert len(windows) == 9 and all(w["state"] == "open" for w in windows)
    services = demo.api("GET", "/halls/kfs/services").json()
    assert services and all(s["open"] for s in services)
    r = demo.api("POST", "/halls/kfs/tickets", kiosk_token, json={"service": services[0]["code"]})
    assert r.status_code == 201, r.text
    ticket = r.json()
    assert ticket["print"]["status"] == "queued"
    assert ticket["track_url"].startswith(f"{base}/t/")  # the phone's link: the address phones reach
    pngs = _until("the kiosk's ticket printed to files", lambda: sorted(tickets_dir.glob("*.png")))
    assert len(pngs) == 1 and pngs[0].with_suffix(".bin").exists()

    # the back office has its account and its work; /inquiry answers for the sample file
    bo = demo.api("POST", "/auth/login", json={"username": "backoffice", "password": cli.DEMO_PASSWORD}).json()
    assert bo["user"]["role"] == "back_office"
    assert len(demo.api("GET", "/halls/kfs/files", bo["token"]).json()) == 3
    sample = re.search(r"file (\S+), last four digits (\d{4})", banner["inquiry"])
    r = demo.api("POST", "/halls/kfs/inquiry", json={"file": sample.group(1), "last4": sample.group(2)})
    assert r.status_code == 200, r.text

    # a second start on the same data dir: same tokens, same files, the windows open again
    sup = demo.api("POST", "/auth/login", json={"username": "supervisor", "password": cli.DEMO_PASSWORD}).json()
    assert demo.api("POST", "/halls/kfs/windows/3/close", sup["token"]).status_code == 200
    demo.stop()
    again = servers(["demo", "--data-dir", str(data), "--port", str(free_port()), "--host", "127.0.0.1"])
    banner2 = _banner(again)
    assert f"device={kiosk_token}" in banner2["kiosk"]
    assert "phones cannot open these links" in "\n".join(again.lines)  # --host 127.0.0.1: said so
    assert all(w["state"] == "open" for w in again.api("GET", "/halls/kfs/board").json()["windows"])
    r = again.api("POST", "/halls/kfs/tickets", kiosk_token, json={"service": services[1]["code"]})
    assert r.status_code == 201, r.text
    assert len(again.api("GET", "/halls/kfs/files", bo["token"]).json()) == 3
    _until("the second ticket printed", lambda: len(list(tickets_dir.glob("*.png"))) == 2)


@pytest.mark.slow  # a live simulated morning against the demo
def test_demo_live_issues_and_calls(servers, tmp_path):
    demo = servers(["demo", "--data-dir", str(tmp_path / "demo"), "--port", str(free_port()), "--host", "127.0.0.1",
                    "--live", "--speed", "300"])
    assert "simulated citizens and clerks at 300x" in _banner(demo)["live"]

    def called():
        calls = demo.api("GET", "/halls/kfs/board").json()["calls"]
        return len(calls) >= 3 and calls
    calls = _until("simulated tickets issued and called", called, timeout=120)
    assert all(c["window"] in range(1, 10) for c in calls)
    # the simulated citizens use their own kiosk: the demo kiosk's printer folder stays empty
    assert not list((tmp_path / "demo" / "tickets").glob("*.png"))


@pytest.mark.slow
def test_run_warns_when_qr_links_point_at_loopback(servers, tmp_path):
    port = free_port()
    server = servers(["run", "--host", "0.0.0.0", "--port", str(port), "--data-dir", str(tmp_path)],
                     HALL_PUBLIC_URL=f"http://127.0.0.1:{port}", HALL_DATABASE_URL=f"sqlite:///{tmp_path / 'h.db'}")
    text = "\n".join(server.lines)
    assert re.search(r"WARNING .*HALL_PUBLIC_URL is http://127\.0\.0\.1:\d+: every ticket's QR code", text), text
