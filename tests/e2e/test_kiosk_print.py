"""What the kiosk screen says about printing, with real printers on loopback and a real print agent."""
from __future__ import annotations

import pytest

from hall_server.application.auth import Auth
from hall_server.storage import make_engine
from printer.agent import PrintAgent
from printer.backends import NetworkPrinter
from tests.kiosk_support import PORTRAIT, Kiosk
from tests.print_queue_support import HeldPrinter
from tests.print_support import PrinterPeer, job_image, qr_texts, reserve_port, write_hall
from tests.support import launch

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def held_printer():
    """kiosk-3's network printer: it takes no job until the test releases it."""
    printer = HeldPrinter()
    yield printer
    printer.close()


@pytest.fixture(scope="module")
def hall(tmp_path_factory, held_printer):
    """kiosk-1 prints through an agent; kiosk-2's server-driven printer is switched off; kiosk-3's
    server-driven printer is held by the test."""
    tmp = tmp_path_factory.mktemp("kiosk-print")
    hall_file = write_hall(tmp / "cfg", f"""
[[devices]]
name = "kiosk-1"
kind = "kiosk"
printer = {{mode = "agent"}}

[[devices]]
name = "printer-1"
kind = "printer"
kiosk = "kiosk-1"

[[devices]]
name = "kiosk-2"
kind = "kiosk"
printer = {{mode = "server", backend = "network", host = "127.0.0.1", port = {reserve_port()}, timeout = 2}}

[[devices]]
name = "kiosk-3"
kind = "kiosk"
printer = {{mode = "server", backend = "network", host = "127.0.0.1", port = {held_printer.port}, timeout = 120}}
""")
    server = launch(tmp / "server", env={"HALL_HALLS": str(hall_file)})
    engine = make_engine(server.database_url)
    server.devices["kiosk-2"] = Auth(engine).add_device("kfs", "kiosk-2", "kiosk")
    server.devices["kiosk-3"] = Auth(engine).add_device("kfs", "kiosk-3", "kiosk")
    engine.dispose()
    assert server.api("POST", "/halls/kfs/windows/1/sign-in", server.login("clerk1")).status_code == 200
    yield server
    server.stop()


@pytest.fixture
def shots(artifacts):
    folder = artifacts / "kiosk"
    folder.mkdir(exist_ok=True)
    return folder


def _get_ticket(k: Kiosk, service: str) -> None:
    p = k.page
    p.tap("[data-sector=buildings]")
    p.tap(f"[data-service={service}]")
    p.tap("#issue-btn")
    p.wait_for_selector("#screen-ticket:not([hidden])")


def test_failed_print_says_so_and_shows_a_big_qr(browser, hall, shots):
    k = Kiosk(browser, hall, PORTRAIT, token=hall.devices["kiosk-2"]).ready()
    _get_ticket(k, "building_permit")
    p = k.page
    p.wait_for_selector(".print-state.ps-failed")
    assert "تعذرت الطباعة" in p.inner_text("#t-print") and "الطابعة غير متصلة" in p.inner_text("#t-print")
    width = p.eval_on_selector("#t-qr", "e => e.getBoundingClientRect().width")
    assert width >= 0.5 * PORTRAIT["width"], "large enough to photograph from a phone"
    p.wait_for_function("document.getElementById('t-qr').naturalWidth > 0")
    p.wait_for_timeout(300)
    p.screenshot(path=str(shots / "ticket-print-failed-1080x1920.png"))
    assert p.evaluate("document.scrollingElement.scrollHeight <= innerHeight"), "number, QR and message on one screen"
    k.close()


def test_agent_print_status_reaches_the_ticket_screen(browser, hall, shots):
    """Printing... -> printer offline (photograph the QR) -> printed, as the agent reports it."""
    port = reserve_port()
    agent = PrintAgent(hall.url, "kfs", "kiosk-1", hall.devices["printer-1"],
                       NetworkPrinter("127.0.0.1", port, timeout=2, profile="TM-T20II"),
                       retry_initial=0.5, retry_max=1.0).start()
    peer = None
    try:
        assert agent.joined.wait(30)
        k = Kiosk(browser, hall, PORTRAIT, query="ticket_seconds=60").ready()
        _get_ticket(k, "demolition_permit")
        p = k.page
        p.wait_for_selector(".print-state.ps-failed")
        assert "الطابعة غير متصلة" in p.inner_text("#t-print")
        assert "qr-big" in p.get_attribute("#screen-ticket", "class")
        peer = PrinterPeer(port=port)
        p.wait_for_selector(".print-state.ps-printed", timeout=60000)
        assert "تمت طباعة تذكرتك" in p.inner_text("#t-print")
        p.wait_for_timeout(300)
        p.screenshot(path=str(shots / "ticket-printed-1080x1920.png"))
        track = hall.api("GET", "/halls/kfs/queue").json()  # the server is still happy
        assert track["hall"] == "kfs"
        [job] = peer.wait_jobs(1)
        assert len(qr_texts(job_image(job))) == 1
        k.close()
    finally:
        agent.stop()
        if peer:
            peer.close()


def test_server_print_outcome_reaches_the_ticket_screen(browser, hall, held_printer):
    """Mode server: the screen says "printing" while the printer holds the job (the response did not
    wait for it), then "printed" when the print_status event for this job comes."""
    k = Kiosk(browser, hall, PORTRAIT, token=hall.devices["kiosk-3"], query="ticket_seconds=60").ready()
    _get_ticket(k, "building_permit")
    p = k.page
    p.wait_for_selector(".print-state.ps-queued")
    assert "جارٍ طباعة تذكرتك" in p.inner_text("#t-print")
    assert held_printer.accepted.wait(30) and not held_printer.released, "the printer holds this ticket's job"
    assert "qr-big" not in p.get_attribute("#screen-ticket", "class")
    held_printer.release()
    p.wait_for_selector(".print-state.ps-printed", timeout=60000)
    assert "تمت طباعة تذكرتك" in p.inner_text("#t-print")
    [job] = held_printer.wait_jobs(1)
    track_url = p.eval_on_selector("#t-qr", "e => new URL(e.src).searchParams.get('data')")
    assert qr_texts(job_image(job)) == [track_url], "the paper is this screen's ticket"
    assert "qr-big" not in p.get_attribute("#screen-ticket", "class")
    k.close()
