"""Several server processes share events through Redis: a call made on one reaches boards on another."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest
import socketio

from hall_server import events as ev
from tests.support import LiveServer, free_port, launch


@pytest.fixture
def redis_url(tmp_path):
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed (scripts/setup.sh installs it)")
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


@pytest.mark.parametrize("mode", ["threading", "gevent"])
def test_two_processes_share_events_through_redis(tmp_path, redis_url, mode):
    a = launch(tmp_path / "a", async_mode=mode, env={"HALL_MESSAGE_QUEUE": redis_url})
    b = LiveServer(data_dir=tmp_path / "a", database_url=a.database_url, async_mode=mode,
                   env={"HALL_MESSAGE_QUEUE": redis_url}, devices=a.devices).start()
    board = socketio.SimpleClient()
    try:
        board.connect(b.url, transports=["websocket"])
        assert board.call(ev.JOIN, {"hall": "kfs", "role": "board"})["ok"]
        assert board.receive(timeout=10)[0] == ev.SNAPSHOT
        clerk = a.login("clerk1")
        # window 1 opens first: a ticket is issued only for a service an open window serves
        assert a.api("POST", "/halls/kfs/windows/1/sign-in", clerk).status_code == 200
        t = a.api("POST", "/halls/kfs/tickets", a.devices["kiosk-1"], json={"service": "building_permit"}).json()
        assert a.api("POST", "/halls/kfs/windows/1/call-next", clerk).status_code == 200
        while True:
            name, data = board.receive(timeout=10)
            if name == ev.TICKET_CALLED:
                break
        assert (data["number"], data["window"]) == (t["number"], 1)
    finally:
        board.disconnect()
        b.stop()
        a.stop()
