"""The supervisor's pages: live hall, reports, governorate view (data from the API)."""
from __future__ import annotations

import logging

from flask import Blueprint, Flask, redirect, render_template, url_for

from hall_server.current import runtime

log = logging.getLogger(__name__)

bp = Blueprint("supervisor", __name__, url_prefix="/supervisor", template_folder="templates")


# ----- pages ---------------------------------------------------------------------------------
def _hall_or_404(code: str):
    settings = runtime().settings
    try:
        return settings.hall(code)
    except KeyError:
        return None


@bp.get("/")
def home():
    """One hall: its live page; several: the governorate view."""
    halls = runtime().settings.halls
    if len(halls) == 1:
        return redirect(url_for("supervisor.live", hall=halls[0].code))
    return redirect(url_for("supervisor.governorate"))


@bp.get("/governorate")
def governorate():
    """Every hall on this server side by side, worst first."""
    settings = runtime().settings
    return render_template("supervisor_governorate.html", page="governorate", hall=None,
                           timezone=settings.halls[0].timezone, halls=settings.halls)


@bp.get("/<hall>")
def live(hall: str):
    """The live hall: windows, services, queue, alerts and actions."""
    h = _hall_or_404(hall)
    if h is None:
        return render_template("supervisor_missing.html", hall=hall,
                               halls=runtime().settings.halls), 404
    return render_template("supervisor.html", page="live", hall=h)


@bp.get("/<hall>/reports")
def reports_page(hall: str):
    """Reports of one hall for a day, week, month or any range, with charts, CSV and print."""
    h = _hall_or_404(hall)
    if h is None:
        return render_template("supervisor_missing.html", hall=hall,
                               halls=runtime().settings.halls), 404
    return render_template("supervisor_reports.html", page="reports", hall=h)


def init_app(app: Flask) -> None:
    """Register the supervisor pages (their data comes from the API)."""
    app.register_blueprint(bp)
