"""The staffing hint from a hall's history: expected arrivals per hour, window time, Erlang C, API.

On a SQLite file and on PostgreSQL (the db_url fixture).
"""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from hall_server.application import Actor
from hall_server.application.auth import Auth
from hall_server.domain import staffing

CAIRO = ZoneInfo("Africa/Cairo")  # the default hall's time zone
DAY = date(2026, 11, 29)  # a Sunday
SUNDAYS = [DAY - timedelta(weeks=k) for k in (1, 2, 3, 4)]


def at(clock, day, hh, mm):
    clock.now = datetime.combine(day, time(hh, mm), tzinfo=CAIRO).astimezone(UTC)


@pytest.fixture
def history(make_app, clock, db_url):
    """Four Sundays with 6 rent payments at 09:xx and 3 at 10:xx, one served in 8 minutes a day;
    a busy Monday that must not count for a Sunday."""
    app = make_app(db_url)
    assert app.hall("kfs").timezone == "Africa/Cairo"
    uid = Auth(app.engine).add_user("clerk5", "password1", "clerk")
    clerk = Actor("user", "clerk5", "clerk", user_id=uid)
    for d in SUNDAYS:
        at(clock, d, 9, 0)
        app.set_window_state("kfs", 5, "sign_in", clerk)  # rent payments are issued while window 5 is open
        for i in range(6):
            at(clock, d, 9, 5 + i)
            app.issue_ticket("kfs", "rent_payment")
        for i in range(3):
            at(clock, d, 10, 5 + i)
            app.issue_ticket("kfs", "rent_payment")
        at(clock, d, 10, 20)
        app.call_next("kfs", 5, clerk)
        at(clock, d, 10, 28)
        app.complete("kfs", 5, clerk)
        app.set_window_state("kfs", 5, "sign_out", clerk)
    monday = SUNDAYS[0] + timedelta(days=1)
    at(clock, monday, 9, 0)
    app.set_window_state("kfs", 9, "sign_in", Actor("user", "clerk9", "clerk", user_id=Auth(app.engine).add_user(
        "clerk9", "password1", "clerk")))
    for i in range(30):
        at(clock, monday, 9, i)
        app.issue_ticket("kfs", "birth_certificate")
    return app


def test_windows_needed_per_hour_from_the_same_weekday(history, clock):
    at(clock, DAY - timedelta(days=1), 12, 0)  # Saturday: the plan is for tomorrow
    plan = history.staffing_plan("kfs")
    assert plan["day"] == DAY.isoformat() and plan["basis_days"] == sorted(d.isoformat() for d in SUNDAYS)
    hours = {h["hour"]: h for h in plan["hours"]}
    assert set(hours) == {9, 10}
    assert hours[9]["expected_arrivals"] == 6.0 and hours[10]["expected_arrivals"] == 3.0
    # the window time comes from history (called 10:20, finished 10:28), not the catalog's 4 minutes
    assert hours[9]["mean_service_minutes"] == pytest.approx(8.0)
    # one window at 80 % load calls only 45 % within 15 minutes: two are needed
    assert hours[9]["windows_needed"] == staffing.windows_needed(6.0, 8.0, 15) == 2
    assert hours[9]["service_level"] >= 0.8
    # a stricter goal can only need more windows
    strict = history.staffing_plan("kfs", DAY, goal=0.99)
    assert all(s["windows_needed"] >= h["windows_needed"]
               for s, h in zip(strict["hours"], plan["hours"]))


def test_staffing_endpoint(history, settings, clock, db_url):
    from hall_server.factory import create_app
    flask_app = create_app(replace(settings, database_url=db_url), clock=clock)
    try:
        _check_endpoint(flask_app)
    finally:
        flask_app.extensions["hall_runtime"].hall.engine.dispose()


def _check_endpoint(flask_app):
    auth = flask_app.extensions["hall_runtime"].auth
    auth.add_user("sup", "password1", "supervisor")
    client = flask_app.test_client()

    def login(user):
        r = client.post("/api/v1/auth/login", json={"username": user, "password": "password1"})
        return {"Authorization": "Bearer " + r.json["token"]}

    sup = login("sup")
    r = client.get(f"/api/v1/halls/kfs/staffing?day={DAY.isoformat()}", headers=sup)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert [(h["hour"], h["expected_arrivals"], h["windows_needed"]) for h in r.json] == [(9, 6.0, 2), (10, 3.0, 1)]
    assert client.get("/api/v1/halls/kfs/staffing", headers=login("clerk5")).status_code == 403
    assert client.get("/api/v1/halls/kfs/staffing").status_code == 401
    bad = client.get("/api/v1/halls/kfs/staffing?day=29-11-2026", headers=sup)
    assert bad.status_code == 422 and bad.json["error"]["code"] == "invalid_field"
    # a day without history: an empty plan, not an error
    assert client.get("/api/v1/halls/kfs/staffing?day=2026-01-04", headers=sup).json == []
    assert "/halls/{hall}/staffing" in client.get("/api/v1/openapi.json").json["paths"]


def test_staffing_command(history, db_url, capsys):
    from hall_server.cli import main
    assert main(["staffing", "--database-url", db_url, "--day", DAY.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "history: 4 day(s)" in out and "80% called within 15 min" in out
    assert [line.split()[:2] for line in out.splitlines() if line.startswith(("09:00", "10:00"))] == \
        [["09:00", "6.0"], ["10:00", "3.0"]]
