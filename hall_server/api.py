"""The REST API under /api/v1 (contract in DESIGN.md); handlers are thin over HallApp."""
from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from hall_server.application import Actor, HallApp, audit
from hall_server.application.auth import Auth, LoginBusy, Unauthorized, require
from hall_server.application.files import FileDesk
from hall_server.application.limits import TooManyAttempts, client_address
from hall_server.current import runtime
from hall_server.domain.errors import DomainError, InvalidInput
from hall_server.web_guard import (
    BadRequest,
    bearer_token,
    db_unavailable,
    fold_digits,
    header_text,
    load_json,
    non_ascii_digits,
    parse_day,
    parse_instant,
    parse_int,
    unavailable_response,
)
from printer.dispatch import NO_PRINTER, NOT_REPRINTED

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api/v1")

STAFF = ("clerk", "supervisor", "admin")
SUPERVISORS = ("supervisor", "admin")


def hall_app() -> HallApp:
    """The application object of the running server."""
    return runtime().hall


def files() -> FileDesk:
    """The request-file desk of the running server."""
    return runtime().files


def auth() -> Auth:
    return runtime().auth


def actor() -> Actor | None:
    """The caller behind the Authorization header, if any."""
    if "actor" not in g:
        # a token that is not printable ASCII is no token of ours: 401 like any wrong one
        g.actor = auth().resolve(bearer_token(request.headers.get("Authorization")))
    return g.actor


def error(status: int, code: str, message: str) -> tuple[Response, int]:
    """The contract's error body."""
    return jsonify({"error": {"code": code, "message": message}}), status


def body() -> dict[str, Any]:
    """The JSON object sent, or an empty one when there is no body; 400 for anything else."""
    raw = request.get_data(cache=True)  # at most MAX_CONTENT_LENGTH (413 beyond)
    if not raw:
        return {}
    data = load_json(raw) if request.is_json else None  # bounded depth, clean strings, safe numbers
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object", "invalid_json")
    return data


def field(data: dict[str, Any], name: str, kind: type | tuple[type, ...], required: bool = False,
          max_len: int = 200, lo: int = -2**31, hi: int = 2**31 - 1) -> Any:
    """One typed field of the body, with a 422 naming it when it is wrong (integers within lo..hi)."""
    if name not in data or data[name] is None:
        if required:
            raise InvalidInput(f"{name} is required", "missing_field")
        return None
    value = data[name]
    if isinstance(value, bool) and kind in (int, (int,)):
        raise InvalidInput(f"{name} must be {getattr(kind, '__name__', kind)}", "invalid_field")
    if not isinstance(value, kind):
        raise InvalidInput(f"{name} must be {getattr(kind, '__name__', str(kind))}", "invalid_field")
    if isinstance(value, str) and (len(value) > max_len or (required and not value.strip())):
        raise InvalidInput(f"{name} must be 1 to {max_len} characters", "invalid_field")
    if isinstance(value, int) and not isinstance(value, bool) and not lo <= value <= hi:
        raise InvalidInput(f"{name} must be from {lo} to {hi}", "invalid_field")
    return value


def digits_field(data: dict[str, Any], name: str, code: str, max_len: int, required: bool = False) -> str | None:
    """A field of digits (phone, mobile, national ID): Eastern Arabic digits folded to ASCII, other digits refused.

    "¹²³" or "१२३" pass `str.isdigit()`; they are no phone number and must not be stored.
    """
    value = field(data, name, str, required=required, max_len=max_len)
    if value is None:
        return None
    value = fold_digits(value)
    if non_ascii_digits(value):
        raise InvalidInput(f"{name} must be written with the digits 0-9 or ٠-٩", code)
    return value


def window_field(data: dict[str, Any], name: str) -> int | None:
    """A window number in the body (1 to 999), or None."""
    value = field(data, name, int, lo=-2**53, hi=2**53)
    if value is not None and not 1 <= value <= 999:
        raise InvalidInput(f"{name} must be a window number from 1 to 999", "invalid_window")
    return value


def idempotency_key() -> str | None:
    """The Idempotency-Key header: printable ASCII or 400 (its length is the use case's to check)."""
    raw = request.headers.get("Idempotency-Key")
    if raw is None:
        return None
    key = header_text(raw)
    if key is None:
        raise BadRequest("Idempotency-Key must be printable ASCII", "invalid_idempotency_key")
    return key


def register_errors(app: Any) -> None:
    """Every error is JSON under /api; domain errors map to their 4xx; anything else is a bug."""

    @app.errorhandler(DomainError)
    def _domain(exc: DomainError):
        return error(exc.status, exc.code, exc.message)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if request.path.startswith("/api/"):
            return error(exc.code or 500, (exc.name or "error").lower().replace(" ", "_"), exc.description or "")
        return exc

    @app.errorhandler(Exception)
    def _bug(exc: Exception):
        if db_unavailable(exc):  # the database is down or out of reach: retry later, not a bug
            log.warning("database unavailable on %s %s: %s", request.method, request.path, exc)
            return unavailable_response()
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error(500, "internal", "internal error (a bug): it has been logged")


# ----- auth ------------------------------------------------------------------------------
@bp.post("/auth/login")
def login():
    data = body()
    username = field(data, "username", str, required=True, max_len=60)
    password = field(data, "password", str, required=True, max_len=200)
    try:
        token, user = auth().login(username, password, address=_client_address())
    except (TooManyAttempts, LoginBusy) as exc:  # locked out, or every hashing slot taken
        return _retry_later(exc)
    return jsonify({"token": token, "user": user})


def _client_address() -> str:
    """The caller's address for per-address limits (X-Forwarded-For only from this machine's proxy)."""
    return client_address(request.remote_addr, request.headers.get("X-Forwarded-For"))


def _retry_later(exc: TooManyAttempts | LoginBusy) -> tuple[Response, int]:
    """429 (or 503) with the contract's error body and a Retry-After header in seconds."""
    resp, status = error(exc.status, exc.code, exc.message)
    resp.headers["Retry-After"] = str(exc.retry_after)
    return resp, status


@bp.post("/auth/logout")
def logout():
    token = bearer_token(request.headers.get("Authorization"))
    who = actor() if token is not None else None
    if token is None or who is None:
        raise Unauthorized("a bearer token is required")
    auth().revoke(token, who)
    return "", 204


@bp.get("/me")
def me():
    a = require(actor(), ("clerk", "supervisor", "admin", "back_office") + ("kiosk", "board", "announcer", "printer"))
    return jsonify({"kind": a.kind, "name": a.name, "role": a.role, "hall": a.hall,
                    "user_id": a.user_id, "windows": list(a.windows) if a.windows is not None else None})


# ----- catalog, tickets -------------------------------------------------------------------
@bp.get("/halls")
def list_halls():
    return jsonify([{"code": h.code, "name": {"ar": h.name_ar, "en": h.name_en}, "kind": h.kind,
                     "governorate": {"ar": h.governorate_ar, "en": h.governorate_en},
                     "windows": [w.number for w in h.windows],
                     "priority_classes": list(h.queue.priority_classes),
                     "recall_limit": h.queue.recall_limit,
                     "wait_target_minutes": h.queue.wait_target_minutes}
                    for h in hall_app().settings.halls])


@bp.get("/halls/<hall>/services")
def services(hall: str):
    return jsonify(hall_app().services_overview(hall))


@bp.get("/halls/<hall>/sectors")
def sectors(hall: str):
    hall_app().hall(hall)
    return jsonify([{"code": s.code, "name": {"ar": s.name_ar, "en": s.name_en}}
                    for s in hall_app().settings.catalog.sectors])


@bp.post("/halls/<hall>/tickets")
def issue(hall: str):
    who = require(actor(), ("kiosk",) + STAFF, hall)
    data = body()
    key = idempotency_key()
    request_file = field(data, "request_file", str, max_len=32)
    service = field(data, "service", str, required=request_file is None, max_len=40)
    if service is None:  # a returning citizen: the file decides the queue
        route = files().route(hall, request_file)
        service, request_file = route["service"], route["file"]
    ticket, created = hall_app().issue_ticket(
        hall, service,
        priority=field(data, "priority", str, max_len=20),
        request_file=request_file,
        phone=digits_field(data, "phone", "invalid_phone", max_len=15),
        idempotency_key=key, actor=who)
    # Printing is queued after the commit: it never fails or delays the request (the outcome follows
    # as `print_status`, matched by print.job_id); a retried key never reprints.
    printed = ticket.pop("print", NO_PRINTER.as_json()) if created else NOT_REPRINTED.as_json()
    resp = jsonify({**ticket, "print": printed})
    resp.headers["Location"] = f"/api/v1/tickets/{ticket['token']}"
    return resp, 201 if created else 200


@bp.get("/tickets/<token>")
def ticket(token: str):
    return jsonify(hall_app().ticket_by_token(token))


@bp.post("/tickets/<token>/cancel")
def cancel(token: str):
    return jsonify(hall_app().cancel(token))


# ----- windows ------------------------------------------------------------------------------
def _n(number: str) -> int:
    """A window number from the path: 0-9 (or ٠-٩) digits, 1 to 999."""
    n = parse_int(number, 1, 999)
    if n is None:
        raise InvalidInput("window must be a number from 1 to 999", "invalid_window")
    return n


@bp.get("/halls/<hall>/windows")
def windows_list(hall: str):
    require(actor(), STAFF, hall)
    h = hall_app().hall(hall)
    return jsonify([hall_app().window_view(hall, w.number) for w in h.windows])


@bp.get("/halls/<hall>/windows/<number>")
def window_get(hall: str, number: str):
    require(actor(), STAFF, hall)
    return jsonify(hall_app().window_view(hall, _n(number)))


@bp.post("/halls/<hall>/windows/<number>/call-next")
def call_next(hall: str, number: str):
    who = require(actor(), STAFF, hall)
    ticket = hall_app().call_next(hall, _n(number), who)
    if ticket is None:
        return "", 204
    return jsonify(ticket)


@bp.post("/halls/<hall>/windows/<number>/call")
def call_specific(hall: str, number: str):
    who = require(actor(), STAFF, hall)
    data = body()
    return jsonify(hall_app().call_specific(hall, _n(number), field(data, "ticket", str, required=True, max_len=16),
                                            field(data, "reason", str, max_len=300), who))


@bp.post("/halls/<hall>/windows/<number>/<action>")
def window_action(hall: str, number: str, action: str):
    who = require(actor(), STAFF, hall)
    app, n = hall_app(), _n(number)
    data = body()
    if action == "recall":
        return jsonify(app.recall(hall, n, who))
    if action == "start":
        return jsonify(app.start(hall, n, who))
    if action == "complete":
        return jsonify(app.complete(hall, n, who, field(data, "outcome", str, max_len=24) or "served"))
    if action == "no-show":
        return jsonify(app.no_show(hall, n, who))
    if action == "park":
        return jsonify(app.park(hall, n, who))
    if action == "transfer":
        return jsonify(app.transfer(hall, n, who, service=field(data, "service", str, max_len=40),
                                    to_window=window_field(data, "window"),
                                    ticket_ref=field(data, "ticket", str, max_len=16)))
    if action in ("sign-in", "sign-out", "pause", "resume"):
        return jsonify(app.set_window_state(hall, n, action.replace("-", "_"), who))
    if action in ("open", "close"):
        require(who, SUPERVISORS)
        return jsonify(app.set_window_state(hall, n, action, who))
    return error(404, "not_found", f"no window action {action!r}")


@bp.put("/halls/<hall>/windows/<number>/services")
def window_services(hall: str, number: str):
    who = require(actor(), SUPERVISORS, hall)
    data = body()
    codes = field(data, "services", list, required=True)
    if not all(isinstance(c, str) for c in codes):
        raise InvalidInput("services must be a list of service codes", "invalid_field")
    return jsonify(hall_app().set_window_services(hall, _n(number), codes, who))


# ----- boards and supervisors -------------------------------------------------------------
@bp.get("/halls/<hall>/board")
def board(hall: str):
    return jsonify(hall_app().board(hall))


@bp.get("/halls/<hall>/calls")
def calls_since(hall: str):
    """Public like the board: the calls after ?since_seq=N, so a board that missed pushes speaks each once."""
    raw = request.args.get("since_seq", "0")
    if not raw.isdigit() or len(raw) > 12:
        raise InvalidInput("since_seq must be a whole number", "invalid_field")
    return jsonify(hall_app().views.calls_since(hall, int(raw)))


@bp.get("/halls/<hall>/queue")
def queue(hall: str):
    return jsonify(hall_app().queue_state(hall))


@bp.put("/halls/<hall>/board/message")
def board_message(hall: str):
    who = require(actor(), SUPERVISORS, hall)
    hall_app().set_board_message(hall, field(body(), "message", str, max_len=200), who)
    return jsonify(hall_app().board(hall))


@bp.get("/halls/<hall>/stats")
def stats(hall: str):
    require(actor(), SUPERVISORS, hall)
    return jsonify(hall_app().stats(hall))


@bp.get("/halls/<hall>/staffing")
def staffing(hall: str):
    """Windows needed per hour on ?day=YYYY-MM-DD (default tomorrow), from history (supervisor)."""
    require(actor(), SUPERVISORS, hall)
    day = parse_day(request.args.get("day"), "day", "invalid_field")
    return jsonify(hall_app().staffing_plan(hall, day)["hours"])


@bp.get("/halls/<hall>/alerts")
def alerts(hall: str):
    """Active alerts of the hall and their raised/cleared history (supervisor)."""
    require(actor(), SUPERVISORS, hall)
    hall_app().hall(hall)
    return jsonify(runtime().alerts.current(hall))


def _report_format() -> str:
    fmt = request.args.get("format") or "json"
    if fmt not in ("json", "csv"):
        raise InvalidInput("format must be json or csv", "invalid_format")
    return fmt


@bp.get("/halls/<hall>/reports")
def hall_report(hall: str):
    """A hall's report for ?from=YYYY-MM-DD&to=YYYY-MM-DD, as JSON or &format=csv (supervisor)."""
    from hall_server.application.reports import parse_range, to_csv
    require(actor(), SUPERVISORS, hall)
    fmt = _report_format()
    reports = runtime().reports
    day_from, day_to = parse_range(request.args, reports.today(hall))
    data = reports.hall_report(hall, day_from, day_to)
    if fmt == "csv":
        name = f"report-{hall}-{day_from.isoformat()}-{day_to.isoformat()}.csv"
        return Response(to_csv(data), mimetype="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return jsonify(data)


@bp.get("/reports")
def governorate_report():
    """Every hall of the server with the same indicators, worst first (supervisor, admin)."""
    from hall_server.application.reports import parse_range
    who = require(actor(), SUPERVISORS)
    reports = runtime().reports
    day_from, day_to = parse_range(request.args, reports.today(hall_app().settings.halls[0].code))
    data = reports.governorate(day_from, day_to)
    if who.halls is not None:  # a supervisor whose account carries halls sees those, not the governorate's
        data["halls"] = [h for h in data["halls"] if who.acts_in(h["hall"])]
        for rank, h in enumerate(data["halls"], 1):
            h["rank"] = rank
    return jsonify(data)


@bp.post("/halls/<hall>/queue/move")
def queue_move(hall: str):
    """Move a waiting ticket to another service; it keeps its place (supervisor)."""
    who = require(actor(), SUPERVISORS, hall)
    data = body()
    return jsonify(hall_app().move_waiting(hall, field(data, "ticket", str, required=True, max_len=16),
                                           field(data, "service", str, required=True, max_len=40), who))


# ----- request files -----------------------------------------------------------------------
FILE_STAFF = ("clerk", "back_office", "supervisor", "admin")


def _int_list(data: dict[str, Any], name: str) -> list[int]:
    value = field(data, name, list) or []
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        raise InvalidInput(f"{name} must be a list of document indexes", "invalid_field")
    return value


@bp.post("/halls/<hall>/files")
def file_create(hall: str):
    who = require(actor(), STAFF, hall)
    data = body()
    window = window_field(data, "window")
    result = files().create(
        hall, field(data, "service", str, required=True, max_len=40),
        field(data, "citizen_name", str, required=True, max_len=120),
        digits_field(data, "national_id", "invalid_national_id", max_len=20, required=True),
        digits_field(data, "mobile", "invalid_mobile", max_len=20), _int_list(data, "documents_received"), who,
        window=window)
    return jsonify(result), 201


@bp.get("/halls/<hall>/files")
def file_list(hall: str):
    who = require(actor(), FILE_STAFF, hall)
    department = request.args.get("department") or None
    if who.role == "back_office" and who.departments is not None:
        if department is None and len(who.departments) == 1:
            department = who.departments[0]
        if department not in who.departments:
            raise InvalidInput("choose one of your departments", "invalid_department")
    return jsonify(files().list(hall, department, request.args.get("status") or None,
                                request.args.get("late") in ("1", "true")))


@bp.get("/halls/<hall>/files/<number>")
def file_get(hall: str, number: str):
    who = require(actor(), FILE_STAFF, hall)
    return jsonify(files().get(hall, number, who, reveal=request.args.get("reveal") == "national_id"))


@bp.post("/halls/<hall>/files/<number>/documents")
def file_documents(hall: str, number: str):
    who = require(actor(), FILE_STAFF, hall)
    return jsonify(files().record_documents(hall, number, _int_list(body(), "received"), who))


@bp.post("/halls/<hall>/files/<number>/status")
def file_status(hall: str, number: str):
    who = require(actor(), FILE_STAFF, hall)
    data = body()
    return jsonify(files().change_status(hall, number, field(data, "status", str, required=True, max_len=20), who,
                                         reason=field(data, "reason", str, max_len=500),
                                         department=field(data, "department", str, max_len=40)))


@bp.post("/halls/<hall>/files/<number>/move")
def file_move(hall: str, number: str):
    who = require(actor(), FILE_STAFF, hall)
    return jsonify(files().move(hall, number, field(body(), "department", str, required=True, max_len=40), who))


@bp.get("/halls/<hall>/files/<number>/route")
def file_route(hall: str, number: str):
    require(actor(), ("kiosk",) + STAFF, hall)
    return jsonify(files().route(hall, number))


@bp.post("/halls/<hall>/inquiry")
def inquiry(hall: str):
    """Citizens without staff: file number and the last four digits of the national ID or mobile."""
    data = body()
    try:
        return jsonify(files().inquiry(hall, field(data, "file", str, required=True, max_len=32),
                                       digits_field(data, "last4", "invalid_last4", max_len=8, required=True),
                                       address=_client_address()))
    except TooManyAttempts as exc:
        return _retry_later(exc)


@bp.get("/halls/<hall>/departments")
def departments(hall: str):
    require(actor(), FILE_STAFF, hall)
    return jsonify([{"code": s.code, "name": {"ar": s.name_ar, "en": s.name_en}}
                    for s in hall_app().settings.catalog.sectors])


@bp.get("/halls/<hall>/audit")
def audit_search(hall: str):
    """Supervisors search the audit trail by person, ticket, file and time."""
    require(actor(), SUPERVISORS, hall)
    args = request.args

    def when(name: str):
        return parse_instant(args.get(name), name, hall_app().hall(hall).tz)

    return jsonify(audit.search(hall_app().engine, chain=hall, actor=args.get("actor") or None,
                                ticket=args.get("ticket") or None, file=args.get("file") or None,
                                since=when("since"), until=when("until")))


@bp.get("/openapi.json")
def openapi():
    from hall_server.openapi import document
    return jsonify(document())
