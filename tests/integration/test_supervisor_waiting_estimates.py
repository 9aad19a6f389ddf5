"""The supervisor's waiting list carries each ticket's place and estimate, the very figures the
ticket's own public view (kiosk slip, phone page) gives, taken from the hall's live view."""
import pytest

from hall_server.domain import estimate
from tests.integration.test_queue_app import staff


@pytest.fixture
def app(make_app, db_url):
    return make_app(db_url)


def test_waiting_tickets_have_the_phone_figures(app, clock):
    c1 = staff(app, 1, 1)
    staff(app, 2, 2)
    issued = [app.issue_ticket("kfs", "building_permit")[0] for _ in range(5)]
    issued.append(app.issue_ticket("kfs", "building_permit", priority="elderly")[0])
    issued.append(app.issue_ticket("kfs", "demolition_permit")[0])
    clock.advance(seconds=30)
    app.call_next("kfs", 1, c1)  # the priority ticket is called first: window 1 is busy with it
    clock.advance(seconds=40)
    listed = {t["number"]: t for t in app.stats("kfs")["waiting_tickets"]}
    assert len(listed) == 6
    for t in issued:
        phone = app.ticket_by_token(t["token"])
        if phone["status"] != "waiting":
            assert t["number"] not in listed
            continue
        row = listed[t["number"]]
        assert row["position"] == phone["position"], t["number"]
        assert row["eta_seconds"] == phone["eta_seconds"], t["number"]
        assert row["eta_range_seconds"] == phone["eta_range_seconds"], t["number"]
    assert [listed[t["number"]]["position"] for t in issued[:5]] == [0, 1, 2, 3, 4]
    etas = [listed[t["number"]]["eta_seconds"] for t in issued[:5]]
    assert etas == sorted(etas)


def test_the_list_uses_the_view_without_ranking_per_request(app, clock, monkeypatch):
    staff(app, 1, 1)
    for _ in range(3):
        app.issue_ticket("kfs", "building_permit")
    calls = []
    ticket = estimate.LiveWaits.ticket
    monkeypatch.setattr(estimate.LiveWaits, "ticket", lambda self, t: calls.append(t) or ticket(self, t))
    monkeypatch.setattr(estimate, "people_ahead", lambda *a, **k: calls.append(a) or 0)
    rows = app.stats("kfs")["waiting_tickets"]
    # each waiting ticket's estimate was computed once, when the view was built; no count per row
    assert len(rows) == 3 and len(calls) == 3 and all(isinstance(c, estimate.policy.Candidate) for c in calls)
    assert [r["position"] for r in rows] == [0, 1, 2]


def test_view_positions_follow_the_phone_rule(app, clock):
    import random
    from datetime import timedelta

    from hall_server.domain.policy import Candidate

    rng = random.Random(3)
    t0 = clock.now
    waiting = tuple(Candidate(i, rng.choice("abc"), t0 - timedelta(seconds=rng.randint(0, 50)),
                              "elderly" if rng.random() < 0.2 else None,
                              rng.choice((None, None, None, 2))) for i in range(1, 120))
    hall = app.settings.halls[0]
    view = app.core.estimates.view(hall)
    from dataclasses import replace
    snap = replace(view.snap, waiting=waiting, _memo={})
    v = type(view)(view.hall, view.seq, view.built, snap, view.estimator, {}, {}, {}, None)
    for t in waiting:
        assert v.positions[t.id] == estimate.people_ahead(snap, t.service, t.priority, t), t
