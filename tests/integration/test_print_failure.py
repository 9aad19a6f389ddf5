"""Printing a ticket through a real hall server: server-mode network printers and the print agent.

A printer that refuses, drops the job or is switched off never costs the citizen the ticket: it is
committed, the kiosk hears why the print failed, and the agent prints it once the printer is back.
"""
from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from PIL import Image

from hall_server.application.auth import Auth
from hall_server.storage import make_engine
from printer.agent import PrintAgent
from printer.backends import NetworkPrinter
from tests.print_support import GS_V0, Listener, PrinterPeer, job_image, qr_texts, reserve_port, write_hall
from tests.support import launch

pytestmark = pytest.mark.slow
WORKING_OPTIONS = 'profile = "TM-T20II", digits = "western"'


def _issue(server, token, service="building_permit", key=None):
    return server.api("POST", "/halls/kfs/tickets", token, json={"service": service},
                      headers={"Idempotency-Key": key or uuid.uuid4().hex})


def _add_kiosk(server, name: str) -> str:
    """Another kiosk's device token, straight into the server's database."""
    engine = make_engine(server.database_url)
    try:
        return Auth(engine).add_device("kfs", name, "kiosk")
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def server_printers(tmp_path_factory):
    """A server whose kiosks print themselves: one printer refuses, one drops the job, one works."""
    tmp_path = tmp_path_factory.mktemp("server-printers")
    refused = reserve_port()
    dropping = PrinterPeer(mode="reset")
    working = PrinterPeer()
    hall = write_hall(tmp_path / "cfg", f"""
[[devices]]
name = "kiosk-1"
kind = "kiosk"
printer = {{mode = "server", backend = "network", host = "127.0.0.1", port = {refused}, timeout = 2}}

[[devices]]
name = "kiosk-2"
kind = "kiosk"
printer = {{mode = "server", backend = "network", host = "127.0.0.1", port = {dropping.port}, timeout = 2}}

[[devices]]
name = "kiosk-3"
kind = "kiosk"
printer = {{mode = "server", backend = "network", host = "127.0.0.1", port = {working.port}, {WORKING_OPTIONS}}}
""")
    server = launch(tmp_path / "server", env={"HALL_HALLS": str(hall)})
    server.open_windows([1])  # building permits open: a ticket is issued only for an open service
    yield server, working
    server.stop()
    dropping.close()
    working.close()


def test_server_printer_refusing_or_dropping_leaves_a_valid_ticket(server_printers):
    """Refused and dropped connections: 201 and queued at once, then print_status failed with the
    reason; the ticket is live."""
    server, _ = server_printers
    listener = Listener(server.url, server.login("supervisor"))
    try:
        for kiosk, token in (("kiosk-1", server.devices["kiosk-1"]), ("kiosk-2", _add_kiosk(server, "kiosk-2"))):
            _refused_or_dropped(server, listener, kiosk, token)
    finally:
        listener.close()


def _refused_or_dropped(server, listener, kiosk: str, token: str) -> None:
    """One ticket from a kiosk whose printer cannot print."""
    key = uuid.uuid4().hex
    r = _issue(server, token, key=key)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["print"]["status"] == "queued" and body["print"]["job_id"], (kiosk, body["print"])
    failed = listener.wait_for("print_status", lambda d: d["job_id"] == body["print"]["job_id"])
    assert failed == {"job_id": body["print"]["job_id"], "number": body["number"], "device": kiosk,
                      "status": "failed", "detail": failed["detail"]}, "no token, no personal data"
    assert "offline" in failed["detail"], failed
    got = server.api("GET", f"/tickets/{body['token']}")
    assert got.status_code == 200 and got.json()["status"] == "waiting"
    assert got.json()["number"] == body["number"]
    # A network retry of the same request: the same ticket, and no second print attempt.
    again = _issue(server, token, key=key)
    assert again.status_code == 200
    assert again.json()["id"] == body["id"]
    assert again.json()["print"]["status"] == "not_reprinted"


def test_server_prints_to_a_network_printer(server_printers):
    """The working printer gets one raster job with a cut whose QR reads the ticket's tracking link."""
    server, working = server_printers
    token = _add_kiosk(server, "kiosk-3")
    listener = Listener(server.url, server.login("supervisor"))
    try:
        key = uuid.uuid4().hex
        r = _issue(server, token, key=key)
        assert r.status_code == 201 and r.json()["print"]["status"] == "queued"
        job_id = r.json()["print"]["job_id"]
        printed = listener.wait_for("print_status", lambda d: d["job_id"] == job_id)
        assert printed == {"job_id": job_id, "number": r.json()["number"], "device": "kiosk-3",
                           "status": "printed", "detail": "printed"}
        job = working.wait_jobs(1)[0]
        assert GS_V0 + b"\x00" + (576 // 8).to_bytes(2, "little") in job, "a 576-dot raster (TM-T20II)"
        img = job_image(job)
        assert qr_texts(img) == [r.json()["track_url"]]
        again = _issue(server, token, key=key).json()["print"]
        assert again["status"] == "not_reprinted" and "job_id" not in again
        # A reprint would be queued on this printer before the next ticket: the next job must be it.
        nxt = _issue(server, token)
        listener.wait_for("print_status", lambda d: d["job_id"] == nxt.json()["print"]["job_id"]
                          and d["status"] == "printed")
        jobs = working.wait_jobs(2)
        assert [qr_texts(job_image(j)) for j in jobs] == [[r.json()["track_url"]], [nxt.json()["track_url"]]], \
            "a retried Idempotency-Key must not print again"
    finally:
        listener.close()


@pytest.fixture(scope="module")
def agent_hall(tmp_path_factory):
    """A server whose kiosk-1 prints through a print agent (shared; tests leave no agent behind)."""
    tmp_path = tmp_path_factory.mktemp("agent-hall")
    hall = write_hall(tmp_path / "cfg", """
[[devices]]
name = "kiosk-1"
kind = "kiosk"
printer = {mode = "agent", digits = "western"}

[[devices]]
name = "printer-1"
kind = "printer"
kiosk = "kiosk-1"
""")
    server = launch(tmp_path / "server", env={"HALL_HALLS": str(hall)})
    server.open_windows([1])  # building permits open: a ticket is issued only for an open service
    yield server
    server.stop()


def test_agent_prints_in_order_after_the_printer_comes_back(agent_hall, artifacts):
    """Jobs wait on the server for the agent, fail while the printer is off, then print in order."""
    server = agent_hall
    kiosk = server.devices["kiosk-1"]
    listener = Listener(server.url, server.login("supervisor"))
    port = reserve_port()
    agent = None
    peer = None
    try:
        # 1. Issued while no agent is connected: the job waits on the server.
        first = _issue(server, kiosk)
        assert first.status_code == 201 and first.json()["print"]["status"] == "queued"
        # 2. The agent comes; its printer is switched off (connections refused).
        agent = PrintAgent(server.url, "kfs", "kiosk-1", server.devices["printer-1"],
                           NetworkPrinter("127.0.0.1", port, timeout=2, profile="TM-T20II"),
                           retry_initial=0.3, retry_max=1.0).start()
        failed = listener.wait_for("print_status", lambda d: d["number"] == first.json()["number"]
                                   and d["status"] == "failed")
        assert failed["device"] == "kiosk-1" and "offline" in failed["detail"]
        offline = listener.wait_for("device_status", lambda d: d["device"] == "printer-1" and d["status"] == "offline")
        second = _issue(server, kiosk)
        assert second.json()["print"]["status"] == "queued"
        # The tickets are valid all along.
        for t in (first.json(), second.json()):
            assert server.api("GET", f"/tickets/{t['token']}").json()["status"] == "waiting"
        # 3. The printer is back on the same address: both print, in the order they were issued.
        peer = PrinterPeer(port=port)
        jobs = peer.wait_jobs(2)
        for n, t in ((0, first.json()), (1, second.json())):
            assert GS_V0 in jobs[n]
            img = job_image(jobs[n])
            assert qr_texts(img) == [t["track_url"]]
            (artifacts / "printer").mkdir(exist_ok=True)
            img.save(artifacts / "printer" / f"agent-job-{n + 1}.png")
        for t in (first.json(), second.json()):
            listener.wait_for("print_status",
                              lambda d, num=t["number"]: d["number"] == num and d["status"] == "printed")
        listener.wait_for("device_status", lambda d: d["device"] == "printer-1" and d["status"] == "online"
                          and d["at"] > offline["at"])
        # 4. A ticket issued now prints at once, and nothing is printed twice.
        third = _issue(server, kiosk)
        listener.wait_for("print_status", lambda d: d["number"] == third.json()["number"] and d["status"] == "printed")
        assert len(peer.wait_jobs(3)) == 3
        assert agent.pending() == 0 and agent.printed_count == 3
    finally:
        if agent:
            agent.stop()
        if peer:
            peer.close()
        listener.close()


def test_print_agent_console_script_with_a_file_printer(agent_hall, tmp_path):
    """`hall-print-agent` as a kiosk PC runs it: the ticket appears as .bin and .png; SIGTERM stops it."""
    server = agent_hall
    out = tmp_path / "printed"
    token_file = tmp_path / "printer.token"
    token_file.write_text(server.devices["printer-1"] + "\n")
    exe = Path(sys.executable).parent / "hall-print-agent"
    proc = subprocess.Popen([str(exe), "--server", server.url, "--hall", "kfs", "--device", "kiosk-1",
                             "--token-file", str(token_file), "--backend", "file", "--folder", str(out),
                             "--width", "384", "--log-level", "WARNING"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        r = _issue(server, server.devices["kiosk-1"])
        assert r.json()["print"]["status"] == "queued"
        deadline = time.monotonic() + 60
        while not list(out.glob("*.png")) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.2)
        pngs = list(out.glob("*.png"))
        assert len(pngs) == 1 and len(list(out.glob("*.bin"))) == 1
        img = Image.open(pngs[0])
        assert img.width == 384
        assert qr_texts(img) == [r.json()["track_url"]]
    finally:
        proc.terminate()
        output = proc.communicate(timeout=20)[0]
    assert proc.returncode == 0, output
    assert "hall-print-agent: kiosk-1@kfs" in output


def test_print_agent_refuses_bad_arguments():
    """A wrong printer option is a clear usage error, not a traceback."""
    exe = Path(sys.executable).parent / "hall-print-agent"
    r = subprocess.run([str(exe), "--server", "http://127.0.0.1:9", "--hall", "kfs", "--device", "kiosk-1",
                        "--token", "x", "--backend", "network"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "missing host" in r.stderr


def test_agent_reconnect_does_not_print_twice(agent_hall):
    """A server restart drops the link; on rejoin nothing printed before is printed again."""
    server = agent_hall
    peer = PrinterPeer()
    agent = PrintAgent(server.url, "kfs", "kiosk-1", server.devices["printer-1"],
                       NetworkPrinter("127.0.0.1", peer.port, timeout=2, profile="TM-T20II"),
                       retry_initial=0.3, retry_max=1.0).start()
    try:
        assert agent.joined.wait(20)
        _issue(server, server.devices["kiosk-1"])
        peer.wait_jobs(1)
        server.restart()
        deadline = time.monotonic() + 30
        while not agent.joined.is_set() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert agent.joined.wait(30), "the agent rejoins by itself"
        _issue(server, server.devices["kiosk-1"])
        assert len(peer.wait_jobs(2)) == 2
        time.sleep(1.0)
        assert len(peer.jobs) == 2
    finally:
        agent.stop()
        peer.close()
