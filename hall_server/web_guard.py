"""Input hardening for every request: one way to read numbers, days, instants and headers; bounded JSON
bodies; the security headers on every response; an unreachable database as 503 instead of a bug.

Everything a client sends is read here or through these helpers, so that no input reaches a 500:
`str.isdigit()` accepts superscripts that `int()` then refuses, `date` arithmetic overflows at year 1
and 9999, Werkzeug hands header values over as latin-1 text (anything at all), and `json.loads`
recurses once per nesting level.
"""
from __future__ import annotations

import json
import logging
import re
from datetime import datetime, tzinfo
from typing import Any

from flask import Flask, Response, jsonify, request

from hall_server.domain.errors import DomainError, InvalidInput
from hall_server.domain.reports import DAY_MAX, DAY_MIN, parse_day  # noqa: F401 - parse_day: the one date parser, for the API
from hall_server.storage import db_unavailable  # noqa: F401 - the API's import

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024      # the largest request body (413 beyond); ours are well under 2 KiB
MAX_JSON_DEPTH = 32             # nesting of arrays/objects in a body; ours use 2
MAX_JSON_INT = 2**53            # JSON's safe integers; no field needs more, SQLite/PostgreSQL overflow later
RETRY_AFTER_SECONDS = 3         # told to clients when the database cannot be reached

# Eastern Arabic and Persian digits are what an Arabic keyboard types: folded to ASCII.
_EASTERN = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_JSON_SPECIAL = re.compile(r'[\[\]{}"\\]')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# What the pages need: their own scripts, styles (some inline style attributes), images, fonts, audio
# and the Socket.IO connection, all from this origin. No inline script anywhere (JSON data blocks are
# not scripts), no plugins, no framing.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))


class BadRequest(DomainError):
    """The request cannot be read at all (not JSON, not an object, nested too deep)."""

    code = "bad_request"
    status = 400


# ----- numbers, days, instants ------------------------------------------------------------------
def fold_digits(text: str) -> str:
    """Eastern Arabic and Persian digits to ASCII; everything else unchanged."""
    return text.translate(_EASTERN)


def parse_int(raw: str | None, lo: int, hi: int, eastern: bool = True) -> int | None:
    """A whole number lo..hi written in ASCII digits (Eastern Arabic folded when `eastern`); None otherwise.

    Only 0-9: `str.isdigit()` also says yes to "²" or "७", which `int()` refuses or reads.
    """
    if raw is None:
        return None
    text = fold_digits(raw) if eastern else raw
    if not 0 < len(text) <= 18 or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if lo <= value <= hi else None


def non_ascii_digits(text: str) -> bool:
    """True when the text has a digit-like character other than 0-9 (superscripts, other scripts)."""
    return any(ch.isnumeric() and not "0" <= ch <= "9" for ch in text)



def parse_instant(raw: str | None, name: str, tz: tzinfo, code: str = "invalid_field") -> datetime | None:
    """An ISO date or date-time within DAY_MIN..DAY_MAX (naive: in `tz`), None when absent; 422 otherwise."""
    if raw is None or raw == "":
        return None
    try:
        if len(raw) > 40 or not raw.isascii():
            raise ValueError(raw)
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO date or date-time", code) from None
    if not DAY_MIN <= value.date() <= DAY_MAX:
        raise InvalidInput(f"{name} must be between {DAY_MIN} and {DAY_MAX}", code)
    return value if value.tzinfo else value.replace(tzinfo=tz)


# ----- headers ------------------------------------------------------------------------------------
def header_text(value: str | None) -> str | None:
    """A header value if it is printable ASCII, else None; never raises.

    Werkzeug decodes header bytes as latin-1, so a value may hold any character; a test client or
    another server may even hand over lone surrogates that cannot be encoded at all.
    """
    if value is None:
        return None
    if not value.isascii() or not value.isprintable():
        return None
    return value


def bearer_token(header: str | None) -> str | None:
    """The token of `Authorization: Bearer <token>`; None when absent or not printable ASCII (a wrong token)."""
    text = header_text(header)
    if text is None or text[:7].lower() != "bearer ":
        return None
    return text[7:].strip() or None


# ----- JSON bodies --------------------------------------------------------------------------------
def _depth_over(text: str, limit: int) -> bool:
    """Whether arrays/objects nest deeper than `limit`, scanned in one pass without recursion."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth, in_string, skip = 0, False, -1
    for m in _JSON_SPECIAL.finditer(text):
        i = m.start()
        if i == skip:
            continue
        ch = text[i]
        if in_string:
            if ch == "\\":
                skip = i + 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(text)
    return value


def _check_values(data: Any) -> None:
    """Every string valid Unicode without NUL, every integer a safe one (iterative: no recursion)."""
    stack: list[tuple[Any, str]] = [(data, "body")]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str):
            if "\x00" in value or not _encodable(value):
                raise BadRequest(f"{where}: strings must be Unicode text without NUL characters", "invalid_json")
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int):
            if not -MAX_JSON_INT <= value <= MAX_JSON_INT:
                raise InvalidInput(f"{where}: a number out of range", "invalid_field")
        elif isinstance(value, dict):
            for k, v in value.items():
                name = k[:40] if _encodable(k) else "?"
                stack.append((k, where))
                stack.append((v, name))
        elif isinstance(value, list):
            stack.extend((v, where) for v in value)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates ("\ud800" in JSON)
        return False
    return True


def load_json(raw: bytes) -> Any:
    """Parse a request body: UTF-8/16/32 JSON, nested at most MAX_JSON_DEPTH, finite numbers, clean strings.

    400 `invalid_json` for anything that is not such JSON; never a RecursionError.
    """
    try:
        text = raw.decode(json.detect_encoding(raw))
    except (UnicodeDecodeError, LookupError):
        raise BadRequest("the body must be JSON in UTF-8", "invalid_json") from None
    if _depth_over(text, MAX_JSON_DEPTH):
        raise BadRequest(f"the body nests deeper than {MAX_JSON_DEPTH} levels", "invalid_json")
    try:
        data = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON", "invalid_json") from None
    _check_values(data)
    return data


# ----- the database out of reach --------------------------------------------------------------------
def unavailable_response() -> tuple[Response, int]:
    """503 in the contract's error shape, with Retry-After."""
    resp = jsonify({"error": {"code": "unavailable",
                              "message": "the database cannot be reached right now; try again shortly"}})
    resp.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return resp, 503


# ----- every request and response ----------------------------------------------------------------
def _reject_control_characters() -> Any:
    """An API path or query with control characters (NUL above all: PostgreSQL refuses it) is refused up front.

    The pages check their own few parameters and answer in their own way (the kiosk's QR route, the board).
    """
    if not request.path.startswith("/api/"):
        return None
    if _CONTROL.search(request.path) or any(
            _CONTROL.search(k) or _CONTROL.search(v) for k, v in request.args.items(multi=True)):
        return jsonify({"error": {"code": "bad_request",
                                  "message": "the address must not contain control characters"}}), 400
    return None


def security_headers(resp: Response) -> Response:
    """The same defensive headers on every response; a route's own stricter choice is kept."""
    h = resp.headers
    h.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "same-origin")
    h.setdefault("X-Frame-Options", "DENY")
    return resp


def init_app(app: Flask, public_url: str) -> None:
    """Bound request bodies, refuse unreadable addresses, add the headers; cookies Secure behind HTTPS."""
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
                      SESSION_COOKIE_SECURE=public_url.lower().startswith("https://"),
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    app.before_request(_reject_control_characters)
    app.after_request(security_headers)
