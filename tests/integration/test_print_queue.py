"""Mode "server" printing on its own: the per-printer queue, its worker, its bound and its breaker.

The dispatcher runs in-process with its real worker threads and real network printers on loopback
TCP; only its clock is the test's, so a cool-down passes without waiting for it.
"""
from __future__ import annotations

import pytest

from config import load_settings
from hall_server import events as ev
from printer.dispatch import BREAKER_COOL_DOWN, BREAKER_FAILURES, SERVER_JOB_MAX_AGE, PrintDispatcher
from tests.print_queue_support import Emitted, HeldPrinter
from tests.print_support import job_image, qr_texts, reserve_port, write_hall

OPTIONS = 'profile = "TM-T20II", digits = "western"'


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ticket(n: int) -> dict:
    return {"id": n, "hall": "kfs", "number": f"A-{n:03d}", "service": "building_permit", "status": "waiting",
            "priority": None, "token": f"tok{n}", "track_url": f"http://hall.example/t/Ticket{n:03d}xxxxxxxxxxxx",
            "position": n, "eta_seconds": 60, "issued_at": "2026-11-22T07:05:00+00:00", "window": None}


def make(tmp_path, port: int, timeout: float, **kw) -> tuple[PrintDispatcher, Emitted, list, Clock]:
    hall = write_hall(tmp_path / "cfg", f"""
[[devices]]
name = "kiosk-1"
kind = "kiosk"
printer = {{mode = "server", backend = "network", host = "127.0.0.1", port = {port}, timeout = {timeout}, {OPTIONS}}}
""")
    settings = load_settings(env={}, data_dir=tmp_path / "data", async_mode="threading", halls=[hall])
    sent, statuses, clock = Emitted(), [], Clock()
    d = PrintDispatcher(settings, sent, lambda *a: statuses.append(a), clock=clock, **kw)
    return d, sent, statuses, clock


def queue(d: PrintDispatcher, n: int) -> str:
    r = d.dispatch("kfs", "kiosk-1", ticket(n))
    assert r.status == "queued" and r.job_id, r
    return r.job_id


def assert_printed_in_order(printer: HeldPrinter, numbers: list[int]) -> None:
    jobs = printer.wait_jobs(len(numbers))
    assert len(jobs) == len(numbers)
    assert [qr_texts(job_image(j)) for j in jobs] == [[ticket(n)["track_url"]] for n in numbers]


@pytest.fixture
def held():
    p = HeldPrinter()
    yield p
    p.close()


def test_jobs_queue_behind_a_busy_printer_and_print_in_order(tmp_path, held):
    """dispatch() returns while the printer holds the first job; released, all print in order."""
    d, sent, statuses, _ = make(tmp_path, held.port, timeout=60)
    first = queue(d, 1)
    assert held.accepted.wait(30), "the worker is in the printer"
    later = [queue(d, n) for n in (2, 3, 4)]
    assert not held.released and held.jobs == []
    assert sent.statuses() == [], "nothing printed or failed while the printer holds the job"
    held.release()
    assert_printed_in_order(held, [1, 2, 3, 4])
    for n, job_id in enumerate([first, *later], start=1):
        assert sent.status_of(job_id) == {"job_id": job_id, "number": f"A-{n:03d}", "device": "kiosk-1",
                                          "status": "printed", "detail": "printed"}
    assert {room for _, _, room in sent.sent} == {ev.hall_room("kfs")}
    assert statuses == [("kfs", "kiosk-1", "online", "")]
    assert held.connections == 4, "one connection per job, one job at a time"


def test_a_full_queue_drops_its_oldest_waiting_job(tmp_path, held):
    d, sent, _, _ = make(tmp_path, held.port, timeout=60, queue_max=2)
    first = queue(d, 1)
    assert held.accepted.wait(30)
    ids = {n: queue(d, n) for n in (2, 3, 4, 5)}
    # The job being printed is not waiting: 2 and 3 are the oldest waiting, pushed out by 4 and 5.
    for n in (2, 3):
        dropped = sent.status_of(ids[n])
        assert dropped["status"] == "dropped" and dropped["number"] == f"A-{n:03d}"
    assert held.jobs == []
    held.release()
    assert_printed_in_order(held, [1, 4, 5])
    assert [sent.status_of(j)["status"] for j in (first, ids[4], ids[5])] == ["printed"] * 3


def test_a_job_that_waited_too_long_is_not_printed(tmp_path, held):
    """Paper for a citizen who left long ago would be taken by the next one: expired instead."""
    d, sent, _, clock = make(tmp_path, held.port, timeout=60)
    first = queue(d, 1)
    assert held.accepted.wait(30)
    late = queue(d, 2)
    clock.now += SERVER_JOB_MAX_AGE + 1
    held.release()
    assert sent.status_of(first)["status"] == "printed", "already at the printer when it grew old"
    assert sent.status_of(late)["status"] == "expired"
    assert len(held.wait_jobs(1)) == 1 and held.connections == 1


def test_breaker_opens_after_failures_in_a_row_and_a_trial_closes_it(tmp_path):
    """Refused N times: jobs fail at once without a connection; after the cool-down one job is tried."""
    port = reserve_port()
    d, sent, statuses, clock = make(tmp_path, port, timeout=2)
    n = iter(range(1, 100))

    def outcome() -> dict:
        return sent.status_of(queue(d, next(n)))

    for _ in range(BREAKER_FAILURES):
        failed = outcome()
        assert failed["status"] == "failed" and "cannot connect" in failed["detail"], failed
    fast = outcome()
    assert fast["status"] == "failed", fast
    assert fast["detail"].startswith("printer offline: not tried"), fast
    assert "cannot connect" in fast["detail"], "the last real error is named"

    # Cool-down over, printer still off: the trial job fails and the breaker opens again at once.
    clock.now += BREAKER_COOL_DOWN + 1
    trial = outcome()
    assert trial["status"] == "failed" and "cannot connect" in trial["detail"], trial
    assert outcome()["detail"].startswith("printer offline: not tried")

    # The printer is back, but the breaker is still open: its jobs fail without reaching it.
    printer = HeldPrinter(held=False, port=port)
    try:
        still_open = outcome()
        assert still_open["status"] == "failed" and "not tried" in still_open["detail"]
        assert printer.connections == 0 and printer.jobs == []
        # After the cool-down the trial job prints, and so does everything after it.
        clock.now += BREAKER_COOL_DOWN + 1
        numbers = []
        for _ in range(2):
            numbers.append(next(n))
            assert sent.status_of(queue(d, numbers[-1]))["status"] == "printed"
        assert_printed_in_order(printer, numbers)
        assert printer.connections == 2
    finally:
        printer.close()
    assert statuses == [("kfs", "kiosk-1", "offline", statuses[0][3]), ("kfs", "kiosk-1", "online", "")]
    assert [s["status"] for s in sent.statuses()].count("printed") == 2


def test_a_broken_job_does_not_stop_the_queue(tmp_path, held):
    """A job that cannot render fails alone; the next one prints."""
    d, sent, _, _ = make(tmp_path, held.port, timeout=60)
    held.release()
    broken = d.dispatch("kfs", "kiosk-1", {**ticket(1), "service": "no_such_service"})
    assert broken.status == "failed" and broken.job_id is None, "refused at once, not queued"
    assert sent.status_of(queue(d, 2))["status"] == "printed"
    assert_printed_in_order(held, [2])
