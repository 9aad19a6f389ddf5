"""The print agent's queue on its own: order, no double prints, paper out, expiry, bad jobs.

The printer is a scripted stand-in behind the TicketPrinter interface (a paper roll running out
cannot be here); the network side is covered by test_print_failure.py against a real server.
"""
from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from hall_server import events as ev
from printer.agent import PrintAgent
from printer.backends import PrinterError
from printer.dispatch import ticket_fields
from printer.layout import TicketPrint


class ScriptedPrinter:
    """Fails as told, answers status as told, remembers what it printed (by image height)."""

    width = 384

    def __init__(self, failures: list[str] | None = None, statuses: list[str] | None = None) -> None:
        self.failures = list(failures or [])
        self.statuses = list(statuses or [])
        self.attempts = 0
        self.printed: list[int] = []
        self.status_calls = 0

    def print_image(self, img) -> None:
        self.attempts += 1
        if self.failures:
            raise PrinterError(self.failures.pop(0), "scripted failure")  # type: ignore[arg-type]
        self.printed.append(img.height)

    def status(self) -> str:
        self.status_calls += 1
        return self.statuses.pop(0) if self.statuses else "online"


def job(job_id: str, number: str = "A-001", service: str = "Building permit") -> dict:
    t = TicketPrint(hall_name_ar="مركز", hall_name_en="Center", service_name_ar="خدمة", service_name_en=service,
                    number=number, people_ahead=0, eta_minutes=None,
                    issued_at=datetime(2026, 11, 22, 9, 0, tzinfo=UTC), track_url=f"http://h/t/{job_id}")
    return {"job_id": job_id, "hall": "kfs", "device": "kiosk-1", "number": number, "lang": "en",
            "digits": "western", "ticket": ticket_fields(t)}


@pytest.fixture
def make_agent():
    agents: list[PrintAgent] = []

    def _make(printer, **kw) -> tuple[PrintAgent, list[tuple[str, dict]]]:
        agent = PrintAgent("http://127.0.0.1:9", "kfs", "kiosk-1", "token", printer,
                           retry_initial=0.05, retry_max=0.1, **kw)
        sent: list[tuple[str, dict]] = []
        agent._emit = lambda event, data: sent.append((event, data)) or True  # type: ignore[method-assign]
        worker = threading.Thread(target=agent._work, daemon=True)
        worker.start()
        agent._threads.append(worker)
        agents.append(agent)
        return agent, sent

    yield _make
    for a in agents:
        a._stop.set()
        with a._cond:
            a._cond.notify_all()
        for t in a._threads:
            t.join(5)


def wait_until(pred, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def results(sent, status=None) -> list[tuple[str, str]]:
    return [(d["job_id"], d["status"]) for e, d in sent
            if e == ev.PRINT_RESULT and (status is None or d["status"] == status)]


def test_jobs_print_in_order_once_and_a_resend_is_only_acknowledged(make_agent):
    printer = ScriptedPrinter()
    agent, sent = make_agent(printer)
    agent._on_job(job("j1", "A-001", "Short"))
    agent._on_job(job("j2", "A-002", "A much longer service name that wraps onto a second line of the ticket"))
    agent._on_job(job("j1"))  # the server re-sent it while it was queued
    wait_until(lambda: len(results(sent)) == 2)
    assert results(sent) == [("j1", "printed"), ("j2", "printed")]
    assert len(printer.printed) == 2 and printer.printed[0] < printer.printed[1], "in the order received"
    agent._on_job(job("j1"))  # re-sent after a reconnect: printed already
    wait_until(lambda: len(results(sent)) == 3)
    assert results(sent)[-1] == ("j1", "printed") and len(printer.printed) == 2


def test_paper_out_waits_for_paper_then_prints_once(make_agent):
    """After a failure the agent asks the printer before sending the job again."""
    printer = ScriptedPrinter(failures=["paper_out"], statuses=["paper_out", "paper_out", "online"])
    agent, sent = make_agent(printer)
    agent._on_job(job("j1"))
    wait_until(lambda: results(sent, "printed"))
    assert printer.attempts == 2, "no job sent while the printer said paper out"
    assert printer.status_calls == 3
    assert results(sent) == [("j1", "failed"), ("j1", "printed")], "the kiosk hears one failure, then printed"
    reports = [d["status"] for e, d in sent if e == ev.REPORT_STATUS]
    assert reports == ["paper_out", "online"], "status is reported on change only"


def test_offline_printer_retries_until_it_answers(make_agent):
    printer = ScriptedPrinter(failures=["offline", "offline", "offline"])
    agent, sent = make_agent(printer)
    agent._on_job(job("j1"))
    wait_until(lambda: results(sent, "printed"))
    assert printer.attempts == 4 and len(results(sent, "failed")) == 1
    assert agent.pending() == 0


def test_a_job_too_old_is_dropped_unprinted(make_agent):
    now = [100.0]
    printer = ScriptedPrinter(failures=["offline"] * 1000)
    agent, sent = make_agent(printer, job_max_age=60, clock=lambda: now[0])
    agent._on_job(job("j1"))
    wait_until(lambda: printer.attempts >= 1)
    now[0] += 61
    wait_until(lambda: results(sent, "expired"))
    assert agent.pending() == 0 and not printer.printed


def test_a_malformed_job_is_dropped_and_the_queue_goes_on(make_agent):
    printer = ScriptedPrinter()
    agent, sent = make_agent(printer)
    bad = job("bad")
    bad["ticket"]["people_ahead"] = "many"
    agent._on_job(bad)
    agent._on_job({"no": "id"})
    agent._on_job(job("good"))
    wait_until(lambda: len(results(sent)) == 2)
    assert results(sent) == [("bad", "dropped"), ("good", "printed")]
