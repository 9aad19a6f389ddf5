"""A real hall server whose kiosks' network printers are slow or off: issuing never waits for them.

The issue response says `queued` with a job_id; the outcome reaches the hall as `print_status`.
Printers are real TCP peers on loopback; the server runs under threading and under gevent.
"""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from hall_server.application.auth import Auth
from hall_server.storage import make_engine
from printer.dispatch import BREAKER_FAILURES
from tests.print_queue_support import HeldPrinter
from tests.print_support import Listener, job_image, qr_texts, reserve_port, write_hall
from tests.support import launch

pytestmark = pytest.mark.slow
OPTIONS = 'profile = "TM-T20II", digits = "western"'


def _issue(server, token: str):
    r = server.api("POST", "/halls/kfs/tickets", token, json={"service": "building_permit"},
                   headers={"Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code == 201, r.text
    return r.json()


def _printed_events(listener: Listener) -> list[dict]:
    return [e for e in listener.of("print_status") if e["status"] == "printed"]


@pytest.mark.parametrize("mode", ["threading", "gevent"])
def test_issue_answers_while_the_printer_holds_the_job(tmp_path, mode):
    """Tickets of a kiosk whose printer takes nothing: every response comes back at once (queued),
    in order and in a burst; released, the printer prints each ticket in issue order."""
    printer = HeldPrinter()
    # A long printer timeout: the printer is held as long as the test needs, not failed by the server.
    hall = write_hall(tmp_path / "cfg", f"""
[[devices]]
name = "kiosk-1"
kind = "kiosk"
printer = {{mode = "server", backend = "network", host = "127.0.0.1", port = {printer.port}, timeout = 120, {OPTIONS}}}
""")
    server = launch(tmp_path / "server", async_mode=mode, env={"HALL_HALLS": str(hall)})
    server.open_windows([1])  # building permits open: a ticket is issued only for an open service
    listener = Listener(server.url, server.login("supervisor"))
    kiosk = server.devices["kiosk-1"]
    try:
        tickets = []
        for i in range(5):
            t = _issue(server, kiosk)
            assert t["print"]["status"] == "queued" and t["print"]["job_id"], t["print"]
            assert not printer.released, "the response came while the printer still holds the job"
            assert _printed_events(listener) == [], "nothing can have printed yet"
            tickets.append(t)
            if i == 0:
                assert printer.accepted.wait(30), "the first job reached the printer and is held there"
        # Eight at once from the same kiosk (the measured case): none waits for the printer either.
        with ThreadPoolExecutor(3) as pool:
            burst = list(pool.map(lambda _: _issue(server, kiosk), range(3)))
        assert all(t["print"]["status"] == "queued" for t in burst)
        assert not printer.released and printer.jobs == [] and printer.connections == 1
        assert _printed_events(listener) == [] and listener.of("print_status") == []

        printer.release()
        jobs = printer.wait_jobs(8)
        printed = [qr_texts(job_image(j)) for j in jobs]
        assert printed[:5] == [[t["track_url"]] for t in tickets], "printed in issue order"
        assert sorted(printed[5:]) == sorted([t["track_url"]] for t in burst)
        for t in tickets + burst:
            event = listener.wait_for("print_status", lambda d, j=t["print"]["job_id"]: d["job_id"] == j)
            assert event == {"job_id": t["print"]["job_id"], "number": t["number"], "device": "kiosk-1",
                             "status": "printed", "detail": "printed"}
        assert len(printer.jobs) == 8 and printer.connections == 8
        listener.wait_for("device_status", lambda d: d["device"] == "kiosk-1-printer" and d["status"] == "online")
    finally:
        listener.close()
        server.stop()
        printer.close()


def test_a_printer_that_is_off_opens_the_breaker(tmp_path):
    """Refused BREAKER_FAILURES times in a row: later jobs fail at once, "printer offline", untried.
    (Recovery after the cool-down is in test_print_queue.py, with the clock in the test's hands.)"""
    hall = write_hall(tmp_path / "cfg", f"""
[[devices]]
name = "kiosk-2"
kind = "kiosk"
printer = {{mode = "server", backend = "network", host = "127.0.0.1", port = {reserve_port()}, timeout = 2, {OPTIONS}}}
""")
    server = launch(tmp_path / "server", env={"HALL_HALLS": str(hall)})
    server.open_windows([1])  # building permits open: a ticket is issued only for an open service
    engine = make_engine(server.database_url)
    kiosk = Auth(engine).add_device("kfs", "kiosk-2", "kiosk")
    engine.dispose()
    listener = Listener(server.url, server.login("supervisor"))
    try:
        tickets = [_issue(server, kiosk) for _ in range(BREAKER_FAILURES + 2)]
        assert all(t["print"]["status"] == "queued" for t in tickets)
        events = [listener.wait_for("print_status", lambda d, j=t["print"]["job_id"]: d["job_id"] == j)
                  for t in tickets]
        assert all(e["status"] == "failed" and e["device"] == "kiosk-2" for e in events), events
        for e in events[:BREAKER_FAILURES]:
            assert e["detail"].startswith("printer offline: cannot connect"), e
        for e in events[BREAKER_FAILURES:]:
            assert e["detail"].startswith("printer offline: not tried"), e
        offline = listener.wait_for("device_status", lambda d: d["device"] == "kiosk-2-printer")
        assert offline["status"] == "offline"
        assert [d["status"] for d in listener.of("device_status") if d["device"] == "kiosk-2-printer"] == ["offline"]
        for t in tickets:  # the tickets are valid all along
            assert server.api("GET", f"/tickets/{t['token']}").json()["status"] == "waiting"
    finally:
        listener.close()
        server.stop()
