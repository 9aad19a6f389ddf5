"""Print dispatch: once a ticket is committed, print it the way its kiosk's config says.

Each kiosk device in a hall file may carry `printer = {mode = ..., ...}`:
  mode "server": the hall server prints itself (network printer on TCP 9100, or file, usb, serial
                 on the server's machine): after the commit the job goes to that printer's queue,
                 worked in the background by one worker per printer (so a kiosk's tickets print in
                 order); the issue response never waits for it, the outcome reaches the hall as
                 `print_status`. A circuit breaker per printer makes jobs fail at once while the
                 printer is known to be off;
  mode "agent":  a `hall-print-agent` on the kiosk PC prints; the job goes to its Socket.IO room
                 and waits in memory until the agent acknowledges it with `print_result`;
  mode "none":   no printer; the kiosk shows the ticket and its QR on screen.
A printer failure never undoes a ticket: the caller gets a result to show, nothing is raised.
The issue response says `queued` (with the job_id) and the kiosk page matches `print_status` by it.
"""
from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from config import Catalog, HallDef, Settings
from config.loader import ConfigError
from hall_server import events as ev
from printer.backends import PrinterError, TicketPrinter, make_printer, profile_width
from printer.layout import TicketPrint, render_ticket

log = logging.getLogger(__name__)

MODES = ("server", "agent", "none")
# seconds: a network printer's connection attempt (and a stalled send) gives up after this. Only the
# printer's worker waits for it, never the kiosk; short, so a printer switched off (its SYNs go
# unanswered) costs the queue behind it little, long enough for a printer on a busy LAN or Wi-Fi.
SERVER_TIMEOUT = 3.0
# Circuit breaker, per server-driven printer: after this many failed jobs in a row the printer is
# taken for off ("open") and its jobs fail at once, without a connection attempt. One failure can be
# a hiccup (a printer restarting, a lost packet); three in a row are a printer that is off, unplugged
# or out of paper, and without the breaker each of a burst of tickets would wait SERVER_TIMEOUT.
BREAKER_FAILURES = 3
# seconds the breaker stays open; then the next job is a trial ("half-open"): printed, the printer is
# back; failed, open again. Short enough that a printer switched back on prints again while the next
# citizen is at the kiosk; long enough that a burst of tickets does not knock on a dead printer.
BREAKER_COOL_DOWN = 30.0
# Jobs waiting per server-driven printer (the one printing not counted); the oldest is dropped
# (`print_status` dropped, logged). A working printer takes 1-2 s per ticket and a kiosk issues one
# every 10 s or more: ten waiting means the printer is stuck, and the oldest citizens have left.
SERVER_QUEUE_MAX = 10
# seconds: a server job still queued this long after its ticket is not printed (`expired`): the kiosk
# screen has moved on and the paper would go to the next citizen at the kiosk.
SERVER_JOB_MAX_AGE = 120.0
JOB_MAX_AGE = 600.0       # seconds: a ticket printed later than this helps nobody; drop it
MAX_PENDING = 100         # jobs kept per kiosk while its agent is away (oldest dropped first)
# failed: the agent keeps retrying; expired/dropped: it gave up (too late, or the job cannot render)
RESULT_STATUSES = ("printed", "failed", "expired", "dropped")
_LAYOUT_KEYS = ("mode", "lang", "digits")           # ours; the rest goes to make_printer

PRIORITY_LABELS = {
    "elderly": ("كبار السن", "Elderly"),
    "disabled": ("ذوو الهمم", "Person with a disability"),
    "pregnant": ("سيدة حامل", "Pregnant"),
    "appointment": ("موعد مسبق", "Appointment"),
}
_FAILURE_WORDS = {"offline": "printer offline", "paper_out": "printer out of paper", "error": "printer error"}

Emit = Callable[[str, dict[str, Any], str], None]
Spawn = Callable[[Callable[[], None]], Any]  # start a background task (thread or greenlet)
StatusSink = Callable[[str, str, str, str], None]  # hall, device, status, detail


@dataclass(frozen=True)
class PrintResult:
    """What happened to a ticket's print, as the kiosk is told in the issue response."""

    status: str  # queued | failed | none | not_reprinted (printed is only ever an event)
    message: str
    job_id: str | None = None  # a queued job: its `print_status` events carry this id

    def as_json(self) -> dict[str, str]:
        """The `print` field of the issue response."""
        out = {"status": self.status, "message": self.message}
        if self.job_id:
            out["job_id"] = self.job_id
        return out


NO_PRINTER = PrintResult("none", "printing is not set up on this server")
NOT_REPRINTED = PrintResult("not_reprinted", "this request was a retry: the ticket was printed (or not) "
                                             "the first time and is not printed again")


# ----- the layout input, from a public ticket and back from a job ------------------------------
def ticket_print(hall: HallDef, catalog: Catalog, ticket: Mapping[str, Any]) -> TicketPrint:
    """Build the printed ticket from the public ticket JSON (names from config, time in the hall's zone)."""
    service = catalog.service(ticket["service"])
    eta = ticket.get("eta_seconds")
    labels = PRIORITY_LABELS.get(ticket.get("priority") or "", (None, None))
    return TicketPrint(
        hall_name_ar=hall.name_ar, hall_name_en=hall.name_en,
        service_name_ar=service.name_ar, service_name_en=service.name_en,
        number=ticket["number"], people_ahead=int(ticket.get("position") or 0),
        # Rounded up: promising less than the estimate is the worse mistake.
        eta_minutes=None if eta is None else math.ceil(eta / 60),
        issued_at=datetime.fromisoformat(ticket["issued_at"]).astimezone(hall.tz),
        track_url=ticket["track_url"], file_number=ticket.get("request_file") or None,
        priority_label_ar=labels[0], priority_label_en=labels[1])


def ticket_fields(t: TicketPrint) -> dict[str, Any]:
    """A TicketPrint as JSON-safe fields for a `print_ticket` job."""
    return {"hall_name_ar": t.hall_name_ar, "hall_name_en": t.hall_name_en,
            "service_name_ar": t.service_name_ar, "service_name_en": t.service_name_en,
            "number": t.number, "people_ahead": t.people_ahead, "eta_minutes": t.eta_minutes,
            "issued_at": t.issued_at.isoformat(), "track_url": t.track_url,
            "file_number": t.file_number, "priority_label_ar": t.priority_label_ar,
            "priority_label_en": t.priority_label_en}


def ticket_from_fields(d: Mapping[str, Any]) -> TicketPrint:
    """Rebuild the TicketPrint of a job (the print agent's side); ValueError when a field is wrong."""
    def text(key: str, optional: bool = False) -> str | None:
        v = d.get(key)
        if v is None and optional:
            return None
        if not isinstance(v, str) or len(v) > 500:
            raise ValueError(f"print job field {key!r} must be a string")
        return v

    ahead, eta = d.get("people_ahead"), d.get("eta_minutes")
    if isinstance(ahead, bool) or not isinstance(ahead, int):
        raise ValueError("print job field 'people_ahead' must be a whole number")
    if eta is not None and (isinstance(eta, bool) or not isinstance(eta, int)):
        raise ValueError("print job field 'eta_minutes' must be a whole number or null")
    return TicketPrint(
        hall_name_ar=text("hall_name_ar") or "", hall_name_en=text("hall_name_en") or "",
        service_name_ar=text("service_name_ar") or "", service_name_en=text("service_name_en") or "",
        number=text("number") or "", people_ahead=ahead, eta_minutes=eta,
        issued_at=datetime.fromisoformat(text("issued_at") or ""), track_url=text("track_url") or "",
        file_number=text("file_number", True), priority_label_ar=text("priority_label_ar", True),
        priority_label_en=text("priority_label_en", True))


# ----- config --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KioskPrinter:
    """One kiosk's printing: the mode, the layout options and (mode server) its backend config."""

    mode: str
    lang: str = "ar"
    digits: str = "western"
    backend: Mapping[str, Any] | None = None


def kiosk_printer(hall: HallDef, device: str, data_dir: Path) -> KioskPrinter:
    """Read a device's printer table (mode, lang, digits + backend keys); ConfigError naming it."""
    where = f"{hall.source or hall.code}: devices[{device}].printer"
    dev = next((d for d in hall.devices if d.name == device), None)
    cfg = dict(dev.printer) if dev is not None else {}
    mode = cfg.get("mode", "none" if not cfg or cfg.get("backend", "none") == "none" else "server")
    if mode not in MODES:
        raise ConfigError(f"{where}.mode: expected one of {', '.join(MODES)}, got {mode!r}")
    lang = cfg.get("lang", "ar")
    digits = cfg.get("digits", hall.board.get("digits", "western"))
    if lang not in ("ar", "en"):
        raise ConfigError(f"{where}.lang: expected ar or en, got {lang!r}")
    if digits not in ("western", "eastern"):
        raise ConfigError(f"{where}.digits: expected western or eastern, got {digits!r}")
    backend = None
    if mode == "server":
        # No width from the hall's [printer] table: the printer's profile knows its own dot width
        # (a TM-T88 prints 512 dots; a 576-dot ticket would be refused on every job).
        backend = {k: v for k, v in cfg.items() if k not in _LAYOUT_KEYS}
        if backend.get("backend") == "network":
            backend.setdefault("timeout", SERVER_TIMEOUT)
        if backend.get("backend") == "file":
            backend["folder"] = str(data_dir / str(backend.get("folder", "tickets")))
        try:
            printer = make_printer(backend)  # fail at start-up, not at the first citizen
            limit = profile_width(getattr(printer, "profile", "default"))
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if limit is not None and printer.width > limit:
            raise ConfigError(f"{where}.width: {printer.width} dots is wider than the profile's {limit}")
    return KioskPrinter(mode, lang, digits, backend)


# ----- the dispatcher ------------------------------------------------------------------------------
@dataclass
class Job:
    """A print job: waiting for its kiosk's agent (mode agent) or for the server's printer worker."""

    job_id: str
    hall: str
    device: str
    number: str
    created: float
    payload: dict[str, Any]


@dataclass
class _ServerJob:
    """A mode-"server" job: the ticket's layout, rendered and sent by the printer's worker."""

    job: Job
    layout: TicketPrint


@dataclass
class _ServerPrinter:
    """One server-driven printer: its backend, its bounded job queue, its worker and its breaker."""

    backend: TicketPrinter
    cfg: KioskPrinter
    queue: deque[_ServerJob] = field(default_factory=deque)
    working: bool = False        # a worker is running for this printer (at most one: jobs print in order)
    failures: int = 0            # failed jobs in a row
    open_until: float | None = None  # breaker open: jobs fail at once until this clock time
    last_error: str = ""


class PrintDispatcher:
    """Prints committed tickets per kiosk config and keeps the agents' jobs until acknowledged.

    Mode "server" never prints in the caller: the job goes to its printer's queue and the outcome
    reaches the hall as `print_status`. `spawn` starts a printer's worker (the Socket.IO server's
    `start_background_task` in the app, a daemon thread by default).
    """

    def __init__(self, settings: Settings, emit: Emit, status_sink: StatusSink | None = None,
                 clock: Callable[[], float] = time.monotonic, spawn: Spawn | None = None, *,
                 queue_max: int = SERVER_QUEUE_MAX, breaker_failures: int = BREAKER_FAILURES,
                 breaker_cool_down: float = BREAKER_COOL_DOWN, job_max_age: float = SERVER_JOB_MAX_AGE) -> None:
        self.settings = settings
        self.emit = emit
        self.status_sink = status_sink
        self.clock = clock
        self.spawn: Spawn = spawn or _daemon_thread
        self.queue_max = queue_max
        self.breaker_failures = breaker_failures
        self.breaker_cool_down = breaker_cool_down
        self.job_max_age = job_max_age
        self._lock = threading.Lock()
        self._configs: dict[tuple[str, str], KioskPrinter] = {}
        self._printers: dict[tuple[str, str], _ServerPrinter] = {}
        self._jobs: dict[tuple[str, str], OrderedDict[str, Job]] = {}
        self._last_status: dict[tuple[str, str], str] = {}
        for hall in settings.halls:
            for dev in hall.devices:
                if dev.kind == "kiosk" or dev.printer:
                    self._configs[(hall.code, dev.name)] = kiosk_printer(hall, dev.name, settings.data_dir)

    def config(self, hall: str, device: str | None) -> KioskPrinter:
        """The printing config of a kiosk; mode none for devices without one (and for staff)."""
        return self._configs.get((hall, device or ""), KioskPrinter("none"))

    def after_commit(self, outcome: Any) -> None:
        """Bus effect: queue each committed ticket's print; the receipt is the response's `print`."""
        for job, payload in outcome.after:
            if job == "print" and outcome.hall is not None:
                outcome.receipts["print"] = self.dispatch(outcome.hall, payload["device"],
                                                          payload["ticket"]).as_json()

    def dispatch(self, hall_code: str, device: str | None, ticket: Mapping[str, Any]) -> PrintResult:
        """Queue a just-committed ticket's print; never raises, never waits for a printer."""
        cfg = self.config(hall_code, device)
        try:
            if cfg.mode == "server":
                return self._enqueue(hall_code, device or "", cfg, ticket)
            if cfg.mode == "agent":
                return self._queue(hall_code, device or "", cfg, ticket)
        except Exception as exc:  # a print bug must not turn a valid ticket into a 500
            log.exception("printing %s for %s/%s failed unexpectedly", ticket.get("number"), hall_code, device)
            return PrintResult("failed", f"printing failed: {exc}")
        return PrintResult("none", "no printer at this kiosk: the ticket is on screen only")

    def _layout(self, hall_code: str, ticket: Mapping[str, Any]) -> TicketPrint:
        return ticket_print(self.settings.hall(hall_code), self.settings.catalog, ticket)

    # ----- mode server: a queue and one worker per printer, behind a circuit breaker -----------
    def _enqueue(self, hall: str, device: str, cfg: KioskPrinter, ticket: Mapping[str, Any]) -> PrintResult:
        # The layout is built here (cheap, and a broken ticket fails at once); rendering and the
        # printer's connection happen in the worker.
        layout = self._layout(hall, ticket)
        job = Job(uuid.uuid4().hex, hall, device, ticket["number"], self.clock(), {})
        dropped: list[_ServerJob] = []
        with self._lock:
            printer = self._printers.get((hall, device))
            if printer is None:
                backend = make_printer(cfg.backend or {"backend": "none"})
                printer = self._printers[(hall, device)] = _ServerPrinter(backend, cfg)
            printer.queue.append(_ServerJob(job, layout))
            while len(printer.queue) > self.queue_max:
                dropped.append(printer.queue.popleft())
            start = not printer.working
            printer.working = True
        for old in dropped:
            log.warning("print queue of %s/%s is full (%d waiting): dropped job for %s",
                        hall, device, self.queue_max, old.job.number)
            self._relay(old.job, "dropped", "too many tickets waiting for this printer")
        if start:
            try:
                self.spawn(lambda: self._work((hall, device)))
            except Exception:
                with self._lock:
                    printer.working = False
                    if printer.queue and printer.queue[-1].job is job:
                        printer.queue.pop()  # not printed later behind the citizen's back
                raise
        return PrintResult("queued", "sent to the printer's queue; the outcome follows as print_status",
                           job.job_id)

    def _work(self, key: tuple[str, str]) -> None:
        """A printer's worker: print its jobs one by one, oldest first, until the queue is empty."""
        printer = self._printers[key]
        done = False
        try:
            while True:
                with self._lock:
                    if not printer.queue:
                        printer.working, done = False, True
                        return
                    item = printer.queue.popleft()
                try:
                    status, detail = self._print_job(printer, item)
                except Exception as exc:  # one bad job must not stop the printer's queue
                    log.exception("printing %s at %s/%s failed unexpectedly", item.job.number, *key)
                    status, detail = "failed", f"printing failed: {exc}"
                self._relay(item.job, status, detail)
        finally:
            if not done:  # killed (shutdown): let the next job start another worker
                with self._lock:
                    printer.working = False

    def _print_job(self, printer: _ServerPrinter, item: _ServerJob) -> tuple[str, str]:
        """Print one job, or say at once why not (too old, breaker open); (status, detail)."""
        job = item.job
        now = self.clock()
        if now - job.created > self.job_max_age:
            log.warning("print job for %s at %s/%s expired in the queue", job.number, job.hall, job.device)
            return "expired", "not printed in time"
        if printer.open_until is not None and now < printer.open_until:
            log.info("ticket %s not sent to %s/%s: breaker open", job.number, job.hall, job.device)
            return "failed", (f"{_FAILURE_WORDS['offline']}: not tried, {printer.failures} jobs failed in a row "
                              f"(next try in {math.ceil(printer.open_until - now)} s; last: {printer.last_error})")
        # Closed, or half-open (the cool-down is over): this job is the trial.
        cfg, backend = printer.cfg, printer.backend
        image = render_ticket(item.layout, width=backend.width, lang=cfg.lang, digits=cfg.digits)
        try:
            backend.print_image(image)
        except PrinterError as exc:
            log.warning("ticket %s not printed at %s/%s: %s", job.number, job.hall, job.device, exc)
            printer.failures += 1
            printer.last_error = f"{_FAILURE_WORDS[exc.kind]}: {exc.message}"[:200]
            if printer.failures >= self.breaker_failures:
                printer.open_until = self.clock() + self.breaker_cool_down
                log.warning("printer of %s/%s failed %d jobs in a row: its jobs fail at once for %g s",
                            job.hall, job.device, printer.failures, self.breaker_cool_down)
            self._device_status(job.hall, job.device, exc.kind, exc.message)
            return "failed", printer.last_error
        if printer.open_until is not None:
            log.info("printer of %s/%s is back: breaker closed", job.hall, job.device)
        printer.failures, printer.open_until, printer.last_error = 0, None, ""
        self._device_status(job.hall, job.device, "online", "")
        return "printed", "printed"

    def _device_status(self, hall: str, device: str, status: str, detail: str) -> None:
        """Tell supervisors when a server-driven printer changes state (not on every ticket)."""
        with self._lock:
            if self.status_sink is None or self._last_status.get((hall, device)) == status:
                return
            self._last_status[(hall, device)] = status
        try:
            self.status_sink(hall, device, status, detail)
        except Exception:  # a status push must not fail the print result
            log.exception("printer status push failed")

    # ----- mode agent ----------------------------------------------------------------------------
    def _queue(self, hall: str, device: str, cfg: KioskPrinter, ticket: Mapping[str, Any]) -> PrintResult:
        job = Job(uuid.uuid4().hex, hall, device, ticket["number"], self.clock(), {})
        job.payload = {"job_id": job.job_id, "hall": hall, "device": device, "number": job.number,
                       "lang": cfg.lang, "digits": cfg.digits,
                       "ticket": ticket_fields(self._layout(hall, ticket))}
        with self._lock:
            queue = self._jobs.setdefault((hall, device), OrderedDict())
            queue[job.job_id] = job
            while len(queue) > MAX_PENDING:
                _, old = queue.popitem(last=False)
                log.warning("print queue of %s/%s is full: dropped job for %s", hall, device, old.number)
        self.emit(ev.PRINT_TICKET, job.payload, ev.printer_room(hall, device))
        return PrintResult("queued", "sent to the kiosk's print agent", job.job_id)

    def pending(self, hall: str, device: str) -> list[dict[str, Any]]:
        """The jobs still waiting for this kiosk's agent, oldest first; stale ones are dropped."""
        now = self.clock()
        with self._lock:
            queue = self._jobs.get((hall, device), OrderedDict())
            stale = [j for j in queue.values() if now - j.created > JOB_MAX_AGE]
            for j in stale:
                del queue[j.job_id]
            jobs = [j.payload for j in queue.values()]
        for j in stale:
            log.warning("print job for %s at %s/%s expired unprinted", j.number, hall, device)
            self._relay(j, "expired", "not printed in time")
        return jobs

    def result(self, rooms: set[str], data: Any) -> dict[str, Any]:
        """An agent's `print_result`: forget a finished job and tell the hall (its kiosk) what happened."""
        if not isinstance(data, dict) or not isinstance(data.get("job_id"), str) \
                or data.get("status") not in RESULT_STATUSES:
            wanted = "|".join(RESULT_STATUSES)
            return {"ok": False, "error": {"code": "invalid_print_result",
                                           "message": f"print_result needs {{job_id, status: {wanted}}}"}}
        detail = str(data.get("detail") or "")[:300]
        with self._lock:
            found = None
            for queue in self._jobs.values():
                job = queue.get(data["job_id"])
                if job is not None:
                    found = (queue, job)
                    break
            if found is None:
                return {"ok": True, "known": False}  # acknowledged before (a resend); nothing to do
            queue, job = found
            if ev.printer_room(job.hall, job.device) not in rooms:
                return {"ok": False, "error": {"code": "forbidden", "message": "join as this kiosk's printer first"}}
            if data["status"] != "failed":
                del queue[job.job_id]
        self._relay(job, data["status"], detail)
        return {"ok": True, "known": True}

    def _relay(self, job: Job, status: str, detail: str) -> None:
        # The hall room: the kiosk page shows its ticket's print state. No token, no personal data.
        try:
            self.emit(ev.PRINT_STATUS, {"job_id": job.job_id, "number": job.number, "device": job.device,
                                        "status": status, "detail": detail}, ev.hall_room(job.hall))
        except Exception:  # a lost push must not stop a printer's queue
            log.exception("print_status push for %s failed", job.number)


def _daemon_thread(fn: Callable[[], None]) -> threading.Thread:
    """The default Spawn: a daemon thread (the app passes the Socket.IO server's background tasks)."""
    t = threading.Thread(target=fn, name="print-worker", daemon=True)
    t.start()
    return t
