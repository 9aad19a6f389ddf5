"""Ticket printing: render time, ESC/POS job build, a job to a TCP printer, and issue-to-paper.

Parts, each with p50/p99:
  render      render_ticket() of an Arabic ticket at 576 and 384 dots
  escpos      escpos_bytes() of the rendered image
  tcp         NetworkPrinter.print_image() to a printer peer on loopback (build + send + drain)
  baseline    POST /tickets response on a server without printers (mode "none")
  server      mode "server" (the server prints to that peer itself) and
  agent       mode "agent" (a real print agent prints to it), each with two figures:
                response          POST /tickets until its response (print: queued + job_id), and
                                  its ratio to the baseline (p50 to p50, p99 to p99);
                issue -> printed  POST /tickets sent until the `print_status` printed of that job_id
                                  reaches a board (python-socketio client, `join {hall, role: board}`)

Tickets are issued one at a time, each waiting for its printed event (a kiosk's pace, no queue
behind the printer); every wait is bounded (WAIT_S). Everything is on loopback.

Usage: .venv/bin/python bench/bench_print.py [-n 200 | --quick] [--async-mode gevent] [--skip-server]
"""
from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from common import pct, start_server, summary  # importing common puts the project on sys.path
from hall_server import events as ev
from printer.agent import PrintAgent
from printer.backends import NetworkPrinter, escpos_bytes
from printer.layout import TicketPrint, render_ticket
from tests.print_support import PrinterPeer, write_hall

WAIT_S = 30.0          # seconds: the longest wait for a response or a print_status (bounded run)
SERVICE = "building_permit"
QUICK_N = 20           # --quick: samples per figure

TICKET = TicketPrint(
    hall_name_ar="المركز التكنولوجي لخدمة المواطنين بكفر صقر",
    hall_name_en="Kafr Saqr Citizen Services Technology Center",
    service_name_ar="طلب التصالح في مخالفات البناء وتقنين أوضاعها", service_name_en="Building violation reconciliation",
    number="A-123", people_ahead=14, eta_minutes=35,
    issued_at=datetime(2026, 11, 23, 10, 5, tzinfo=ZoneInfo("Africa/Cairo")),
    track_url="http://10.0.0.2:8080/t/Zx9kQ2mP7vLr4TbW8nYc3HdFqA", file_number="2026-000123",
    priority_label_ar="كبار السن", priority_label_en="Elderly")


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def bench_local(n: int) -> None:
    render_ticket(TICKET)  # fonts and caches warm
    for width in (576, 384):
        print(summary(f"render_ticket ar {width} dots", timed(lambda w=width: render_ticket(TICKET, width=w), n)))
    print(summary("render_ticket en 576 dots", timed(lambda: render_ticket(TICKET, lang="en"), n)))
    img = render_ticket(TICKET, width=576)
    print(f"ticket image: {img.width}x{img.height} dots, job {len(escpos_bytes(img, 'TM-T20II'))} bytes")
    print(summary("escpos_bytes 576 dots", timed(lambda: escpos_bytes(img, "TM-T20II"), n)))
    peer = PrinterPeer()
    try:
        printer = NetworkPrinter("127.0.0.1", peer.port, profile="TM-T20II")
        print(summary("TCP print job to loopback peer", timed(lambda: printer.print_image(img), n)))
        both = timed(lambda: printer.print_image(render_ticket(TICKET, width=576)), n)
        print(summary("render + TCP print job", both))
    finally:
        peer.close()


class BoardWatch:
    """A Socket.IO client joined to the hall as a board: notes when each job's `print_status` arrives.

    The arrival time is taken in the client's event handler, keyed by job_id, so an event that comes
    before the issue response is read is still matched, and waiting adds nothing to the figure.
    """

    def __init__(self, url: str, hall: str = "kfs") -> None:
        import socketio
        self._cond = threading.Condition()
        self.statuses: dict[str, list[tuple[float, dict[str, Any]]]] = {}
        self.sio = socketio.Client(reconnection=False, handle_sigint=False)
        self.sio.on(ev.PRINT_STATUS, self._on_status)
        self.sio.connect(url, transports=["websocket"], wait_timeout=10)
        ack = self.sio.call(ev.JOIN, {"hall": hall, "role": "board"}, timeout=10)
        assert ack and ack.get("ok"), ack

    def _on_status(self, data: Any = None) -> None:
        at = time.perf_counter()
        if isinstance(data, dict) and isinstance(data.get("job_id"), str):
            with self._cond:
                self.statuses.setdefault(data["job_id"], []).append((at, data))
                self._cond.notify_all()

    def printed_at(self, job_id: str, final: tuple[str, ...], timeout: float = WAIT_S) -> float:
        """perf_counter() when `printed` arrived for the job; AssertionError on a final other outcome."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for at, d in self.statuses.get(job_id, []):
                    if d.get("status") == "printed":
                        return at
                    if d.get("status") in final:
                        raise AssertionError(f"job {job_id} ({d.get('number')}) not printed: {d}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no print_status printed for job {job_id} within {timeout}s; "
                                         f"heard {self.statuses.get(job_id, [])}")
                self._cond.wait(left)

    def close(self) -> None:
        self.sio.disconnect()


def kiosk_session(server):
    import requests
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {server.devices['kiosk-1']}"
    return s, f"{server.url}/api/v1/halls/kfs/tickets"


def issue(s, url: str) -> tuple[float, float, dict[str, Any]]:
    """POST one ticket: (send time, response latency in ms, the `print` field)."""
    t0 = time.perf_counter()
    r = s.post(url, json={"service": SERVICE}, headers={"Idempotency-Key": uuid.uuid4().hex}, timeout=WAIT_S)
    ms = (time.perf_counter() - t0) * 1000
    assert r.status_code == 201, r.text
    return t0, ms, r.json()["print"]


def issue_plain(server, n: int) -> list[float]:
    """Response latencies of n tickets at a kiosk without a printer."""
    s, url = kiosk_session(server)
    issue(s, url)  # warm up
    lat = []
    for _ in range(n):
        _, ms, p = issue(s, url)
        assert p["status"] == "none", p
        lat.append(ms)
    return lat


def issue_printed(server, board: BoardWatch, n: int, final: tuple[str, ...]) -> tuple[list[float], list[float]]:
    """n tickets one at a time: (response latencies, issue -> printed latencies), in ms."""
    s, url = kiosk_session(server)

    def one() -> tuple[float, float]:
        t0, ms, p = issue(s, url)
        assert p["status"] == "queued" and p.get("job_id"), p
        return ms, (board.printed_at(p["job_id"], final) - t0) * 1000

    one()  # warm up: fonts, the printer's worker, the connection
    response, printed = [], []
    for _ in range(n):
        ms, to_paper = one()
        response.append(ms)
        printed.append(to_paper)
    return response, printed


def report(label: str, response: list[float], printed: list[float], baseline: list[float]) -> None:
    print(summary(f"{label}: POST /tickets response (queued)", response))
    print(summary(f"{label}: issue -> print_status printed", printed))
    b50, b99 = pct(baseline, 50), pct(baseline, 99)
    print(f"{label}: response / no-printer baseline: p50 x{pct(response, 50) / b50:.2f} "
          f"({pct(response, 50):.1f} vs {b50:.1f} ms), p99 x{pct(response, 99) / b99:.2f} "
          f"({pct(response, 99):.1f} vs {b99:.1f} ms)")


def bench_baseline(n: int, async_mode: str) -> list[float]:
    plain = start_server(async_mode)
    plain.open_windows()  # a ticket is issued only for a service an open window serves
    try:
        lat = issue_plain(plain, n)
    finally:
        plain.stop()
    print(summary(f"baseline: POST /tickets, no printer (mode none, {async_mode})", lat))
    return lat


def bench_server(n: int, async_mode: str, baseline: list[float]) -> None:
    peer = PrinterPeer()
    folder = Path(tempfile.mkdtemp(prefix="hall-bench-print-"))
    hall = write_hall(folder, f"""
[[devices]]
name = "kiosk-1"
kind = "kiosk"
printer = {{mode = "server", backend = "network", host = "127.0.0.1", port = {peer.port}, profile = "TM-T20II"}}
""")
    server = start_server(async_mode, env={"HALL_HALLS": str(hall)})
    server.open_windows()  # a ticket is issued only for a service an open window serves
    board = None
    try:
        board = BoardWatch(server.url)
        # mode server: a failed job is final (no retry), so is dropped or expired
        response, printed = issue_printed(server, board, n, final=("failed", "dropped", "expired"))
        assert len(peer.wait_jobs(n + 1, timeout=WAIT_S)) == n + 1
    finally:
        if board is not None:
            board.close()
        server.stop()
        peer.close()
    report(f"mode server ({async_mode})", response, printed, baseline)


def bench_agent(n: int, async_mode: str, baseline: list[float]) -> None:
    peer = PrinterPeer()
    folder = Path(tempfile.mkdtemp(prefix="hall-bench-agent-"))
    hall = write_hall(folder, '[[devices]]\nname = "kiosk-1"\nkind = "kiosk"\nprinter = {mode = "agent"}\n')
    server = start_server(async_mode, env={"HALL_HALLS": str(hall)})
    server.open_windows()  # a ticket is issued only for a service an open window serves
    agent = board = None
    try:
        agent = PrintAgent(server.url, "kfs", "kiosk-1", server.devices["printer-1"],
                           NetworkPrinter("127.0.0.1", peer.port, profile="TM-T20II")).start()
        assert agent.joined.wait(WAIT_S), "the print agent did not join"
        board = BoardWatch(server.url)
        # mode agent: the agent retries a failed job; only dropped or expired are final
        response, printed = issue_printed(server, board, n, final=("dropped", "expired"))
    finally:
        if board is not None:
            board.close()
        if agent is not None:
            agent.stop()
        server.stop()
        peer.close()
    report(f"mode agent ({async_mode})", response, printed, baseline)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=None, help="samples per figure (default 200)")
    ap.add_argument("--quick", action="store_true", help=f"a short run: {QUICK_N} samples per figure")
    ap.add_argument("--async-mode", default="gevent")
    ap.add_argument("--skip-server", action="store_true", help="only the in-process figures")
    args = ap.parse_args()
    n = args.n or (QUICK_N if args.quick else 200)
    bench_local(n)
    if not args.skip_server:
        baseline = bench_baseline(n, args.async_mode)
        bench_server(n, args.async_mode, baseline)
        bench_agent(n if args.quick else max(20, n // 4), args.async_mode, baseline)


if __name__ == "__main__":
    main()
