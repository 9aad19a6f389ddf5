"""The counter page: staff log in, sign in to a window and work the queue from the keyboard."""
from __future__ import annotations

import logging

from flask import Blueprint, Flask, redirect, render_template, url_for

from hall_server.current import runtime

log = logging.getLogger(__name__)

bp = Blueprint("counter_client", __name__, url_prefix="/counter", template_folder="templates")
# Assets live beside the other pages' assets (/static/hall, /static/vendor), not under /counter.
assets = Blueprint("counter_assets", __name__, static_folder="static", static_url_path="/static/counter")


@bp.get("/")
def pick_hall():
    """With one hall configured go straight to its counter page; otherwise list the halls."""
    halls = runtime().settings.halls
    if len(halls) == 1:
        return redirect(url_for("counter_client.page", hall=halls[0].code))
    return render_template("counter/halls.html", halls=halls)


@bp.get("/<hall>")
def page(hall: str):
    """The counter page of one hall; everything else it needs comes from the REST API."""
    settings = runtime().settings
    try:
        hall_def = settings.hall(hall)
    except KeyError:
        return render_template("counter/halls.html", halls=settings.halls, missing=hall), 404
    return render_template("counter/page.html", hall=hall_def)


def init_app(app: Flask) -> None:
    """Register the counter page and its static files."""
    app.register_blueprint(bp)
    app.register_blueprint(assets)
