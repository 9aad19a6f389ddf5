"""1,000 boards join a real gevent server and leave: nothing of them stays, and the memory goes back.

The server runs with tests/memprobe on its PYTHONPATH (a test-only sitecustomize that dumps the
Socket.IO server's per-connection state on SIGUSR1; nothing of it is in the product). Bounds, not
timings: per-client RSS, per-connection state after the leave, RSS back near idle (same test).
Clients run in PROCESSES client processes (python-socketio AsyncClient over websocket).
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if __name__ == "__main__":  # a client process (see _Clients)
    sys.path.insert(0, str(ROOT))

from tests.support import launch  # noqa: E402

pytestmark = pytest.mark.serial  # CPU-heavy: runs after the parallel part of the suite (scripts/test.sh)

CLIENTS, PROCESSES = 1000, 4
MAX_KB_PER_CLIENT = 40    # measured ~32 KB (bench_core); ~58 before hall_server/memory.py, ~43 before lazy writers
MAX_MIB_OVER_IDLE = 30    # after all left; measured +3..6 MiB (~+40 MiB before)


async def _client_process(url: str, n: int, board_token: str) -> None:
    """Connect n boards, then obey stdin: `pings` (wait until each got a server ping), `leave`."""
    import socketio
    from engineio import packet as eio_packet

    from hall_server import events as ev
    clients: list[socketio.AsyncClient] = []
    pings = [0] * n
    sem = asyncio.Semaphore(25)

    async def one(i: int) -> None:
        async with sem:
            c = socketio.AsyncClient(reconnection=False)
            receive = c.eio._receive_packet

            async def spy(pkt, _i=i, _receive=receive):
                if pkt.packet_type == eio_packet.PING:
                    pings[_i] += 1
                return await _receive(pkt)

            c.eio._receive_packet = spy  # counts the server's pings (hall_server.memory sends them by timer)
            snapshot = asyncio.get_running_loop().create_future()
            c.on(ev.SNAPSHOT, lambda data, _f=snapshot: _f.done() or _f.set_result(data))
            for attempt in range(5):
                try:
                    await c.connect(url, transports=["websocket"], wait_timeout=60)
                    break
                except Exception:  # a refused connect under load is retried
                    if attempt == 4:
                        raise
                    await asyncio.sleep(1 + attempt)
            join = {"hall": "kfs", "role": "board"}
            if i == 0:
                join["auth"] = board_token  # one tracked board per process: the DeviceRegistry too
            ack = await c.call(ev.JOIN, join, timeout=120)
            assert ack["ok"], ack
            await asyncio.wait_for(snapshot, 120)
            clients.append(c)

    await asyncio.gather(*(one(i) for i in range(n)))
    print(f"ready {len(clients)}", flush=True)
    loop = asyncio.get_running_loop()
    while (await loop.run_in_executor(None, sys.stdin.readline)).strip() == "pings":
        deadline = loop.time() + 90
        while min(pings) == 0 and loop.time() < deadline:
            await asyncio.sleep(0.5)
        print(f"pinged {sum(1 for p in pings if p)} connected {sum(1 for c in clients if c.connected)}", flush=True)
    await asyncio.gather(*(c.disconnect() for c in clients))
    print("left", flush=True)


class _Clients:
    """The client processes, driven line by line."""

    def __init__(self, url: str, token: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.procs = [subprocess.Popen([sys.executable, __file__, url, str(CLIENTS // PROCESSES), token],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
                      for _ in range(PROCESSES)]

    def ask(self, command: str | None) -> list[str]:
        if command:
            for p in self.procs:
                p.stdin.write(command + "\n")
                p.stdin.flush()
        answers = [p.stdout.readline().strip() for p in self.procs]
        assert all(answers), f"a client process failed: {[p.poll() for p in self.procs]}"
        return answers

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait(10)
            p.stdin.close()
            p.stdout.close()


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) / 1024


def _open_connections(port: int) -> int:
    """TCP connections the server still has open on its port (ESTABLISHED or CLOSE_WAIT)."""
    n = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(path) as fh:
            next(fh)
            n += sum(1 for line in fh if int(line.split()[1].rsplit(":", 1)[1], 16) == port
                     and line.split()[3] in ("01", "08"))
    return n


def _probe(pid: int, out: Path) -> dict:
    out.unlink(missing_ok=True)
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + 60
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return json.loads(out.read_text())


@pytest.mark.slow
def test_boards_join_and_leave_without_leftovers(tmp_path):
    probe_out = tmp_path / "probe.json"
    server = launch(tmp_path / "srv", async_mode="gevent", env={
        "PYTHONPATH": f"{ROOT / 'tests' / 'memprobe'}{os.pathsep}{ROOT}", "HALL_MEMPROBE_OUT": str(probe_out)})
    clients = None
    try:
        pid = server.pid()
        time.sleep(2)
        idle = _rss_mib(pid)
        clients = _Clients(server.url, server.devices["board-1"])
        assert sum(int(a.split()[1]) for a in clients.ask(None)) == CLIENTS
        held = _rss_mib(pid)
        per_client_kb = (held - idle) * 1024 * 1024 / CLIENTS / 1000
        assert per_client_kb <= MAX_KB_PER_CLIENT, f"{per_client_kb:.1f} KB per joined board"
        state = _probe(pid, probe_out)["server"]
        assert state["eio_sockets"] == CLIENTS and state["rooms"]["/"]["hall:kfs"] == CLIENTS, state
        assert [r["by_sid"] for r in state["device_registry"]] == [PROCESSES], state["device_registry"]

        # every board gets the server's ping (sent from a timer, not a greenlet) and stays connected
        for answer in clients.ask("pings"):
            _, pinged, _, connected = answer.split()
            assert (int(pinged), int(connected)) == (CLIENTS // PROCESSES,) * 2, answer

        assert clients.ask("leave") == ["left"] * PROCESSES
        deadline = time.monotonic() + 180
        while _open_connections(server.port) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _open_connections(server.port) == 0, "the server did not close the boards' connections"
        time.sleep(1)
        dump = _probe(pid, probe_out)
        state = dump["server"]
        assert state["eio_sockets"] == 0 and state["sio_environ"] == 0, state
        assert not state["rooms"].get("/"), f"rooms left behind: {state['rooms']}"
        assert not any(state["manager"].get(k) for k in ("eio_to_sid", "callbacks", "pending_disconnect")), state
        assert state["device_registry"] and all(r["by_sid"] == 0 for r in state["device_registry"]), state
        assert dump["greenlets"]["alive"] <= 10, dump["greenlets"]

        # the reclaimer gives the memory back (it trims a few seconds after a burst of disconnects)
        deadline = time.monotonic() + 60
        while (after := _rss_mib(pid)) > idle + MAX_MIB_OVER_IDLE and time.monotonic() < deadline:
            time.sleep(1)
        assert after <= idle + MAX_MIB_OVER_IDLE, \
            f"RSS {after:.0f} MiB after the boards left, idle was {idle:.0f} MiB (held {held:.0f} MiB)"
    finally:
        if clients is not None:
            clients.close()
        server.stop()


if __name__ == "__main__":
    asyncio.run(_client_process(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
