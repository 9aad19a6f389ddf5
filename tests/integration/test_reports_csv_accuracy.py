"""The report's CSV carries the estimates' accuracy (share within 5 minutes, mean error, bias, count
judged) per day, service and hour, the same figures as the JSON report's "estimates"."""
import csv
import io

import pytest

from hall_server.application.reports import CSV_COLUMNS, Reports, to_csv
from tests.integration.test_queue_app import staff

SERVICE = "building_permit"


@pytest.fixture
def app(make_app, db_url):
    return make_app(db_url)


def test_csv_has_the_accuracy_of_the_estimates(app, clock):
    c1 = staff(app, 1, 1)
    a = app.issue_ticket("kfs", SERVICE)[0]  # estimate 0: a free window
    b = app.issue_ticket("kfs", SERVICE)[0]  # estimate ~15 minutes
    staff(app, 5, 5)  # window 5 serves rent payments: a ticket there is issued...
    app.issue_ticket("kfs", "rent_payment")  # ...and never called: not judged
    app.call_next("kfs", 1, c1)
    clock.advance(minutes=40)  # the first citizen took far longer than foreseen
    app.complete("kfs", 1, c1)
    app.call_next("kfs", 1, c1)
    hall = app.settings.halls[0]
    day = clock.now.astimezone(hall.tz).date()
    report = Reports(app).hall_report("kfs", day, day)
    acc = report["estimates"]
    rows = list(csv.DictReader(io.StringIO(to_csv(report).lstrip("\ufeff"))))
    assert {"estimates_judged", "estimates_within_5_min_share", "estimate_mean_abs_error_seconds",
            "estimate_bias_seconds"} <= set(CSV_COLUMNS) <= set(rows[0])

    def figures(r):
        return (int(r["estimates_judged"]), float(r["estimates_within_5_min_share"]),
                int(r["estimate_mean_abs_error_seconds"]), int(r["estimate_bias_seconds"]))

    def expected(a_):
        return (a_["count"], a_["within_5_min_share"], a_["mean_abs_error_seconds"], a_["bias_seconds"])

    total = rows[0]
    assert total["section"] == "total" and figures(total) == expected(acc["all"])
    assert figures(total)[0] == 2 and figures(total)[1] == 0.5  # a: on time, b: 40 minutes late
    assert figures(total)[3] == acc["all"]["bias_seconds"] < 0  # the hall underestimated
    assert b["eta_seconds"] > a["eta_seconds"] == 0
    by_service = {r["key"]: r for r in rows if r["section"] == "service"}
    assert figures(by_service[SERVICE]) == expected(acc["by_service"][0])
    assert by_service["rent_payment"]["estimates_judged"] == "0"  # issued, never called
    assert by_service["rent_payment"]["estimate_bias_seconds"] == ""
    (day_row,) = [r for r in rows if r["section"] == "day"]
    assert day_row["key"] == day.isoformat() and figures(day_row) == expected(acc["by_day"][0])
    hours = {r["key"]: r for r in rows if r["section"] == "hour"}
    for h in acc["by_hour"]:
        assert figures(hours[f"{h['hour']:02d}:00"]) == expected(h)
    # rows that are not about estimates leave the columns empty
    for r in rows:
        if r["section"] in ("window", "clerk"):
            assert r["estimates_judged"] == "" and r["estimate_bias_seconds"] == ""


def test_csv_of_a_range_without_judged_estimates_says_zero(app, clock):
    hall = app.settings.halls[0]
    day = clock.now.astimezone(hall.tz).date()
    report = Reports(app).hall_report("kfs", day, day)
    rows = list(csv.DictReader(io.StringIO(to_csv(report).lstrip("\ufeff"))))
    assert rows[0]["estimates_judged"] == "0" and rows[0]["estimates_within_5_min_share"] == ""
