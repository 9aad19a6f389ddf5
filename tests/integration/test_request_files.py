"""Request files through the REST API: lifecycle, due dates, routing, inquiry, masking, SMS."""
from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs

import pytest
from sqlalchemy import select

from config import load_settings
from hall_server.storage import file_events, read_tx
from tests.conftest import FakeClock

NID = "29001011312345"
THURSDAY = datetime(2026, 11, 19, 8, 0, tzinfo=UTC)  # 10:00 in Cairo


def make_client(tmp_path, clock, sms=None):
    from hall_server.factory import create_app
    settings = load_settings(env={}, data_dir=tmp_path, async_mode="threading")
    if sms is not None:
        settings = replace(settings, halls=(replace(settings.halls[0], sms={**settings.halls[0].sms, **sms}),))
    app = create_app(settings, clock=clock)
    auth = app.extensions["hall_runtime"].auth
    for i in range(1, 10):
        auth.add_user(f"clerk{i}", "password1", "clerk")
    auth.add_user("bo", "password1", "back_office", departments=["buildings"])
    auth.add_user("bo2", "password1", "back_office", departments=["housing"])
    c = app.test_client()
    c.app_ = app
    c.kiosk = {"Authorization": "Bearer " + auth.add_device("kfs", "kiosk-1", "kiosk")}

    def login(user):
        r = c.post("/api/v1/auth/login", json={"username": user, "password": "password1"})
        return {"Authorization": "Bearer " + r.json["token"]}
    c.login = login
    return c


@pytest.fixture
def clock():
    return FakeClock(THURSDAY)


@pytest.fixture
def client(tmp_path, clock):
    return make_client(tmp_path, clock)


def serve_and_open_file(client, service="building_permit", window=1, mobile="01012345678"):
    clerk = client.login(f"clerk{window}")
    # the clerk signs in first: a ticket is issued only for a service an open window serves
    client.post(f"/api/v1/halls/kfs/windows/{window}/sign-in", headers=clerk)
    t = client.post("/api/v1/halls/kfs/tickets", json={"service": service}, headers=client.kiosk).json
    client.post(f"/api/v1/halls/kfs/windows/{window}/call-next", headers=clerk)
    client.post(f"/api/v1/halls/kfs/windows/{window}/start", headers=clerk)
    r = client.post("/api/v1/halls/kfs/files", headers=clerk, json={
        "service": service, "citizen_name": "محمد أحمد علي", "national_id": NID, "mobile": mobile,
        "documents_received": [0, 1], "window": window})
    assert r.status_code == 201, r.json
    return t, r.json, clerk


def test_open_a_file_at_the_window_links_the_ticket(client):
    t, f, clerk = serve_and_open_file(client)
    assert f["number"] == "2026-000001" and f["status"] == "received" and f["department"] == "buildings"
    assert f["national_id"] == "**********2345" and f["national_id_masked"]
    assert f["mobile"].endswith("5678") and "01012345678" not in json.dumps(f)
    assert [d["received"] for d in f["documents"]][:2] == [True, True] and not f["documents_complete"]
    # building permits have a 30 working-day deadline: from Thursday 19 Nov 2026, skipping Fri/Sat
    assert f["due_date"] == "2026-12-31"
    assert client.get(f"/api/v1/tickets/{t['token']}").json["request_file"] == f["number"]
    second = serve_and_open_file(client, window=2)[1]
    assert second["number"] == "2026-000002"


def test_three_working_day_deadline_from_thursday(client):
    _, f, _ = serve_and_open_file(client, service="housing_payment_certificate", window=4)
    assert f["due_date"] == "2026-11-24"  # Thursday + 3 working days = Tuesday


def test_lifecycle_in_the_back_office(client, clock):
    _, f, clerk = serve_and_open_file(client)
    bo, other = client.login("bo"), client.login("bo2")
    n = f["number"]
    listed = client.get("/api/v1/halls/kfs/files", headers=bo).json
    assert [x["number"] for x in listed] == [n]
    assert client.get("/api/v1/halls/kfs/files?department=buildings", headers=other).status_code == 422
    assert client.post(f"/api/v1/halls/kfs/files/{n}/status", json={"status": "under_review"},
                       headers=other).status_code == 403
    assert client.post(f"/api/v1/halls/kfs/files/{n}/status", json={"status": "under_review"},
                       headers=bo).json["status"] == "under_review"
    r = client.post(f"/api/v1/halls/kfs/files/{n}/status", json={"status": "needs_documents"}, headers=bo)
    assert r.status_code == 422 and r.json["error"]["code"] == "reason_required"
    r = client.post(f"/api/v1/halls/kfs/files/{n}/status",
                    json={"status": "needs_documents", "reason": "رسومات هندسية معتمدة"}, headers=bo)
    assert r.json["status"] == "needs_documents"
    assert client.post(f"/api/v1/halls/kfs/files/{n}/documents", json={"received": [2, 3, 4]},
                       headers=clerk).json["documents_complete"]
    client.post(f"/api/v1/halls/kfs/files/{n}/status", json={"status": "under_review"}, headers=bo)
    moved = client.post(f"/api/v1/halls/kfs/files/{n}/move", json={"department": "housing"}, headers=bo).json
    assert moved["department"] == "housing"
    assert client.post(f"/api/v1/halls/kfs/files/{n}/status", json={"status": "ready"},
                       headers=bo).status_code == 403  # no longer in bo's department
    client.post(f"/api/v1/halls/kfs/files/{n}/status", json={"status": "ready"}, headers=other)
    done = client.post(f"/api/v1/halls/kfs/files/{n}/status", json={"status": "delivered"}, headers=clerk).json
    assert done["status"] == "delivered" and done["closed_at"]
    kinds = [h["kind"] for h in done["history"]]
    assert kinds == ["received", "status", "status", "documents", "status", "moved", "status", "status"]
    r = client.post(f"/api/v1/halls/kfs/files/{n}/status", json={"status": "under_review"}, headers=clerk)
    assert r.status_code == 409


def test_oldest_due_first_and_late(client, clock):
    serve_and_open_file(client, service="building_permit", window=1)        # due 31 Dec
    serve_and_open_file(client, service="housing_payment_certificate", window=4)  # due 24 Nov
    sup_list = client.get("/api/v1/halls/kfs/files", headers=client.login("clerk1")).json
    assert [f["service"] for f in sup_list] == ["housing_payment_certificate", "building_permit"]
    clock.advance(days=6)
    late = client.get("/api/v1/halls/kfs/files?late=1", headers=client.login("clerk1")).json
    assert [f["service"] for f in late] == ["housing_payment_certificate"] and late[0]["late"]


def test_full_national_id_is_shown_on_request_and_every_view_is_recorded(client):
    _, f, clerk = serve_and_open_file(client)
    full = client.get(f"/api/v1/halls/kfs/files/{f['number']}?reveal=national_id", headers=clerk).json
    assert full["national_id"] == NID
    engine = client.app_.extensions["hall_runtime"].hall.engine
    with read_tx(engine) as c:
        views = c.execute(select(file_events).where(file_events.c.kind == "viewed_national_id")).all()
    assert len(views) == 1 and views[0].actor == "user:clerk1"
    assert client.get(f"/api/v1/halls/kfs/files/{f['number']}?reveal=national_id",
                      headers=client.kiosk).status_code == 403


@pytest.mark.parametrize("nid,code", [("2900101131234", "invalid_national_id_length"),
                                      ("29002301312345", "invalid_national_id_date"),
                                      ("19001011312345", "invalid_national_id_century")])
def test_bad_national_id_opens_nothing(client, nid, code):
    clerk = client.login("clerk1")
    r = client.post("/api/v1/halls/kfs/files", headers=clerk, json={
        "service": "building_permit", "citizen_name": "محمد أحمد", "national_id": nid})
    assert r.status_code == 422 and r.json["error"]["code"] == code
    assert client.get("/api/v1/halls/kfs/files", headers=clerk).json == []


def test_returning_citizen_is_routed_by_the_file(client):
    _, f, clerk = serve_and_open_file(client)
    n = f["number"]
    # window 9 serves file_documents and file_collect: open, so the kiosk issues them
    assert client.post("/api/v1/halls/kfs/windows/9/sign-in", headers=client.login("clerk9")).status_code == 200
    assert client.get(f"/api/v1/halls/kfs/files/{n}/route", headers=client.kiosk).json["service"] == \
        "file_status_inquiry"
    client.post(f"/api/v1/halls/kfs/files/{n}/status", json={"status": "needs_documents", "reason": "صورة العقد"},
                headers=clerk)
    t = client.post("/api/v1/halls/kfs/tickets", json={"request_file": n}, headers=client.kiosk)
    assert t.status_code == 201 and t.json["service"] == "file_documents" and t.json["number"].startswith("F-")
    assert t.json["request_file"] == n
    for s in ("under_review", "ready"):
        client.post(f"/api/v1/halls/kfs/files/{n}/status", json={"status": s}, headers=clerk)
    t = client.post("/api/v1/halls/kfs/tickets", json={"request_file": n}, headers=client.kiosk)
    assert t.json["service"] == "file_collect" and t.json["number"].startswith("R-")
    r = client.post("/api/v1/halls/kfs/tickets", json={"request_file": "2026-999999"}, headers=client.kiosk)
    assert r.status_code == 404 and r.json["error"]["code"] == "unknown_file"


def test_inquiry_reveals_nothing_without_the_right_digits(client):
    _, f, _ = serve_and_open_file(client)
    n = f["number"]
    ok = client.post("/api/v1/halls/kfs/inquiry", json={"file": n, "last4": "2345"})
    assert ok.status_code == 200 and set(ok.json) == {"number", "status", "due_date", "service_name", "reason"}
    assert client.post("/api/v1/halls/kfs/inquiry", json={"file": n, "last4": "5678"}).status_code == 200  # mobile
    wrong = client.post("/api/v1/halls/kfs/inquiry", json={"file": n, "last4": "0000"})
    unknown = client.post("/api/v1/halls/kfs/inquiry", json={"file": "2026-000777", "last4": "2345"})
    assert wrong.status_code == unknown.status_code == 404 and wrong.json == unknown.json
    assert client.post("/api/v1/halls/kfs/inquiry", json={"file": n, "last4": "12"}).status_code == 422
    for _ in range(9):
        client.post("/api/v1/halls/kfs/inquiry", json={"file": n, "last4": "0000"})
    assert client.post("/api/v1/halls/kfs/inquiry", json={"file": n, "last4": "2345"}).status_code == 429


class _Gateway(BaseHTTPRequestHandler):
    received: list = []
    fail_first = 1

    def do_POST(self):  # http.server's name
        form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        type(self).received.append((self.headers.get("Authorization"), form))
        if type(self).fail_first > 0:
            type(self).fail_first -= 1
            self.send_response(503)
        else:
            self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def test_sms_through_an_http_gateway_with_retries(tmp_path, clock):
    _Gateway.received, _Gateway.fail_first = [], 1
    server = HTTPServer(("127.0.0.1", 0), _Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = make_client(tmp_path, clock, sms={
            "backend": "http", "url": f"http://127.0.0.1:{server.server_port}/send", "username": "hall",
            "password": "secret", "sender": "KFS", "near_ahead": 0})
        kiosk, clerk = client.kiosk, client.login("clerk1")
        phones = ["01000000001", "01000000002", "01000000003"]
        client.post("/api/v1/halls/kfs/windows/1/sign-in", headers=clerk)  # building permits open
        for p in phones:
            r = client.post("/api/v1/halls/kfs/tickets", json={"service": "building_permit", "phone": p},
                            headers=kiosk)
            assert r.status_code == 201, r.json
        client.post("/api/v1/halls/kfs/windows/1/call-next", headers=clerk)
        client.app_.extensions["hall_runtime"].sms.join()
        texts = [(f["to"][0], f["text"][0]) for _, f in _Gateway.received]
        # 503 then retried: the first call message arrives twice at the gateway, accepted once
        assert texts[0] == texts[1] == ("01000000001", "التذكرة A-001: تفضل إلى الشباك رقم 1.")
        assert ("01000000002", "دورك اقترب: التذكرة A-002 في المركز التكنولوجي لخدمة المواطنين بكفر صقر. أمامك 0.") \
            in texts
        assert not any(to == "01000000003" for to, _ in texts)  # one ahead: not near yet
        assert all(auth and auth.startswith("Basic ") for auth, _ in _Gateway.received)
        assert all(f["sender"] == ["KFS"] for _, f in _Gateway.received)
        client.post("/api/v1/halls/kfs/windows/1/start", headers=clerk)
        client.post("/api/v1/halls/kfs/windows/1/call-next", headers=clerk)  # A-002 called, A-003 now near
        client.app_.extensions["hall_runtime"].sms.join()
        texts = [(f["to"][0], f["text"][0]) for _, f in _Gateway.received]
        assert sum(1 for to, t in texts if to == "01000000002" and "اقترب" in t) == 1  # told once
        assert any(to == "01000000003" and "اقترب" in t for to, t in texts)
        assert client.app_.extensions["hall_runtime"].sms.failed == []
    finally:
        server.shutdown()
        server.server_close()
