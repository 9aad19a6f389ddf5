"""The print agent (`hall-print-agent`): prints one kiosk's tickets on the kiosk PC's own printer.

It joins the hall server over Socket.IO as `printer` for its kiosk, takes `print_ticket` jobs into
a local queue and prints them strictly in order. A printer failure never crashes or blocks the
agent: it reports the printer's state (offline, paper_out) to the server, waits, probes the printer
and prints the job again once the printer answers; supervisors see the state, the kiosk hears
`print_status`. A job printed but not acknowledged (the link dropped) is re-sent by the server on
reconnect: the agent remembers what it printed and only acknowledges it again.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from typing import Any

import socketio

from hall_server import events as ev
from printer.backends import PrinterError, TicketPrinter, make_printer
from printer.dispatch import ticket_from_fields
from printer.layout import render_ticket

log = logging.getLogger("hall_print_agent")

REMEMBER_PRINTED = 500   # job ids kept to recognise a re-sent job already printed


class PrintAgent:
    """One kiosk's print agent: a Socket.IO client, a FIFO of jobs and one printing thread."""

    def __init__(self, server: str, hall: str, device: str, token: str, printer: TicketPrinter, *,
                 retry_initial: float = 1.0, retry_max: float = 30.0, job_max_age: float = 600.0,
                 transports: Sequence[str] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        """Remember where to connect and what to print on; nothing starts before start()."""
        self.server, self.hall, self.device, self.token = server.rstrip("/"), hall, device, token
        self.printer = printer
        self.retry_initial, self.retry_max, self.job_max_age = retry_initial, retry_max, job_max_age
        self.transports = list(transports) if transports else None
        self.clock = clock
        self.sio = socketio.Client(reconnection=True, reconnection_delay=1, reconnection_delay_max=10,
                                   handle_sigint=False)
        self._jobs: deque[tuple[float, dict[str, Any]]] = deque()
        self._printed: OrderedDict[str, str] = OrderedDict()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._probe_wanted = False
        self._reported: str | None = None
        self._threads: list[threading.Thread] = []
        self.joined = threading.Event()
        self.printed_count = 0
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on(ev.PRINT_TICKET, self._on_job)

    # ----- life cycle ------------------------------------------------------------------------
    def start(self) -> PrintAgent:
        """Connect (retrying until the server answers) and start printing, in background threads."""
        for target, name in ((self._connect_loop, "print-agent-connect"), (self._work, "print-agent-printer")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Disconnect and let the threads end; unprinted jobs stay with the server."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        try:
            self.sio.disconnect()
        except Exception:  # stopping must not fail on a half-open connection
            log.debug("disconnect failed", exc_info=True)
        for t in self._threads:
            t.join(timeout)

    def wait(self) -> None:
        """Block until stop() (the console script's main loop)."""
        while not self._stop.wait(1.0):
            pass

    def _connect_loop(self) -> None:
        delay = self.retry_initial
        while not self._stop.is_set():
            try:
                self.sio.connect(self.server, transports=self.transports, wait_timeout=10)
                return  # from now on the client reconnects by itself
            except socketio.exceptions.ConnectionError as exc:
                log.warning("cannot reach the hall server %s (%s); retrying in %.0fs", self.server, exc, delay)
                if self._stop.wait(delay):
                    return
                delay = min(delay * 2, self.retry_max)

    # ----- socket events (python-socketio's thread) ----------------------------------------------
    def _on_connect(self) -> None:
        log.info("connected to %s; joining %s as printer of %s", self.server, self.hall, self.device)
        self.sio.emit(ev.JOIN, {"hall": self.hall, "role": "printer", "auth": self.token, "device": self.device},
                      callback=self._on_joined)

    def _on_joined(self, ack: Any = None) -> None:
        if not isinstance(ack, dict) or not ack.get("ok"):
            log.error("the server refused to join: %s", ack)
            return
        self.joined.set()
        # The join marks us online; the real printer state follows from the printing thread.
        with self._cond:
            self._reported = None
            self._probe_wanted = True
            self._cond.notify_all()
        self._emit(ev.FETCH_PRINT_JOBS, {"hall": self.hall, "device": self.device})

    def _on_disconnect(self, *_args: Any) -> None:
        self.joined.clear()
        if not self._stop.is_set():
            log.warning("disconnected from the hall server; reconnecting")

    def _on_job(self, job: Any) -> None:
        if not isinstance(job, dict) or not isinstance(job.get("job_id"), str):
            log.warning("ignored a malformed print job: %r", job)
            return
        job_id = job["job_id"]
        with self._cond:
            done = self._printed.get(job_id)
            queued = any(j["job_id"] == job_id for _, j in self._jobs)
            if done is None and not queued:
                self._jobs.append((self.clock(), job))
                self._cond.notify_all()
        if done is not None:  # printed before the link dropped: acknowledge again, never print twice
            self._emit(ev.PRINT_RESULT, {"job_id": job_id, "status": done, "detail": "already handled"})

    def _emit(self, event: str, data: dict[str, Any]) -> bool:
        try:
            self.sio.emit(event, data)
            return True
        except Exception as exc:  # noqa: BLE001 - offline: the server re-sends jobs on reconnect
            log.debug("cannot send %s now: %s", event, exc)
            return False

    # ----- printing (one thread, strictly in order) --------------------------------------------------
    def _work(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                while not self._stop.is_set() and not self._jobs and not self._probe_wanted:
                    self._cond.wait(1.0)
                if self._stop.is_set():
                    return
                probe, self._probe_wanted = self._probe_wanted, False
                head = self._jobs[0] if self._jobs else None
            try:
                if probe and head is None:
                    self._report(self._safe_status(), "")
                elif head is not None:
                    self._print_head(*head)
            except Exception:  # the printing thread must survive anything
                log.exception("print agent error; continuing")
                self._stop.wait(self.retry_initial)

    def _print_head(self, received: float, job: dict[str, Any]) -> None:
        """Print the oldest job until it prints, expires or cannot be printed at all."""
        job_id, number = job["job_id"], job.get("number", "?")
        try:
            image = render_ticket(ticket_from_fields(job.get("ticket") or {}), width=self.printer.width,
                                  lang=job.get("lang", "ar"), digits=job.get("digits", "western"))
        except (ValueError, TypeError, KeyError) as exc:
            log.error("print job %s (%s) cannot be rendered: %s", job_id, number, exc)
            self._finish(job_id, "dropped", f"cannot render: {exc}")
            return
        delay = self.retry_initial
        failures = 0
        while not self._stop.is_set():
            if self.clock() - received > self.job_max_age:
                log.warning("print job for %s expired after %.0fs unprinted", number, self.job_max_age)
                self._finish(job_id, "expired", "the printer did not come back in time")
                return
            if failures:
                # Ask before sending again: a printer out of paper still holds the last job.
                state = self._safe_status()
                if state in ("offline", "paper_out"):
                    self._report(state, f"waiting to print {number}")
                    self._stop.wait(delay)
                    delay = min(delay * 2, self.retry_max)
                    continue
            try:
                self.printer.print_image(image)
            except PrinterError as exc:
                failures += 1
                log.warning("ticket %s not printed (%s); retrying in %.0fs", number, exc, delay)
                self._report(exc.kind, exc.message)
                if failures == 1:  # the kiosk shows "photograph the QR" while we keep trying
                    self._emit(ev.PRINT_RESULT, {"job_id": job_id, "status": "failed", "detail": str(exc)})
                self._stop.wait(delay)
                delay = min(delay * 2, self.retry_max)
                continue
            self.printed_count += 1
            log.info("printed ticket %s", number)
            self._report("online", "")
            self._finish(job_id, "printed", "")
            return

    def _finish(self, job_id: str, status: str, detail: str) -> None:
        with self._cond:
            if self._jobs and self._jobs[0][1]["job_id"] == job_id:
                self._jobs.popleft()
            self._printed[job_id] = status
            while len(self._printed) > REMEMBER_PRINTED:
                self._printed.popitem(last=False)
        self._emit(ev.PRINT_RESULT, {"job_id": job_id, "status": status, "detail": detail})

    def _safe_status(self) -> str:
        try:
            return self.printer.status()
        except Exception:  # a status probe that breaks means we do not know
            log.debug("printer status probe failed", exc_info=True)
            return "unknown"

    def _report(self, status: str, detail: str) -> None:
        """Tell the server the printer's state when it changes (supervisors see it)."""
        status = "online" if status == "unknown" else status
        if status == self._reported:
            return
        if self._emit(ev.REPORT_STATUS, {"status": status, "detail": detail}):
            self._reported = status

    def pending(self) -> int:
        """Jobs waiting to print (for tests and the log)."""
        with self._cond:
            return len(self._jobs)


# ----- the console script ------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hall-print-agent",
                                description="Print a kiosk's tickets on a local ESC/POS printer.")
    p.add_argument("--server", required=True, help="hall server URL, e.g. http://10.0.0.2:8080")
    p.add_argument("--hall", required=True, help="hall code, e.g. kfs")
    p.add_argument("--device", required=True, help="the kiosk this printer belongs to, e.g. kiosk-1")
    p.add_argument("--token", help="device token (printer or kiosk role); prefer --token-file")
    p.add_argument("--token-file", help="file holding the device token (kept out of the process list)")
    p.add_argument("--backend", required=True, choices=("network", "usb", "serial", "file", "none"))
    p.add_argument("--host", help="network: printer address")
    p.add_argument("--port", type=int, help="network: TCP port (9100)")
    p.add_argument("--vendor-id", help="usb: vendor id, e.g. 0x04b8")
    p.add_argument("--product-id", help="usb: product id, e.g. 0x0202")
    p.add_argument("--devfile", help="serial: device, e.g. /dev/ttyUSB0")
    p.add_argument("--baudrate", type=int, help="serial: speed (9600)")
    p.add_argument("--folder", help="file: folder for .bin and .png tickets")
    p.add_argument("--profile", help="python-escpos printer profile, e.g. TM-T88V")
    p.add_argument("--width", type=int, help="dots per line: 384 (58 mm) or 576 (80 mm)")
    p.add_argument("--timeout", type=float, help="network: seconds before a printer counts as offline")
    p.add_argument("--retry-max", type=float, default=30.0, help="longest wait between retries (s)")
    p.add_argument("--job-max-age", type=float, default=600.0, help="drop a job unprinted after this (s)")
    p.add_argument("--log-level", default="INFO")
    return p


def printer_config(args: argparse.Namespace) -> dict[str, Any]:
    """The make_printer() config from the command line (only the options given)."""
    cfg: dict[str, Any] = {"backend": args.backend}
    for key in ("host", "port", "vendor_id", "product_id", "devfile", "baudrate", "folder", "profile",
                "width", "timeout"):
        value = getattr(args, key)
        if value is not None:
            cfg[key] = value
    return cfg


def main(argv: Sequence[str] | None = None) -> int:
    """Run the agent until SIGTERM or Ctrl-C."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = args.token
    if args.token_file:
        try:
            with open(args.token_file, encoding="utf-8") as fh:
                token = fh.read().strip()
        except OSError as exc:
            parser.error(f"--token-file: {exc}")
    # The one variable the agent reads: the token, for service managers that pass secrets that way.
    token = token or os.environ.get("HALL_PRINT_TOKEN")
    if not token:
        parser.error("give the device token with --token-file, --token or HALL_PRINT_TOKEN")
    try:
        printer = make_printer(printer_config(args))
    except ValueError as exc:
        parser.error(str(exc))
    agent = PrintAgent(args.server, args.hall, args.device, token, printer,
                       retry_max=args.retry_max, job_max_age=args.job_max_age)

    def _stop(*_a: Any) -> None:
        log.info("stopping")
        agent._stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"hall-print-agent: {args.device}@{args.hall} -> {printer!r}, server {args.server}", flush=True)
    agent.start()
    agent.wait()
    agent.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
