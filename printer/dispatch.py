"""Print dispatch: once a ticket is committed, print it the way its kiosk's config says.

Each kiosk device in a hall file may carry `printer = {mode = ..., ...}`:
  mode "server": the hall server prints itself (network printer on TCP 9100, or file, usb, serial
                 on the server's machine), right after the commit, with a short timeout;
  mode "agent":  a `hall-print-agent` on the kiosk PC prints; the job goes to its Socket.IO room
                 and waits in memory until the agent acknowledges it with `print_result`;
  mode "none":   no printer; the kiosk shows the ticket and its QR on screen.
A printer failure never undoes a ticket: the caller gets a result to show, nothing is raised.
"""
from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Mapping

from config import Catalog, HallDef, Settings
from config.loader import ConfigError
from hall_server import events as ev
from printer.backends import PrinterError, TicketPrinter, make_printer, profile_width
from printer.layout import TicketPrint, render_ticket

log = logging.getLogger(__name__)

MODES = ("server", "agent", "none")
SERVER_TIMEOUT = 3.0      # seconds: the kiosk waits for this at most before it hears "failed"
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
StatusSink = Callable[[str, str, str, str], None]  # hall, device, status, detail


@dataclass(frozen=True)
class PrintResult:
    """What happened to a ticket's print, as the kiosk is told in the issue response."""

    status: str  # printed | queued | failed | none | not_reprinted
    message: str

    def as_json(self) -> dict[str, str]:
        """The `print` field of the issue response."""
        return {"status": self.status, "message": self.message}


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
    """A print job waiting for its kiosk's agent."""

    job_id: str
    hall: str
    device: str
    number: str
    created: float
    payload: dict[str, Any]


class PrintDispatcher:
    """Prints committed tickets per kiosk config and keeps the agents' jobs until acknowledged."""

    def __init__(self, settings: Settings, emit: Emit, status_sink: StatusSink | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.emit = emit
        self.status_sink = status_sink
        self.clock = clock
        self._lock = threading.Lock()
        self._configs: dict[tuple[str, str], KioskPrinter] = {}
        self._printers: dict[tuple[str, str], TicketPrinter] = {}
        self._jobs: dict[tuple[str, str], OrderedDict[str, Job]] = {}
        self._last_status: dict[tuple[str, str], str] = {}
        for hall in settings.halls:
            for dev in hall.devices:
                if dev.kind == "kiosk" or dev.printer:
                    self._configs[(hall.code, dev.name)] = kiosk_printer(hall, dev.name, settings.data_dir)

    def config(self, hall: str, device: str | None) -> KioskPrinter:
        """The printing config of a kiosk; mode none for devices without one (and for staff)."""
        return self._configs.get((hall, device or ""), KioskPrinter("none"))

    def dispatch(self, hall_code: str, device: str | None, ticket: Mapping[str, Any]) -> PrintResult:
        """Print (or queue) a just-committed ticket; never raises: the ticket stands either way."""
        cfg = self.config(hall_code, device)
        try:
            if cfg.mode == "server":
                return self._print_here(hall_code, device or "", cfg, ticket)
            if cfg.mode == "agent":
                return self._queue(hall_code, device or "", cfg, ticket)
        except Exception as exc:  # noqa: BLE001 - a print bug must not turn a valid ticket into a 500
            log.exception("printing %s for %s/%s failed unexpectedly", ticket.get("number"), hall_code, device)
            return PrintResult("failed", f"printing failed: {exc}")
        return PrintResult("none", "no printer at this kiosk: the ticket is on screen only")

    def _layout(self, hall_code: str, ticket: Mapping[str, Any]) -> TicketPrint:
        return ticket_print(self.settings.hall(hall_code), self.settings.catalog, ticket)

    def _print_here(self, hall: str, device: str, cfg: KioskPrinter, ticket: Mapping[str, Any]) -> PrintResult:
        with self._lock:
            printer = self._printers.get((hall, device))
            if printer is None:
                printer = self._printers[(hall, device)] = make_printer(cfg.backend or {"backend": "none"})
        image = render_ticket(self._layout(hall, ticket), width=printer.width, lang=cfg.lang, digits=cfg.digits)
        try:
            printer.print_image(image)
        except PrinterError as exc:
            log.warning("ticket %s not printed at %s/%s: %s", ticket["number"], hall, device, exc)
            self._device_status(hall, device, exc.kind, exc.message)
            return PrintResult("failed", f"{_FAILURE_WORDS[exc.kind]}: {exc.message}")
        self._device_status(hall, device, "online", "")
        return PrintResult("printed", "printed")

    def _device_status(self, hall: str, device: str, status: str, detail: str) -> None:
        """Tell supervisors when a server-driven printer changes state (not on every ticket)."""
        if self.status_sink is None or self._last_status.get((hall, device)) == status:
            return
        self._last_status[(hall, device)] = status
        try:
            self.status_sink(hall, device, status, detail)
        except Exception:  # noqa: BLE001 - a status push must not fail the print result
            log.exception("printer status push failed")

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
        return PrintResult("queued", "sent to the kiosk's print agent")

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
            for (hall, device), queue in self._jobs.items():
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
        self.emit(ev.PRINT_STATUS, {"job_id": job.job_id, "number": job.number, "device": job.device,
                                    "status": status, "detail": detail}, ev.hall_room(job.hall))


def dispatch(hall: str, device_name: str | None, ticket: Mapping[str, Any]) -> dict[str, str]:
    """Print a committed ticket with the running app's dispatcher; the issue response's `print` field."""
    from flask import current_app
    dispatcher: PrintDispatcher | None = current_app.extensions.get("hall_print")
    if dispatcher is None:
        return PrintResult("none", "printing is not set up on this server").as_json()
    return dispatcher.dispatch(hall, device_name, ticket).as_json()
