"""The touch kiosk: its page, the on-screen QR image, and the print agents' socket events."""
from __future__ import annotations

import io
import logging
from typing import Any

import qrcode
from flask import Blueprint, Flask, Response, abort, jsonify, redirect, render_template, request
from flask_socketio import rooms

from hall_server import events as ev
from hall_server.current import runtime
from hall_server.realtime import socketio
from hall_server.web_guard import parse_int
from printer.dispatch import PrintDispatcher

log = logging.getLogger(__name__)

bp = Blueprint("kiosk", __name__, url_prefix="/kiosk", template_folder="templates")
# Static files under their own path, outside /kiosk/<hall>, so no hall code can shadow them.
assets = Blueprint("kiosk_assets", __name__, static_folder="static", static_url_path="/static/kiosk")

QR_MAX_CHARS = 512          # a tracking URL is ~60 characters; anything near this is not ours
QR_SCALES = range(2, 21)    # pixels per module


@bp.get("/")
def kiosk_index():
    """The first hall's kiosk (a one-hall server needs no hall code in the URL)."""
    halls = runtime().settings.halls
    return redirect(f"/kiosk/{halls[0].code}", code=302)


@bp.get("/<hall>")
def kiosk_page(hall: str):
    """The full-screen kiosk page of a hall; it loads the catalog and live data itself."""
    settings = runtime().settings
    h = next((x for x in settings.halls if x.code == hall), None)
    if h is None:
        abort(404)
    resp = Response(render_template(
        "kiosk/kiosk.html", hall=h, digits=h.board.get("digits", "eastern"),
        ticket_seconds=_seconds("ticket_seconds", 25), idle_seconds=_seconds("idle_seconds", 60),
        attract_seconds=_seconds("attract_seconds", 120)))
    # The device token may be in the query the first time: keep it out of referrers and caches.
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _seconds(name: str, default: int) -> int:
    """A timeout from the query (installers and tests shorten them), bounded to sane values."""
    value = parse_int(request.args.get(name), 2, 3600)
    return default if value is None else value


@bp.get("/qr.png")
def qr_png():
    """A QR code PNG of `data` (the ticket's tracking link) for the kiosk's ticket screen."""
    data = request.args.get("data", "")
    if not data or len(data) > QR_MAX_CHARS or not data.isprintable():
        return _bad(f"data must be 1 to {QR_MAX_CHARS} printable characters")
    scale = parse_int(request.args.get("scale", "10"), QR_SCALES.start, QR_SCALES.stop - 1)
    if scale is None:
        return _bad(f"scale must be a whole number from {QR_SCALES.start} to {QR_SCALES.stop - 1}")
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=scale, border=4)
    qr.add_data(data)
    qr.make(fit=True)
    buf = io.BytesIO()
    qr.make_image(fill_color="black", back_color="white").save(buf, format="PNG")
    resp = Response(buf.getvalue(), mimetype="image/png")
    resp.headers["Cache-Control"] = "private, max-age=3600"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


def _bad(message: str) -> tuple[Response, int]:
    return jsonify({"error": {"code": "invalid_qr_data", "message": message}}), 400


# ----- print agents ----------------------------------------------------------------------------
def _dispatcher() -> PrintDispatcher:
    return runtime().printing


@socketio.on(ev.PRINT_RESULT)
def on_print_result(data: Any) -> dict[str, Any]:
    """A print agent reports a job printed, failed (still retrying) or expired; its kiosk is told."""
    return _dispatcher().result(set(rooms()), data)


@socketio.on(ev.FETCH_PRINT_JOBS)
def on_fetch_print_jobs(data: Any) -> dict[str, Any]:
    """A print agent that has (re)joined asks for the jobs it missed; they are sent to it alone."""
    if not isinstance(data, dict) or not isinstance(data.get("hall"), str) or not isinstance(data.get("device"), str):
        return {"ok": False, "error": {"code": "invalid_request", "message": "fetch_print_jobs needs {hall, device}"}}
    if ev.printer_room(data["hall"], data["device"]) not in rooms():
        return {"ok": False, "error": {"code": "not_joined", "message": "join as this kiosk's printer first"}}
    jobs = _dispatcher().pending(data["hall"], data["device"])
    for job in jobs:
        socketio.emit(ev.PRINT_TICKET, job, to=request.sid)
    return {"ok": True, "jobs": len(jobs)}


def init_app(app: Flask) -> None:
    """Register the kiosk pages (the print dispatcher is built by the composition root)."""
    app.register_blueprint(bp)
    app.register_blueprint(assets)
