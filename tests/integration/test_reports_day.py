"""A scripted day on a real database, from a fixed clock: every report figure against a hand count.

The day (Sunday 2026-11-22, Cairo; minutes after 09:00). Window 1 (clerk1) serves building
permits (A), window 3 (clerk3) occupancy licences (B).

  min  what happens                                      wait (s)   service (s)
   0   A-001 issued
   2   A-002 issued
   4   B-001 issued
   5   W1 calls A-001                                    300
   6   W1 starts A-001
  10   A-003 issued
  12   W3 calls B-001                                    480
  15   W3 completes B-001 (never pressed start)                     180 (12->15)
  16   W1 completes A-001                                           600 (6->16)
  17   W1 calls A-002                                    900 (= target: within)
  18   W1 starts A-002
  20   B-002 issued
  21   B-002 cancelled by the citizen
  25   B-003 issued
  26   W3 calls B-003                                    60
  27-29  W3 recalls B-003 three times: no-show at 29 (recall limit 2)
  30   W1 completes A-002                                           720 (18->30)
  31   W1 calls A-003                                    1260 (over target)
  32   W1 starts A-003
  33   W1 transfers A-003 to occupancy (waits again from 33)
  35   W3 calls A-003 (as occupancy)                     120 (33->35)
  36   W3 starts A-003
  40   W3 completes A-003                                           240 (36->40)
  65   A-004 issued (10:05)
  66   B-004 issued
  68   the supervisor moves B-004 to building permits (waits again from 68)
  70   W1 calls A-004 (longer wait than B-004)           300
  80   W1 completes A-004 (no start)                                600 (70->80)
  81   W1 calls B-004 (now a building permit)           780 (68->81)
  82   W1 starts B-004
  90   W1 completes B-004                                           480 (82->90)
  next day 09:00: A-001 issued (outside a one-day report)

Waits, sorted: 60 120 300 300 480 780 900 1260 -> mean 4200/8 = 525.0; nearest-rank p90:
rank ceil(0.9 * 8) = 8 -> 1260 (linear interpolation would give 1008); within 15 min: 7 of 8.
"""
from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from hall_server.application import Actor
from hall_server.application.auth import Auth
from hall_server.application.files import FileDesk
from hall_server.application.reports import Reports, to_csv

NID = "29001011300011"
SUPERVISOR = Actor("user", "supervisor", "supervisor", user_id=None)


@pytest.fixture
def app(make_app, db_url):
    return make_app(db_url)


def clerk(app, name: str, full_name: str, window: int) -> Actor:
    uid = Auth(app.engine).add_user(name, "password1", "clerk", full_name)
    actor = Actor("user", name, "clerk", user_id=uid)
    app.set_window_state("kfs", window, "sign_in", actor)
    return actor


def scripted_files(app, clock) -> None:
    """Files: two received on Oct 1 (one still open and late, one finished late today), one
    finished on Oct 20 (outside), two received today (one finished today in time, one open)."""
    desk = FileDesk(app)
    start = clock.now
    clock.now = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
    f1 = desk.create("kfs", "occupancy_licence_issue", "مواطن أول", NID, None, [], SUPERVISOR)
    f2 = desk.create("kfs", "occupancy_licence_issue", "مواطن ثان", NID, None, [], SUPERVISOR)
    f5 = desk.create("kfs", "building_permit", "مواطن خامس", NID, None, [], SUPERVISOR)
    clock.now = datetime(2026, 10, 20, 8, 0, tzinfo=UTC)
    desk.change_status("kfs", f5["number"], "under_review", SUPERVISOR)
    desk.change_status("kfs", f5["number"], "ready", SUPERVISOR)
    assert f1["due_date"] < "2026-11-22" and f2["due_date"] < "2026-11-22"
    clock.now = start + timedelta(minutes=15)
    f3 = desk.create("kfs", "building_permit", "مواطن ثالث", NID, None, [], SUPERVISOR)
    desk.create("kfs", "occupancy_licence_issue", "مواطن رابع", NID, None, [], SUPERVISOR)
    desk.change_status("kfs", f2["number"], "under_review", SUPERVISOR)
    clock.now = start + timedelta(minutes=50)
    desk.change_status("kfs", f2["number"], "ready", SUPERVISOR)  # late: due in October
    desk.change_status("kfs", f3["number"], "under_review", SUPERVISOR)
    desk.change_status("kfs", f3["number"], "ready", SUPERVISOR)  # in time
    desk.change_status("kfs", f3["number"], "delivered", SUPERVISOR)  # still counted once
    clock.now = start


def scripted_day(app, clock) -> None:
    t0 = clock.now  # 07:00 UTC = 09:00 Cairo

    def at(minute: int):
        """Set the clock to 09:00 + minute and hand back the app, to act at that minute."""
        clock.now = t0 + timedelta(minutes=minute)
        return app

    def issue(minute: int, service: str) -> dict:
        return at(minute).issue_ticket("kfs", service)[0]

    c1 = clerk(app, "clerk1", "منى عبد الله", 1)
    c3 = clerk(app, "clerk3", "أحمد سمير", 3)
    assert issue(0, "building_permit")["number"] == "A-001"
    assert issue(2, "building_permit")["number"] == "A-002"
    assert issue(4, "occupancy_licence_issue")["number"] == "B-001"
    assert at(5).call_next("kfs", 1, c1)["number"] == "A-001"
    at(6).start("kfs", 1, c1)
    assert issue(10, "building_permit")["number"] == "A-003"
    assert at(12).call_next("kfs", 3, c3)["number"] == "B-001"
    at(15).complete("kfs", 3, c3)
    at(16).complete("kfs", 1, c1)
    assert at(17).call_next("kfs", 1, c1)["number"] == "A-002"
    at(18).start("kfs", 1, c1)
    b2 = issue(20, "occupancy_licence_issue")
    at(21).cancel(b2["token"])
    assert issue(25, "occupancy_licence_issue")["number"] == "B-003"
    assert at(26).call_next("kfs", 3, c3)["number"] == "B-003"
    assert at(27).recall("kfs", 3, c3)["status"] == "called"
    assert at(28).recall("kfs", 3, c3)["status"] == "called"
    assert at(29).recall("kfs", 3, c3)["status"] == "no_show"
    at(30).complete("kfs", 1, c1)
    assert at(31).call_next("kfs", 1, c1)["number"] == "A-003"
    at(32).start("kfs", 1, c1)
    at(33).transfer("kfs", 1, c1, service="occupancy_licence_issue")
    assert at(35).call_next("kfs", 3, c3)["number"] == "A-003"
    at(36).start("kfs", 3, c3)
    at(40).complete("kfs", 3, c3)
    assert issue(65, "building_permit")["number"] == "A-004"
    assert issue(66, "occupancy_licence_issue")["number"] == "B-004"
    at(68).move_waiting("kfs", "B-004", "building_permit", SUPERVISOR)
    assert at(70).call_next("kfs", 1, c1)["number"] == "A-004"
    at(80).complete("kfs", 1, c1)
    assert at(81).call_next("kfs", 1, c1)["number"] == "B-004"
    at(82).start("kfs", 1, c1)
    at(90).complete("kfs", 1, c1)
    clock.now = t0 + timedelta(days=1)
    assert app.issue_ticket("kfs", "building_permit")[0]["number"] == "A-001"  # the next day: numbering restarted
    clock.now = t0 + timedelta(days=1, hours=1)


def figures(row: dict) -> tuple:
    return (row["issued"], row["called"], row["served"], row["no_show"], row["cancelled"], row["transferred"])


def waits(row: dict) -> tuple:
    return (row["waits"], row["wait_avg_seconds"], row["wait_p90_seconds"], row["wait_max_seconds"],
            row["within_target"], row["within_target_share"])


def test_every_figure_of_the_scripted_day_equals_the_hand_count(app, clock):
    scripted_files(app, clock)
    scripted_day(app, clock)
    day = clock.now.date() - timedelta(days=1)
    assert day.isoformat() == "2026-11-22"
    r = Reports(app).hall_report("kfs", day, day)

    assert (r["hall"], r["from"], r["to"], r["days"], r["wait_target_seconds"]) == (
        "kfs", "2026-11-22", "2026-11-22", 1, 900)
    assert r["percentile_method"] == "nearest-rank"
    t = r["totals"]
    assert figures(t) == (8, 8, 6, 1, 1, 2)
    assert waits(t) == (8, 525.0, 1260, 1260, 7, 0.875)
    assert (t["service_times"], t["service_time_avg_seconds"]) == (6, 470.0)  # 2820 / 6

    svc = {s["key"]: s for s in r["by_service"]}
    assert set(svc) == {"building_permit", "occupancy_licence_issue"}
    a, b = svc["building_permit"], svc["occupancy_licence_issue"]
    # issued counts the service a ticket was issued for: B-004 was issued as an occupancy licence
    assert figures(a) == (4, 5, 4, 0, 0, 1)
    assert waits(a) == (5, 708.0, 1260, 1260, 4, 0.8)          # 300 300 780 900 1260
    assert (a["service_times"], a["service_time_avg_seconds"]) == (4, 600.0)  # 600 720 600 480
    assert figures(b) == (4, 3, 2, 1, 1, 1)
    assert waits(b) == (3, 220.0, 480, 480, 3, 1.0)            # 60 120 480
    assert (b["service_times"], b["service_time_avg_seconds"]) == (2, 210.0)  # 180 240
    assert a["name"]["en"] == "Building permit" or a["name"]["ar"]

    win = {w["key"]: w for w in r["by_window"]}
    assert set(win) == {1, 3}
    assert figures(win[1]) == (None, 5, 4, 0, None, 1)
    assert waits(win[1]) == (5, 708.0, 1260, 1260, 4, 0.8)
    assert win[1]["service_time_avg_seconds"] == 600.0
    assert figures(win[3]) == (None, 3, 2, 1, None, 0)
    assert waits(win[3]) == (3, 220.0, 480, 480, 3, 1.0)
    assert win[3]["service_time_avg_seconds"] == 210.0

    clerks = {c["key"]: c for c in r["by_clerk"]}
    assert set(clerks) == {"clerk1", "clerk3"}  # the supervisor's move happened at no window
    assert clerks["clerk1"]["name"] == "منى عبد الله" and clerks["clerk3"]["name"] == "أحمد سمير"
    assert figures(clerks["clerk1"]) == (None, 5, 4, 0, None, 1)
    assert waits(clerks["clerk3"]) == (3, 220.0, 480, 480, 3, 1.0)

    h9, h10 = r["by_hour"]
    assert (h9["key"], h10["key"]) == (9, 10)
    assert figures(h9) == (6, 6, 4, 1, 1, 1)
    assert waits(h9) == (6, 520.0, 1260, 1260, 5, 5 / 6)      # 60 120 300 480 900 1260
    assert h9["service_time_avg_seconds"] == 435.0             # 600 180 720 240
    assert figures(h10) == (2, 2, 2, 0, 0, 1)
    assert waits(h10) == (2, 540.0, 780, 780, 2, 1.0)          # 300 780
    assert h10["service_time_avg_seconds"] == 540.0            # 600 480
    assert r["arrivals_per_hour"] == [{"hour": 9, "issued": 6, "per_day": 6.0},
                                      {"hour": 10, "issued": 2, "per_day": 2.0}]
    assert [(d["key"], d["issued"], d["served"]) for d in r["by_day"]] == [("2026-11-22", 8, 6)]

    f = r["files"]
    assert (f["received"], f["completed"], f["late_completed"], f["late_open"], f["late"]) == (2, 2, 1, 1, 2)
    fs = {x["key"]: x for x in f["by_service"]}
    assert (fs["occupancy_licence_issue"]["received"], fs["occupancy_licence_issue"]["completed"],
            fs["occupancy_licence_issue"]["late"]) == (1, 1, 2)
    assert (fs["building_permit"]["received"], fs["building_permit"]["completed"],
            fs["building_permit"]["late"]) == (1, 1, 0)


def test_two_days_and_the_csv(app, clock):
    scripted_day(app, clock)
    day = clock.now.date() - timedelta(days=1)
    reports = Reports(app)
    r = reports.hall_report("kfs", day, day + timedelta(days=1))
    assert r["days"] == 2 and r["totals"]["issued"] == 9 and r["totals"]["waits"] == 8
    assert [(d["key"], d["issued"]) for d in r["by_day"]] == [("2026-11-22", 8), ("2026-11-23", 1)]
    assert r["arrivals_per_hour"][0] == {"hour": 9, "issued": 7, "per_day": 3.5}
    assert reports.hall_report("kfs", day - timedelta(days=1), day - timedelta(days=1))["totals"]["issued"] == 0

    one = reports.hall_report("kfs", day, day)
    text = to_csv(one)
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text[1:])))
    total = rows[0]
    assert total["section"] == "total" and total["issued"] == "8" and total["wait_p90_seconds"] == "1260.0"
    assert total["within_target_share"] == "0.8750" and total["wait_avg_seconds"] == "525.0"
    a = next(x for x in rows if x["section"] == "service" and x["key"] == "building_permit")
    assert a["within_target_share"] == "0.8000" and a["name_ar"]
    w1 = next(x for x in rows if x["section"] == "window" and x["key"] == "1")
    assert w1["issued"] == "" and w1["called"] == "5"
    assert [x["key"] for x in rows if x["section"] == "hour"] == ["09:00", "10:00"]
    assert next(x for x in rows if x["section"] == "clerk" and x["key"] == "clerk1")["name_ar"] == "منى عبد الله"


def test_the_governorate_view_ranks_the_halls(app, clock):
    scripted_day(app, clock)
    day = clock.now.date() - timedelta(days=1)
    g = Reports(app).governorate(day, day)
    assert [h["hall"] for h in g["halls"]] == ["kfs"] and g["halls"][0]["rank"] == 1
    kfs = g["halls"][0]
    assert kfs["totals"]["within_target_share"] == 0.875 and kfs["totals"]["wait_p90_seconds"] == 1260
    assert kfs["live"] == {"waiting": 1, "open_windows": 2}  # the next day's A-001 waits
    assert kfs["files"]["late"] == 0


SECOND_HALL = """
[hall]
code = "mnr"
name_ar = "المركز التكنولوجي بمنيا القمح"
name_en = "Minya al-Qamh Technology Center"
governorate_ar = "الشرقية"
governorate_en = "Sharqia"
kind = "mini"
timezone = "Africa/Cairo"

[[windows]]
number = 1
services = ["building_permit"]
"""


def test_the_governorate_view_puts_the_worst_hall_first(settings, clock, tmp_path, db_url):
    """Two halls on one server: the one with the lower share within target comes first."""
    from dataclasses import replace

    from config import load_settings
    from config.loader import DEFAULT_HALLS
    from hall_server.application import HallApp
    from hall_server.migrate import upgrade
    from hall_server.storage import make_engine
    second = tmp_path / "mnr.toml"
    second.write_text(SECOND_HALL, encoding="utf-8")
    s = load_settings(env={}, data_dir=tmp_path, async_mode="threading", halls=[*DEFAULT_HALLS, second])
    s = replace(s, database_url=db_url)
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        app = HallApp(s, engine, clock=clock)
        app.ensure_halls()
        auth = Auth(engine)
        c1 = Actor("user", "k1", "clerk", user_id=auth.add_user("k1", "password1", "clerk"))
        c2 = Actor("user", "m1", "clerk", user_id=auth.add_user("m1", "password1", "clerk"))
        app.set_window_state("kfs", 1, "sign_in", c1)
        app.set_window_state("mnr", 1, "sign_in", c2)
        t0 = clock.now
        # kfs: waits of 5 and 20 minutes -> 1 of 2 within target; mnr: 5 and 10 -> 2 of 2
        for hall, actor, waits in (("kfs", c1, (5, 20)), ("mnr", c2, (5, 10))):
            clock.now = t0
            app.issue_ticket(hall, "building_permit")
            app.issue_ticket(hall, "building_permit")
            for minutes in waits:
                clock.now = t0 + timedelta(minutes=minutes)
                app.call_next(hall, 1, actor)
                app.complete(hall, 1, actor)
        g = Reports(app).governorate(t0.date(), t0.date())
        assert [(h["hall"], h["rank"], h["totals"]["within_target_share"]) for h in g["halls"]] == [
            ("kfs", 1, 0.5), ("mnr", 2, 1.0)]
        assert g["halls"][1]["kind"] == "mini" and g["halls"][1]["name"]["en"] == "Minya al-Qamh Technology Center"
        assert g["halls"][0]["totals"]["wait_p90_seconds"] == 1200
        assert g["halls"][1]["totals"]["wait_avg_seconds"] == 450.0
    finally:
        engine.dispose()
