"""Report figures from hand-made event rows: the percentile, waits, service times, files, ranking."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hall_server.domain.reports import FileRecord, TicketEvent, build_report, file_figures, percentile, rank_halls

CAIRO = ZoneInfo("Africa/Cairo")
DAY = date(2026, 11, 22)
T0 = datetime(2026, 11, 22, 9, 0, tzinfo=CAIRO)  # 07:00 UTC


def at(minutes: float) -> datetime:
    return (T0 + timedelta(minutes=minutes)).astimezone(UTC)


# ----- percentile: nearest rank ------------------------------------------------------------------
def test_percentile_is_nearest_rank_and_always_an_observed_value():
    ten = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert percentile(ten, 90) == 90     # rank ceil(9.0) = 9, not 91 (linear) nor 100
    assert percentile(ten, 91) == 100    # rank ceil(9.1) = 10
    assert percentile(ten, 50) == 50     # rank 5
    assert percentile(ten, 0) == 10      # the minimum
    assert percentile(ten, 100) == 100
    eight = [60, 120, 300, 300, 480, 780, 900, 1260]
    assert percentile(eight, 90) == 1260  # rank ceil(7.2) = 8; linear interpolation would say 1008
    assert percentile([5, 1, 3], 90) == 5  # unsorted input; rank ceil(2.7) = 3
    assert percentile([42], 90) == 42
    assert percentile([], 90) is None
    # 90 * 20 / 100 is exactly 18: a float rounding slip to rank 19 would answer 19
    assert percentile(list(range(1, 21)), 90) == 18


@pytest.mark.parametrize("p", [-1, 100.5])
def test_percentile_refuses_p_outside_0_to_100(p):
    with pytest.raises(ValueError):
        percentile([1, 2], p)


# ----- a small day of events --------------------------------------------------------------------
def ev(tid, kind, minutes, service=None, window=None, actor=None):
    return TicketEvent(tid, kind, at(minutes), service, window, actor)


def small_day():
    """Four tickets: served, served after a transfer, no-show, cancelled."""
    return [
        ev(1, "issued", 0, "a"),
        ev(2, "issued", 1, "a"),
        ev(3, "issued", 2, "b"),
        ev(1, "called", 4, "a", 1, "user:c1"),          # wait 240
        ev(1, "serving", 5, "a", 1, "user:c1"),
        ev(2, "called", 20, "a", 2, "user:c2"),         # wait 1140 (> 900)
        ev(2, "transferred", 22, "a", 2, "user:c2"),    # to b: waits again from 22
        ev(1, "completed", 15, "a", 1, "user:c1"),      # service 600 (from serving)
        ev(3, "called", 30, "b", 1, "user:c1"),         # wait 1680
        ev(3, "recalled", 31, "b", 1, "user:c1"),
        ev(3, "no_show", 33, "b", 1, "user:c1"),
        ev(2, "called", 34, "b", 1, "user:c1"),         # wait 720 (since the transfer)
        ev(2, "completed", 37, "b", 1, "user:c1"),      # service 180 (from the call: no start)
        ev(4, "issued", 65, "b"),                       # 10:05
        ev(4, "cancelled", 70, "b", None, "citizen:citizen"),
    ]


def build(events, **kw):
    args = {"tz": CAIRO, "day_from": DAY, "day_to": DAY, "target_seconds": 900, "as_of": DAY}
    args.update(kw)
    return build_report(events, [], **args)


def test_counts_waits_and_service_times_of_a_small_day():
    r = build(small_day(), service_names={"a": ("خدمة أ", "Service A")}, clerk_names={"c1": "Clerk One"})
    t = r["totals"]
    assert (t["issued"], t["called"], t["served"], t["no_show"], t["cancelled"], t["transferred"]) == (4, 4, 2, 1, 1, 1)
    assert t["waits"] == 4
    assert t["wait_avg_seconds"] == 945.0           # (240 + 1140 + 1680 + 720) / 4
    assert t["wait_p90_seconds"] == 1680             # rank ceil(3.6) = 4
    assert t["within_target"] == 2 and t["within_target_share"] == 0.5   # 240, 720
    assert t["service_time_avg_seconds"] == 390.0    # (600 + 180) / 2
    a, b = r["by_service"]
    assert a["key"] == "a" and a["name"] == {"ar": "خدمة أ", "en": "Service A"}
    assert (a["issued"], a["called"], a["served"], a["transferred"], a["waits"]) == (2, 2, 1, 1, 2)
    assert a["wait_avg_seconds"] == 690.0 and a["within_target_share"] == 0.5
    assert (b["issued"], b["called"], b["served"], b["no_show"], b["cancelled"]) == (2, 2, 1, 1, 1)
    assert b["waits"] == 2 and b["wait_p90_seconds"] == 1680 and b["service_time_avg_seconds"] == 180.0
    w1, w2 = r["by_window"]
    assert (w1["key"], w1["called"], w1["served"], w1["no_show"]) == (1, 3, 2, 1)
    assert (w1["issued"], w1["cancelled"]) == (None, None)  # no window issues or cancels
    assert (w2["key"], w2["called"], w2["transferred"], w2["waits"], w2["served"]) == (2, 1, 1, 1, 0)
    c1 = next(c for c in r["by_clerk"] if c["key"] == "c1")
    assert c1["name"] == "Clerk One" and c1["waits"] == 3 and c1["wait_avg_seconds"] == 880.0  # (240+1680+720)/3
    h9, h10 = r["by_hour"]
    assert (h9["key"], h9["issued"], h10["key"], h10["issued"], h10["cancelled"]) == (9, 3, 10, 1, 1)
    # the transfer's wait (since 09:22) belongs to hour 9, as do all the others here
    assert h9["waits"] == 4 and h10["waits"] == 0 and h10["wait_avg_seconds"] is None
    assert r["arrivals_per_hour"] == [{"hour": 9, "issued": 3, "per_day": 3.0},
                                      {"hour": 10, "issued": 1, "per_day": 1.0}]
    assert r["percentile_method"] == "nearest-rank"


def test_resuming_a_parked_ticket_is_not_a_wait_and_recalls_are_not_calls():
    events = [ev(1, "issued", 0, "a"), ev(1, "called", 3, "a", 1, "user:c1"),
              ev(1, "recalled", 4, "a", 1, "user:c1"), ev(1, "parked", 5, "a", 1, "user:c1"),
              ev(1, "called", 50, "a", 1, "user:c1"), ev(1, "completed", 52, "a", 1, "user:c1")]
    t = build(events)["totals"]
    assert (t["called"], t["waits"], t["wait_avg_seconds"]) == (2, 1, 180.0)
    assert t["service_time_avg_seconds"] == 120.0  # from the resuming call


def test_hours_are_local_and_contiguous_and_days_fill_the_range():
    events = [ev(1, "issued", -60 * 9 + 30, "a"),   # 00:30 Cairo = 22:30 UTC the day before
              ev(2, "issued", 60 * 4, "a")]          # 13:00
    r = build(events, day_to=DAY + timedelta(days=2))
    assert [h["key"] for h in r["by_hour"]] == list(range(14))
    assert [h["issued"] for h in r["by_hour"]][0] == 1 and r["by_hour"][13]["issued"] == 1
    assert [d["key"] for d in r["by_day"]] == ["2026-11-22", "2026-11-23", "2026-11-24"]
    assert [d["issued"] for d in r["by_day"]] == [2, 0, 0]
    assert r["days"] == 3 and r["arrivals_per_hour"][0]["per_day"] == 0.33


def test_an_empty_range_has_no_averages():
    r = build([])
    assert r["totals"]["issued"] == 0 and r["totals"]["wait_avg_seconds"] is None
    assert r["totals"]["within_target_share"] is None and r["by_hour"] == [] and len(r["by_day"]) == 1
    with pytest.raises(ValueError):
        build([], day_to=DAY - timedelta(days=1))


# ----- request files ------------------------------------------------------------------------------
def utc(y, m, d, h=10):
    return datetime(y, m, d, h, tzinfo=CAIRO).astimezone(UTC)


def test_file_figures_received_completed_late():
    files = [
        FileRecord("2026-000001", "a", utc(2026, 10, 1), date(2026, 10, 22)),                    # open, late
        FileRecord("2026-000002", "a", utc(2026, 10, 1), date(2026, 10, 22), utc(2026, 11, 22)),  # done late
        FileRecord("2026-000003", "b", utc(2026, 11, 22), date(2026, 12, 10), utc(2026, 11, 22, 14)),  # done in time
        FileRecord("2026-000004", "b", utc(2026, 11, 22), date(2026, 12, 10)),                     # open, in time
        FileRecord("2026-000005", "a", utc(2026, 11, 21), date(2026, 11, 21)),                     # due yesterday
        FileRecord("2026-000006", "a", utc(2026, 11, 22), date(2026, 11, 22)),                     # due today
    ]
    f = file_figures(files, tz=CAIRO, day_from=DAY, day_to=DAY, as_of=DAY)
    assert (f["received"], f["completed"], f["late_completed"], f["late_open"], f["late"]) == (3, 2, 1, 2, 3)
    by = {r["key"]: r for r in f["by_service"]}
    assert (by["a"]["received"], by["a"]["completed"], by["a"]["late"]) == (1, 1, 3)
    assert (by["b"]["received"], by["b"]["completed"], by["b"]["late"]) == (2, 1, 0)
    # a range reaching past today judges open files today, not at its far end
    f2 = file_figures(files, tz=CAIRO, day_from=DAY, day_to=DAY + timedelta(days=30), as_of=DAY)
    assert f2["late_open"] == 2
    # judged at the end of Nov 23, file 6 (due Nov 22) is late too
    f3 = file_figures(files, tz=CAIRO, day_from=DAY, day_to=DAY + timedelta(days=1), as_of=DAY + timedelta(days=5))
    assert f3["late_open"] == 3


def test_rank_halls_worst_first():
    def row(code, share, late, p90=0):
        return {"hall": code, "totals": {"within_target_share": share, "wait_p90_seconds": p90},
                "files": {"late": late}}
    rows = [row("good", 0.95, 0), row("bad", 0.40, 1), row("none", None, 9), row("mid", 0.80, 5),
            row("mid2", 0.80, 7), row("tie", 0.80, 7, p90=2000)]
    assert [r["hall"] for r in rank_halls(rows)] == ["bad", "tie", "mid2", "mid", "good", "none"]
