"""Server-rendered pages of the hall server itself: the index and the citizen's phone page."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, render_template, send_from_directory

bp = Blueprint("pages", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/hall")


@bp.get("/")
def index():
    """A plain list of the halls and their pages."""
    settings = current_app.extensions["hall_settings"]
    return render_template("index.html", halls=settings.halls)


VENDOR = {
    "socket.io.min.js": ("socket.io-client", "dist/socket.io.min.js"),
    "chart.umd.min.js": ("chart.js", "dist/chart.umd.min.js"),
}


@bp.get("/static/vendor/<name>")
def vendor(name: str):
    """Third-party browser files installed by npm at setup (package.json), never committed."""
    if name not in VENDOR:
        abort(404)
    package, path = VENDOR[name]
    root = Path(current_app.root_path).parent / "node_modules" / package
    return send_from_directory(root, path, max_age=86400)
