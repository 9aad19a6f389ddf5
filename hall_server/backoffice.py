"""The back-office page: a department works its request files (review, documents, ready, reject, move).

The page is static HTML; everything it shows and does goes through the REST API under /api/v1
with the signed-in user's token, so the API's rules (roles, departments, the status flow, the
recorded view of a full national ID) are the page's rules too.
"""
from __future__ import annotations

from flask import Blueprint, Flask, redirect, render_template, url_for

from hall_server.current import runtime

bp = Blueprint("backoffice", __name__, url_prefix="/backoffice", template_folder="templates")


@bp.get("/")
def home():
    """With one hall go straight to its back office; otherwise list the halls."""
    halls = runtime().settings.halls
    if len(halls) == 1:
        return redirect(url_for("backoffice.page", hall=halls[0].code))
    return render_template("backoffice.html", hall=None, halls=halls, missing=None)


@bp.get("/<hall>")
def page(hall: str):
    """The back office of one hall: department picker, its open files, a file's detail and actions."""
    settings = runtime().settings
    try:
        hall_def = settings.hall(hall)
    except KeyError:
        return render_template("backoffice.html", hall=None, halls=settings.halls, missing=hall), 404
    return render_template("backoffice.html", hall=hall_def, halls=settings.halls, missing=None)


def init_app(app: Flask) -> None:
    """Register the back-office page (its assets are served with the hall's, under /static/hall)."""
    app.register_blueprint(bp)
