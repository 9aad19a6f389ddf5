"""Ticket printing: render time, ESC/POS job build, a job to a TCP printer, and issue-to-paper.

Parts, each with p50/p99:
  render      render_ticket() of an Arabic ticket at 576 and 384 dots
  escpos      escpos_bytes() of the rendered image
  tcp         NetworkPrinter.print_image() to a printer peer on loopback (build + send + drain)
  server      POST /tickets on a server printing to that peer itself (mode "server"), against mode "none"
  agent       POST /tickets -> `print_status` printed, through a real print agent (mode "agent")

Usage: .venv/bin/python bench/bench_print.py [-n 200] [--async-mode gevent] [--skip-server]
"""
from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from common import start_server, summary  # importing common puts the project on sys.path

from printer.agent import PrintAgent  # noqa: E402
from printer.backends import NetworkPrinter, escpos_bytes  # noqa: E402
from printer.layout import TicketPrint, render_ticket  # noqa: E402
from tests.print_support import Listener, PrinterPeer, write_hall  # noqa: E402

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


def bench_server(n: int, async_mode: str) -> None:
    peer = PrinterPeer()
    folder = Path(tempfile.mkdtemp(prefix="hall-bench-print-"))
    hall = write_hall(folder, f"""
[[devices]]
name = "kiosk-1"
kind = "kiosk"
printer = {{mode = "server", backend = "network", host = "127.0.0.1", port = {peer.port}, profile = "TM-T20II"}}
""")
    server = start_server(async_mode, env={"HALL_HALLS": str(hall)})
    try:
        lat = issue_many(server, n, expect="printed")
        print(summary(f"POST /tickets, server prints (mode server, {async_mode})", lat))
        assert len(peer.wait_jobs(n + 1)) == n + 1
    finally:
        server.stop()
        peer.close()
    plain = start_server(async_mode)
    try:
        print(summary(f"POST /tickets, no printer (mode none, {async_mode})", issue_many(plain, n, expect="none")))
    finally:
        plain.stop()


def issue_many(server, n: int, expect: str) -> list[float]:
    import requests
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {server.devices['kiosk-1']}"
    url = f"{server.url}/api/v1/halls/kfs/tickets"
    s.post(url, json={"service": "building_permit"}, timeout=60)  # warm up
    lat = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = s.post(url, json={"service": "building_permit"}, headers={"Idempotency-Key": uuid.uuid4().hex}, timeout=60)
        lat.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 201 and r.json()["print"]["status"] == expect, r.text
    return lat


def bench_agent(n: int, async_mode: str) -> None:
    import requests
    peer = PrinterPeer()
    folder = Path(tempfile.mkdtemp(prefix="hall-bench-agent-"))
    hall = write_hall(folder, '[[devices]]\nname = "kiosk-1"\nkind = "kiosk"\nprinter = {mode = "agent"}\n')
    server = start_server(async_mode, env={"HALL_HALLS": str(hall)})
    agent = PrintAgent(server.url, "kfs", "kiosk-1", server.devices["printer-1"],
                       NetworkPrinter("127.0.0.1", peer.port, profile="TM-T20II")).start()
    listener = Listener(server.url, server.login("supervisor"))
    try:
        assert agent.joined.wait(30)
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {server.devices['kiosk-1']}"
        lat = []
        for _ in range(n):
            t0 = time.perf_counter()
            r = s.post(f"{server.url}/api/v1/halls/kfs/tickets", json={"service": "rent_payment"}, timeout=60)
            number = r.json()["number"]
            listener.wait_for("print_status", lambda d: d["number"] == number and d["status"] == "printed")
            lat.append((time.perf_counter() - t0) * 1000)
        print(summary(f"issue -> printed through the agent ({async_mode})", lat))
    finally:
        listener.close()
        agent.stop()
        server.stop()
        peer.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=200, help="samples per figure")
    ap.add_argument("--async-mode", default="gevent")
    ap.add_argument("--skip-server", action="store_true", help="only the in-process figures")
    args = ap.parse_args()
    bench_local(args.n)
    if not args.skip_server:
        bench_server(args.n, args.async_mode)
        bench_agent(max(20, args.n // 4), args.async_mode)


if __name__ == "__main__":
    main()
