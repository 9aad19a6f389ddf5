"""Supervisor endpoints through Flask's test client on a real database and a fixed clock:
alerts fire and clear, reports and CSV, the governorate view, moving a waiting ticket, stats."""
from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from config import load_settings
from hall_server.application import Actor, audit

NID = "29001011300011"


@pytest.fixture
def server(tmp_path, db_url, clock):
    from hall_server.factory import create_app
    app = create_app(load_settings(env={}, data_dir=tmp_path, database_url=db_url, async_mode="threading"),
                     clock=clock)
    auth = app.extensions["hall_runtime"].auth
    ids = {name: auth.add_user(name, "password1", role, full) for name, role, full in (
        ("clerk1", "clerk", "منى عبد الله"), ("clerk3", "clerk", "أحمد سمير"), ("sup", "supervisor", "المشرف"),
        ("boss", "admin", "المدير"))}
    client = app.test_client()

    def login(user: str) -> dict[str, str]:
        r = client.post("/api/v1/auth/login", json={"username": user, "password": "password1"})
        assert r.status_code == 200, r.get_data(as_text=True)
        return {"Authorization": "Bearer " + r.json["token"]}

    client.login = login
    client.hall = app.extensions["hall_runtime"].hall
    client.devices = app.extensions["hall_runtime"].devices
    client.actor = lambda name, role="clerk": Actor("user", name, role, user_id=ids[name])
    yield client
    app.extensions["hall_runtime"].hall.engine.dispose()  # PostgreSQL connections closed, not left to the GC


def err(r, status, code=None):
    assert r.status_code == status, r.get_data(as_text=True)
    assert set(r.json) == {"error"} and r.json["error"]["message"]
    if code:
        assert r.json["error"]["code"] == code


def active(client, headers) -> set[tuple[str, str]]:
    r = client.get("/api/v1/halls/kfs/alerts", headers=headers)
    assert r.status_code == 200, r.get_data(as_text=True)
    return {(a["code"], a["subject"]) for a in r.json["active"]}


def test_each_alert_fires_on_its_condition_and_clears_when_it_ends(server, clock):
    sup = server.login("sup")
    app = server.hall
    c1 = server.actor("clerk1")
    assert active(server, sup) == set()

    # no open window serves building permits: fires at once, clears when window 1 opens
    # (a ticket is issued only while a window serves its service: window 1 opens for it, then signs out)
    app.set_window_state("kfs", 1, "sign_in", c1)
    app.issue_ticket("kfs", "building_permit")
    app.set_window_state("kfs", 1, "sign_out", c1)
    assert active(server, sup) == {("no_open_window", "service:building_permit")}
    app.set_window_state("kfs", 1, "sign_in", c1)
    assert active(server, sup) == set()

    # window 1 open, nothing called, someone waiting: idle after 3 minutes
    clock.advance(minutes=3)
    assert active(server, sup) == set()  # exactly 3: not more than 3
    clock.advance(seconds=1)
    assert active(server, sup) == {("window_idle", "window:1")}

    # the wait passes 15 minutes
    clock.advance(minutes=12)
    assert active(server, sup) == {("window_idle", "window:1"), ("wait_over_target", "service:building_permit")}

    # the clerk calls: both end
    app.call_next("kfs", 1, c1)
    assert active(server, sup) == set()
    app.complete("kfs", 1, c1)

    # a paused window leaves its queue with no open window; resuming clears it
    app.issue_ticket("kfs", "building_permit")
    app.set_window_state("kfs", 1, "pause", c1)
    assert active(server, sup) == {("no_open_window", "service:building_permit")}
    app.set_window_state("kfs", 1, "resume", c1)
    assert active(server, sup) == set()
    app.call_next("kfs", 1, c1)
    app.complete("kfs", 1, c1)

    # a print agent goes offline, comes back
    server.devices.update("kfs", "printer-1", "printer", "offline", "disconnected")
    server.devices.update("kfs", "announcer-1", "announcer", "tts_failed", "no espeak-ng")
    assert active(server, sup) == {("device_offline", "device:printer-1"), ("device_problem", "device:announcer-1")}
    server.devices.update("kfs", "printer-1", "printer", "online", "")
    server.devices.update("kfs", "announcer-1", "announcer", "online", "")
    assert active(server, sup) == set()

    # a request file passes its due date; it clears when the back office finishes it
    from hall_server.application.files import FileDesk
    desk = FileDesk(app)
    f = desk.create("kfs", "occupancy_licence_issue", "مواطن", NID, None, [], server.actor("sup", "supervisor"))
    clock.advance(days=40)
    sup = server.login("sup")  # the 12-hour token expired with the clock
    r = server.get("/api/v1/halls/kfs/alerts", headers=sup).json
    assert {(a["code"], a["subject"]) for a in r["active"]} == {("late_files", "files")}
    assert r["late_files"] == 1
    desk.change_status("kfs", f["number"], "under_review", server.actor("sup", "supervisor"))
    desk.change_status("kfs", f["number"], "ready", server.actor("sup", "supervisor"))
    r = server.get("/api/v1/halls/kfs/alerts", headers=sup).json
    assert r["active"] == []

    # the history lists every raise and clear, newest first
    hist = [(h["change"], h["code"]) for h in r["history"]]
    assert hist[:2] == [("cleared", "late_files"), ("raised", "late_files")]
    assert hist.count(("raised", "no_open_window")) == 2 and hist.count(("cleared", "no_open_window")) == 2
    assert ("raised", "window_idle") in hist and ("cleared", "wait_over_target") in hist
    assert {d["device"] for d in r["devices"]} == {"printer-1", "announcer-1"}


def test_alerts_and_reports_are_for_supervisors(server):
    clerk = server.login("clerk1")
    for path in ("/halls/kfs/alerts", "/halls/kfs/reports", "/reports"):
        err(server.get("/api/v1" + path), 401)
        err(server.get("/api/v1" + path, headers=clerk), 403)
    err(server.get("/api/v1/halls/nope/alerts", headers=server.login("sup")), 404)
    boss = server.login("boss")
    assert server.get("/api/v1/reports", headers=boss).status_code == 200


@pytest.mark.parametrize("query,status,code", [
    ("from=2026-13-01", 422, "invalid_date"),
    ("from=22-11-2026", 422, "invalid_date"),
    ("from=2026-11-22&to=2026-11-21", 422, "invalid_range"),
    ("from=2025-01-01&to=2026-11-22", 422, "invalid_range"),
    ("from=2026-11-22&format=xml", 422, "invalid_format"),
    ("from=2026-11-22T10:00", 422, "invalid_date"),
])
def test_report_queries_are_checked(server, query, status, code):
    sup = server.login("sup")
    err(server.get(f"/api/v1/halls/kfs/reports?{query}", headers=sup), status, code)
    if "format" not in query:
        err(server.get(f"/api/v1/reports?{query}", headers=sup), status, code)
    err(server.get("/api/v1/halls/nope/reports", headers=sup), 404)


def test_reports_json_csv_and_governorate(server, clock):
    app, c1 = server.hall, server.actor("clerk1")
    app.set_window_state("kfs", 1, "sign_in", c1)
    app.issue_ticket("kfs", "building_permit")
    clock.advance(minutes=20)
    app.call_next("kfs", 1, c1)
    clock.advance(minutes=5)
    app.complete("kfs", 1, c1)
    sup = server.login("sup")
    r = server.get("/api/v1/halls/kfs/reports", headers=sup)  # default: today
    assert r.status_code == 200 and r.json["from"] == r.json["to"] == "2026-11-22"
    assert r.json["totals"]["wait_avg_seconds"] == 1200.0 and r.json["totals"]["within_target_share"] == 0.0
    assert r.json["by_clerk"][0]["name"] == "منى عبد الله"
    r = server.get("/api/v1/halls/kfs/reports?from=2026-11-16&to=2026-11-22&format=csv", headers=sup)
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert 'filename="report-kfs-2026-11-16-2026-11-22.csv"' in r.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0]["section"] == "total" and rows[0]["served"] == "1" and rows[0]["service_time_avg_seconds"] == "300.0"
    assert len([x for x in rows if x["section"] == "day"]) == 7
    g = server.get("/api/v1/reports?from=2026-11-22", headers=sup)
    assert g.status_code == 200
    assert [h["hall"] for h in g.json["halls"]] == ["kfs"] and g.json["halls"][0]["totals"]["served"] == 1


def test_move_a_waiting_ticket_is_checked_and_audited(server, clock):
    sup, clerk = server.login("sup"), server.login("clerk1")
    app = server.hall
    c3 = server.actor("clerk3")  # window 3 opens for occupancy licences to be issued, then closes again
    app.set_window_state("kfs", 3, "sign_in", c3)
    b1 = app.issue_ticket("kfs", "occupancy_licence_issue")[0]
    app.set_window_state("kfs", 3, "sign_out", c3)
    body = {"ticket": "B-001", "service": "building_permit"}
    err(server.post("/api/v1/halls/kfs/queue/move", json=body, headers=clerk), 403)
    err(server.post("/api/v1/halls/kfs/queue/move", json=body), 401)
    err(server.post("/api/v1/halls/kfs/queue/move", json={"ticket": "B-001"}, headers=sup), 422, "missing_field")
    err(server.post("/api/v1/halls/kfs/queue/move", json={"ticket": "B-001", "service": 3}, headers=sup), 422)
    err(server.post("/api/v1/halls/kfs/queue/move", json={"ticket": "B-001", "service": "nope"}, headers=sup),
        404, "unknown_service")
    err(server.post("/api/v1/halls/kfs/queue/move", json={"ticket": "zzz", "service": "building_permit"},
                    headers=sup), 422, "invalid_ticket_number")
    err(server.post("/api/v1/halls/kfs/queue/move", json={"ticket": "B-009", "service": "building_permit"},
                    headers=sup), 404)
    err(server.post("/api/v1/halls/kfs/queue/move", json={"ticket": "B-001", "service": "occupancy_licence_issue"},
                    headers=sup), 422, "same_service")
    err(server.post("/api/v1/halls/kfs/queue/move", data="[", headers={**sup, "Content-Type": "application/json"}),
        400)
    clock.advance(minutes=1)
    r = server.post("/api/v1/halls/kfs/queue/move", json=body, headers=sup)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.json["service"] == "building_permit" and r.json["status"] == "waiting"
    assert r.json["queued_at"] == b1["issued_at"]  # keeps its place
    entries = audit.search(app.engine, chain="kfs", ticket="B-001")
    assert entries[0]["action"] == "transferred" and entries[0]["actor"] == "user:sup"
    assert entries[0]["data"]["from_service"] == "occupancy_licence_issue"
    assert entries[0]["data"]["to_service"] == "building_permit"
    # only waiting tickets move
    c1 = server.actor("clerk1")
    app.set_window_state("kfs", 1, "sign_in", c1)
    app.call_next("kfs", 1, c1)
    err(server.post("/api/v1/halls/kfs/queue/move", json={"ticket": "B-001", "service": "rent_payment"},
                    headers=sup), 409, "not_waiting")


def test_stats_name_the_clerk_and_count_idle_time(server, clock):
    app, c1 = server.hall, server.actor("clerk1")
    app.set_window_state("kfs", 1, "sign_in", c1)
    app.issue_ticket("kfs", "building_permit")
    clock.advance(minutes=2)
    app.call_next("kfs", 1, c1)
    clock.advance(minutes=3)
    app.complete("kfs", 1, c1)
    clock.advance(minutes=4)
    app.issue_ticket("kfs", "building_permit")
    clock.advance(seconds=30)
    s = server.get("/api/v1/halls/kfs/stats", headers=server.login("sup")).json
    w1 = s["windows"][0]
    assert w1["clerk"]["username"] == "clerk1" and w1["clerk"]["full_name"] == "منى عبد الله"
    assert w1["idle_seconds"] == 270 and w1["current"] is None
    assert w1["last_finished_at"] == datetime(2026, 11, 22, 7, 5, tzinfo=UTC).isoformat()
    assert s["windows"][1]["idle_seconds"] is None and s["windows"][1]["clerk"] is None  # closed
    a = next(x for x in s["services"] if x["service"] == "building_permit")
    assert a["average_wait_seconds"] == 120 and a["within_target_share"] == 1.0 and a["open_windows"] == 1
    assert [t["number"] for t in s["waiting_tickets"]] == ["A-002"] and s["waiting_tickets"][0]["wait_seconds"] == 30
    # existing fields are still there
    assert {"hall", "at", "wait_target_seconds", "windows", "services", "totals"} <= set(s)
    assert {"number", "state", "clerk_id", "current", "serving_seconds"} <= set(w1)
    clock.advance(minutes=1)
    app.call_next("kfs", 1, c1)
    w1 = server.get("/api/v1/halls/kfs/stats", headers=server.login("sup")).json["windows"][0]
    assert w1["idle_seconds"] is None and w1["current"] == "A-002" and w1["serving_seconds"] == 0
    assert timedelta(seconds=0) == timedelta(seconds=w1["serving_seconds"])
