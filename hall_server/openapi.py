"""The OpenAPI 3.1 document of /api/v1, served at /api/v1/openapi.json."""
from __future__ import annotations

from typing import Any

_ERR = {"$ref": "#/components/responses/Error"}
_TOO_LARGE = {"$ref": "#/components/responses/TooLarge"}
_THROTTLED = {"$ref": "#/components/responses/Throttled"}
_UNAVAILABLE = {"$ref": "#/components/responses/Unavailable"}
_BEARER = [{"bearer": []}]


def _op(summary: str, ok: dict[str, Any] | None = None, body: dict[str, Any] | None = None,
        auth: bool = True, errors: tuple[int, ...] = (400, 401, 403, 404, 409, 422),
        extra: dict[str, Any] | None = None, reads_body: bool = False) -> dict[str, Any]:
    """One operation. Every one may answer 503 (the database is out of reach: retry after Retry-After);
    one that reads a request body answers 413 beyond the body limit; 429 (throttled) is in `errors`."""
    special = {429: _THROTTLED, 503: _UNAVAILABLE}
    responses = {**(ok or {"200": {"description": "OK"}}),
                 **{str(code): special.get(code, _ERR) for code in errors}}
    if body or reads_body:
        responses["413"] = _TOO_LARGE
    responses.setdefault("503", _UNAVAILABLE)
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if auth:
        op["security"] = _BEARER
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if extra:
        op.update(extra)
    return op


def _obj(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props, "additionalProperties": True}


_S = {"type": "string"}
_I = {"type": "integer"}
_TICKET = {"200": {"description": "ticket", "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/Ticket"}}}}}
_HALL = {"name": "hall", "in": "path", "required": True, "schema": _S}
_WIN = {"name": "number", "in": "path", "required": True, "schema": _I}
_FILE = {"name": "number", "in": "path", "required": True, "schema": {"type": "string", "example": "2026-000123"}}
_RANGE = [{"name": "from", "in": "query", "schema": {"type": "string", "format": "date"},
           "description": "first local day (default today)"},
          {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"},
           "description": "last local day, inclusive (default: from)"}]


_RETRY_AFTER = {"description": "seconds to wait before trying again", "required": True,
                "schema": {"type": "integer", "minimum": 0}}


def _error_schema(code: dict[str, Any]) -> dict[str, Any]:
    """The contract's error body {"error": {"code", "message"}}, with the codes this response may carry."""
    return {"type": "object", "required": ["error"],
            "properties": {"error": _obj(["code", "message"], code=code, message=_S)}}


_SERVICE_CLOSED = {
    "description": "no open window of the hall serves this service right now (code service_closed; the kiosk "
                   "shows the service closed by the same rule, GET /halls/{hall}/services `open`): nothing was "
                   "issued, no number was taken. A paused window (a break) does not count as open. A retry with "
                   "an Idempotency-Key that already has a ticket still gets that ticket (200)",
    "content": {"application/json": {"schema": _error_schema({"enum": ["service_closed"]})}}}


def document() -> dict[str, Any]:
    """Build the document (cheap; built per request so it always matches the code)."""
    win_params = {"parameters": [_HALL, _WIN]}
    issue = _op(
        "Issue a ticket (kiosk device or staff) for a service that an open window serves (409 "
        "service_closed otherwise); Idempotency-Key makes retries return the same ticket",
        ok={"201": {"description": "issued", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Ticket"}}}},
            "200": {"description": "the ticket issued earlier with this Idempotency-Key"}},
        body=_obj(["service"], service=_S, priority={"enum": ["elderly", "disabled", "pregnant",
                                                              "appointment"]},
                  request_file=_S, phone={"type": "string", "pattern": "^[0-9]{8,15}$"}),
        extra={"parameters": [_HALL, {"name": "Idempotency-Key", "in": "header", "schema": _S}]})
    issue["responses"]["409"] = _SERVICE_CLOSED
    paths: dict[str, Any] = {
        "/auth/login": {"post": _op(
            "Log in; returns a bearer token. Failed logins are limited per user and per address (429 while "
            "locked); 503 login_busy when every password-hashing slot is taken", body=_obj(
                ["username", "password"], username=_S, password=_S), auth=False,
            errors=(400, 401, 422, 429, 503))},
        "/auth/logout": {"post": _op("Revoke the caller's token", ok={"204": {"description": "done"}})},
        "/me": {"get": _op("Who the bearer token belongs to")},
        "/halls": {"get": _op("Halls served by this server", auth=False)},
        "/halls/{hall}/sectors": {"get": _op("Sectors of the catalog", auth=False,
                                             extra={"parameters": [_HALL]})},
        "/halls/{hall}/services": {"get": _op(
            "Catalog with waiting count, open windows and estimated wait", auth=False,
            extra={"parameters": [_HALL]})},
        "/halls/{hall}/tickets": {"post": issue},
        "/tickets/{token}": {"get": _op("Public view of a ticket (no personal data)", ok=_TICKET, auth=False,
                                        extra={"parameters": [{"name": "token", "in": "path",
                                                               "required": True, "schema": _S}]})},
        "/tickets/{token}/cancel": {"post": _op("The citizen cancels a waiting ticket", ok=_TICKET, auth=False,
                                                extra={"parameters": [{"name": "token", "in": "path",
                                                                       "required": True, "schema": _S}]})},
        "/halls/{hall}/windows": {"get": _op("Every window with current ticket and waiting list",
                                             extra={"parameters": [_HALL]})},
        "/halls/{hall}/windows/{number}": {"get": _op("One window", extra=win_params)},
        "/halls/{hall}/windows/{number}/call-next": {"post": _op(
            "Call the next ticket by the call policy", ok={**_TICKET, "204": {"description": "nothing waiting"}},
            extra=win_params)},
        "/halls/{hall}/windows/{number}/call": {"post": _op(
            "Call a named ticket out of order (reason required) or resume a parked one", ok=_TICKET,
            body=_obj(["ticket"], ticket=_S, reason=_S), extra=win_params)},
        "/halls/{hall}/windows/{number}/services": {"put": _op(
            "Change the window's services and their order (supervisor)",
            body=_obj(["services"], services={"type": "array", "items": _S}), extra=win_params)},
        "/halls/{hall}/board": {"get": _op("What a display board shows now, with seq", auth=False,
                                           extra={"parameters": [_HALL]})},
        "/halls/{hall}/calls": {"get": _op(
            "The calls after a seq, oldest first, so a board that missed pushes speaks each once", auth=False,
            errors=(404, 422), extra={"parameters": [_HALL, {"name": "since_seq", "in": "query", "required": False,
                                                            "schema": {"type": "integer", "minimum": 0}}]})},
        "/halls/{hall}/board/message": {"put": _op("Set the boards' message line (supervisor)",
                                                   body=_obj([], message=_S), extra={"parameters": [_HALL]})},
        "/halls/{hall}/queue": {"get": _op("Waiting counts and estimates per service, with seq", auth=False,
                                           extra={"parameters": [_HALL]})},
        "/halls/{hall}/stats": {"get": _op("Live indicators (supervisor)", extra={"parameters": [_HALL]})},
        "/halls/{hall}/staffing": {"get": _op(
            "Windows needed per hour to call 80% within the wait target (Erlang C), from the same weekday "
            "of the last 4 weeks (supervisor)",
            ok={"200": {"description": "one row per hour with expected arrivals", "content": {"application/json": {
                "schema": {"type": "array", "items": _obj(
                    ["hour", "expected_arrivals", "windows_needed"], hour=_I,
                    expected_arrivals={"type": "number"}, windows_needed=_I,
                    windows_needed_as_assigned=_I, mean_service_minutes={"type": "number"},
                    offered_load={"type": "number"}, service_level={"type": "number"})}}}}},
            extra={"parameters": [_HALL, {"name": "day", "in": "query", "required": False,
                                          "schema": {"type": "string", "format": "date"}}]})},
        "/halls/{hall}/alerts": {"get": _op(
            "Active alerts (wait over target, no open window, idle window, device offline, late files) "
            "and their raised/cleared history (supervisor)", extra={"parameters": [_HALL]})},
        "/halls/{hall}/reports": {"get": _op(
            "Report for local days from..to: per service, window, clerk, hour and day; waits (nearest-rank "
            "p90), service times, share within target, request files; format=csv for a spreadsheet "
            "(supervisor)",
            ok={"200": {"description": "the report", "content": {
                "application/json": {"schema": {"type": "object"}}, "text/csv": {"schema": _S}}}},
            extra={"parameters": [_HALL] + _RANGE + [
                {"name": "format", "in": "query", "schema": {"enum": ["json", "csv"]}}]})},
        "/reports": {"get": _op(
            "The governorate view: every hall of this server with the same indicators, worst first "
            "(supervisor, admin)", extra={"parameters": _RANGE})},
        "/halls/{hall}/queue/move": {"post": _op(
            "Move a waiting ticket to another service; it keeps its place (supervisor)", ok=_TICKET,
            body=_obj(["ticket", "service"], ticket=_S, service=_S), extra={"parameters": [_HALL]})},
        "/halls/{hall}/files": {
            "post": _op("Open a request file (clerk); `window` links the ticket being served", body=_obj(
                ["service", "citizen_name", "national_id"], service=_S, citizen_name=_S, national_id=_S,
                mobile=_S, documents_received={"type": "array", "items": _I}, window=_I),
                ok={"201": {"description": "the file, national ID masked"}}, extra={"parameters": [_HALL]}),
            "get": _op("Open files, oldest due first (?department=&status=&late=1)",
                       extra={"parameters": [_HALL]})},
        "/halls/{hall}/files/{number}": {"get": _op(
            "A file with its history; ?reveal=national_id shows the full ID and records the view",
            extra={"parameters": [_HALL, _FILE]})},
        "/halls/{hall}/files/{number}/documents": {"post": _op(
            "Record documents received", body=_obj(["received"], received={"type": "array", "items": _I}),
            extra={"parameters": [_HALL, _FILE]})},
        "/halls/{hall}/files/{number}/status": {"post": _op(
            "Move the file along received > under_review > needs_documents > ready > delivered | rejected",
            body=_obj(["status"], status=_S, reason=_S, department=_S), extra={"parameters": [_HALL, _FILE]})},
        "/halls/{hall}/files/{number}/move": {"post": _op(
            "Send the file to another department", body=_obj(["department"], department=_S),
            extra={"parameters": [_HALL, _FILE]})},
        "/halls/{hall}/files/{number}/route": {"get": _op(
            "The service a citizen returning with this file queues for (kiosk)", extra={"parameters": [_HALL, _FILE]})},
        "/halls/{hall}/calls/{call_id}.wav": {"get": _op(
            "The call's announcement (chime + Arabic voice) as a WAV, for boards", auth=False,
            ok={"200": {"description": "audio/wav", "content": {"audio/wav": {}}}}, errors=(404,),
            extra={"parameters": [_HALL, {"name": "call_id", "in": "path", "required": True, "schema": _I}]})},
        "/halls/{hall}/departments": {"get": _op("Back-office departments", extra={"parameters": [_HALL]})},
        "/halls/{hall}/audit": {"get": _op(
            "Search the hall's audit trail by person, ticket, file and time (supervisor)",
            extra={"parameters": [_HALL] + [{"name": name, "in": "query", "required": False, "schema": _S}
                                            for name in ("actor", "ticket", "file")] + [
                {"name": name, "in": "query", "required": False, "schema": {"type": "string", "format": "date-time"}}
                for name in ("since", "until")]})},
        "/halls/{hall}/inquiry": {"post": _op(
            "Citizen inquiry: file number + last four digits of the national ID or mobile -> status and due date",
            body=_obj(["file", "last4"], file=_S, last4=_S), auth=False, errors=(400, 404, 422, 429),
            extra={"parameters": [_HALL]})},
    }
    for action, summary in (("recall", "Call the current ticket again (past the limit: no-show)"),
                            ("start", "Start serving the current ticket"),
                            ("complete", "Complete the current ticket with an outcome"),
                            ("no-show", "Mark the current ticket a no-show"),
                            ("park", "Put the current ticket aside"),
                            ("transfer", "Transfer the current (or a named) ticket to a service or a window"),
                            ("sign-in", "Clerk signs in to the window"), ("sign-out", "Clerk signs out"),
                            ("pause", "Pause: the window takes no calls"), ("resume", "Resume after a pause"),
                            ("open", "Open the window (supervisor)"), ("close", "Close the window (supervisor)")):
        body = None
        if action == "complete":
            body = _obj([], outcome={"enum": ["served", "referred", "incomplete_documents", "rejected",
                                              "info_only"]})
        elif action == "transfer":
            body = _obj([], service=_S, window=_I, ticket=_S)
        paths[f"/halls/{{hall}}/windows/{{number}}/{action}"] = {"post": _op(summary, body=body, extra=win_params,
                                                                            reads_body=True)}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Hall queue system API", "version": "1",
                 "description": "Tickets, windows, boards and live indicators of one-stop-shop service halls. "
                                "Real-time events: Socket.IO, see DESIGN.md."},
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "Error": {"description": "error", "content": {"application/json": {"schema": _error_schema(_S)}}},
                "TooLarge": {"description": "the request body is larger than the server takes (64 KiB)",
                             "content": {"application/json": {"schema": _error_schema(_S)}}},
                "Throttled": {"description": "too many failed attempts: locked out; retry after Retry-After seconds",
                              "headers": {"Retry-After": _RETRY_AFTER},
                              "content": {"application/json": {"schema": _error_schema(_S)}}},
                "Unavailable": {"description": "the database cannot be reached right now (code unavailable), or on "
                                               "/auth/login every password-hashing slot is taken (code "
                                               "login_busy); retry after Retry-After seconds",
                                "headers": {"Retry-After": _RETRY_AFTER},
                                "content": {"application/json": {"schema": _error_schema(
                                    {"enum": ["unavailable", "login_busy"]})}}},
            },
            "schemas": {"Ticket": _obj(
                ["id", "number", "service", "status", "token", "track_url", "position", "eta_seconds",
                 "issued_at", "window"],
                id=_I, number=_S, service=_S, status={"enum": ["waiting", "called", "serving", "parked",
                                                               "done", "no_show", "cancelled"]},
                token=_S, track_url=_S, position={"type": ["integer", "null"]},
                print=_obj(["status"], status={"enum": ["printed", "queued", "failed", "none", "not_reprinted"]},
                           message=_S, job_id=_S),
                eta_seconds={"type": ["integer", "null"]},
                eta_range_seconds={"type": ["array", "null"], "items": _I, "minItems": 2, "maxItems": 2},
                next={"type": "boolean"}, issued_at=_S, window={"type": ["integer", "null"]})},
        },
    }
