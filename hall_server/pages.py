"""Server-rendered pages of the hall server itself: the index, the citizen's phone page and file inquiry."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, make_response, render_template, request, send_from_directory

from hall_server.current import runtime

bp = Blueprint("pages", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/hall")


@bp.get("/")
def index():
    """A plain list of the halls and their pages."""
    settings = runtime().settings
    return render_template("index.html", halls=settings.halls)


_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@bp.get("/t/<token>")
def ticket_page(token: str):
    """The citizen's phone page for one ticket (the QR on the ticket opens it); no personal data."""
    from hall_server.domain.errors import DomainError
    app = runtime().hall
    ticket = None
    if 16 <= len(token) <= 64 and set(token) <= _TOKEN_CHARS:
        try:
            ticket = app.ticket_by_token(token)
        except DomainError:
            ticket = None
    hall = app.hall(ticket["hall"]) if ticket else None
    body = render_template("ticket.html", ticket=ticket, token=token if ticket else "", hall=hall,
                           digits=hall.board.get("digits", "eastern") if hall else "eastern")
    resp = make_response(body, 200 if ticket else 404)
    # The token is the key to the ticket: keep it out of caches, referrers and search engines.
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["X-Robots-Tag"] = "noindex"
    return resp


_FILE_CHARS = frozenset("0123456789٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹-/ ")


@bp.get("/inquiry")
def inquiry_page():
    """The citizen's file inquiry (phone, kiosk, any browser): file number + last four digits, no personal data.

    The hall comes from ?hall= (default: the only hall); ?file= prefills the number (the phone
    ticket page links here with it).
    """
    settings = runtime().settings
    raw_file = (request.args.get("file") or "").strip()
    prefill = raw_file if len(raw_file) <= 16 and set(raw_file) <= _FILE_CHARS else ""
    code = (request.args.get("hall") or "").strip()
    hall, status, missing = None, 200, None
    if code:
        try:
            hall = settings.hall(code)
        except KeyError:
            status, missing = 404, code[:40]
    elif len(settings.halls) == 1:
        hall = settings.halls[0]
    resp = make_response(render_template("inquiry.html", hall=hall, halls=settings.halls, missing=missing,
                                         prefill=prefill), status)
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["X-Robots-Tag"] = "noindex"
    return resp


VENDOR = {
    "socket.io.min.js": ("socket.io-client", "dist/socket.io.min.js"),
    "chart.umd.min.js": ("chart.js", "dist/chart.umd.min.js"),
}

# The pages' one typeface, "Hall Sans" in static/fonts.css: Noto Sans Arabic for Arabic script,
# Noto Sans for Latin, both variable (every weight in one file), from the fontsource npm packages.
FONTS = {
    "arabic.woff2": ("@fontsource-variable/noto-sans-arabic", "files/noto-sans-arabic-arabic-wght-normal.woff2"),
    "symbols.woff2": ("@fontsource-variable/noto-sans-arabic", "files/noto-sans-arabic-symbols-wght-normal.woff2"),
    "math.woff2": ("@fontsource-variable/noto-sans-arabic", "files/noto-sans-arabic-math-wght-normal.woff2"),
    "latin.woff2": ("@fontsource-variable/noto-sans", "files/noto-sans-latin-wght-normal.woff2"),
    "latin-ext.woff2": ("@fontsource-variable/noto-sans", "files/noto-sans-latin-ext-wght-normal.woff2"),
}


@bp.get("/static/vendor/<name>")
def vendor(name: str):
    """Third-party browser files installed by npm at setup (package.json), never committed."""
    if name not in VENDOR:
        abort(404)
    package, path = VENDOR[name]
    root = Path(current_app.root_path).parent / "node_modules" / package
    return send_from_directory(root, path, max_age=86400)


@bp.get("/static/vendor/fonts/<name>")
def vendor_font(name: str):
    """The pages' web fonts, from the npm packages installed at setup (package.json), never committed."""
    if name not in FONTS:
        abort(404)
    package, path = FONTS[name]
    root = Path(current_app.root_path).parent / "node_modules" / package
    return send_from_directory(root, path, max_age=7 * 86400)
