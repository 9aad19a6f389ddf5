"""The REST contract through Flask's test client: auth, roles, validation errors, idempotency."""
from __future__ import annotations

import pytest

from config import load_settings


@pytest.fixture
def client(tmp_path):
    from hall_server.factory import create_app
    app = create_app(load_settings(env={}, data_dir=tmp_path, async_mode="threading"))
    auth = app.extensions["hall_runtime"].auth
    auth.add_user("clerk1", "password1", "clerk")
    auth.add_user("sup", "password1", "supervisor")
    c = app.test_client()
    c.kiosk = {"Authorization": "Bearer " + auth.add_device("kfs", "kiosk-1", "kiosk")}
    c.board = {"Authorization": "Bearer " + auth.add_device("kfs", "board-1", "board")}

    def login(user):
        r = c.post("/api/v1/auth/login", json={"username": user, "password": "password1"})
        return {"Authorization": "Bearer " + r.json["token"]}
    c.login = login

    def open_window(n=1, user="clerk1"):
        """A clerk signs in at window n: its services open (a ticket is issued only for an open one)."""
        h = login(user)
        assert c.post(f"/api/v1/halls/kfs/windows/{n}/sign-in", headers=h).status_code == 200
        return h
    c.open_window = open_window
    return c


def err(r, status, code=None):
    assert r.status_code == status, r.get_data(as_text=True)
    assert set(r.json) == {"error"} and r.json["error"]["message"]
    if code:
        assert r.json["error"]["code"] == code


def test_login(client):
    err(client.post("/api/v1/auth/login", json={"username": "clerk1", "password": "wrong-pass"}), 401,
        "bad_credentials")
    err(client.post("/api/v1/auth/login", json={"username": "clerk1"}), 422, "missing_field")
    r = client.post("/api/v1/auth/login", json={"username": "clerk1", "password": "password1"})
    assert r.status_code == 200 and r.json["user"]["role"] == "clerk" and "password_hash" not in r.json["user"]
    h = {"Authorization": "Bearer " + r.json["token"]}
    assert client.get("/api/v1/me", headers=h).json["name"] == "clerk1"
    assert client.post("/api/v1/auth/logout", headers=h).status_code == 204
    err(client.get("/api/v1/me", headers=h), 401)


def test_issue_needs_a_kiosk_or_staff_token(client):
    err(client.post("/api/v1/halls/kfs/tickets", json={"service": "building_permit"}), 401)
    err(client.post("/api/v1/halls/kfs/tickets", json={"service": "building_permit"}, headers=client.board), 403)
    err(client.post("/api/v1/halls/kfs/tickets", json={"service": "building_permit"},
                    headers={"Authorization": "Bearer forged"}), 401)


@pytest.mark.parametrize("body,status,code", [
    ({}, 422, "missing_field"),
    ({"service": 12}, 422, "invalid_field"),
    ({"service": "nope"}, 404, "unknown_service"),
    ({"service": "building_permit", "priority": "vip"}, 422, "invalid_priority"),
    ({"service": "building_permit", "phone": "+20 10"}, 422, "invalid_phone"),
    ({"service": "x" * 500}, 422, "invalid_field"),
    ([1, 2], 400, "invalid_json"),
])
def test_bad_ticket_requests_are_4xx_and_change_nothing(client, body, status, code):
    err(client.post("/api/v1/halls/kfs/tickets", json=body, headers=client.kiosk), status, code)
    assert client.get("/api/v1/halls/kfs/queue").json["waiting"] == {}


def test_not_json_and_unknown_hall(client):
    err(client.post("/api/v1/halls/kfs/tickets", data="{not json", headers={**client.kiosk,
                                                                         "Content-Type": "application/json"}),
        400, "invalid_json")
    err(client.post("/api/v1/halls/zzz/tickets", json={"service": "building_permit"}, headers=client.kiosk), 403)
    err(client.post("/api/v1/halls/zzz/tickets", json={"service": "building_permit"},
                    headers=client.login("clerk1")), 404)
    err(client.get("/api/v1/halls/zzz/board"), 404)
    err(client.get("/api/v1/no/such/route"), 404)


def test_idempotency_key_header(client):
    client.open_window(1)
    h = {**client.kiosk, "Idempotency-Key": "tap-123"}
    r1 = client.post("/api/v1/halls/kfs/tickets", json={"service": "building_permit"}, headers=h)
    r2 = client.post("/api/v1/halls/kfs/tickets", json={"service": "building_permit"}, headers=h)
    assert (r1.status_code, r2.status_code) == (201, 200) and r1.json["id"] == r2.json["id"]
    assert client.get("/api/v1/halls/kfs/queue").json["waiting"] == {"building_permit": 1}


def test_ticket_json_has_the_contract_fields(client):
    client.open_window(1)
    t = client.post("/api/v1/halls/kfs/tickets", json={"service": "building_permit"}, headers=client.kiosk).json
    for key in ("id", "number", "service", "status", "token", "track_url", "position", "eta_seconds",
                "issued_at", "window"):
        assert key in t
    assert client.get(f"/api/v1/tickets/{t['token']}").json["number"] == t["number"]
    err(client.get("/api/v1/tickets/unknown-token-000000000"), 404)


def test_a_closed_service_is_409_service_closed_until_a_window_serving_it_opens(client):
    post = lambda **kw: client.post("/api/v1/halls/kfs/tickets", json={"service": "building_permit"},  # noqa: E731
                                    headers={**client.kiosk, **kw})
    seq = client.get("/api/v1/halls/kfs/queue").json["seq"]
    r = post(**{"Idempotency-Key": "tap-1"})
    err(r, 409, "service_closed")
    assert "no window serves this service right now" in r.json["error"]["message"].lower()
    queue = client.get("/api/v1/halls/kfs/queue").json
    assert (queue["waiting"], queue["seq"]) == ({}, seq)  # nothing written, nothing broadcast
    svc = {s["code"]: s for s in client.get("/api/v1/halls/kfs/services").json}
    assert svc["building_permit"]["open"] is False and svc["building_permit"]["open_windows"] == 0
    clerk = client.open_window(1)
    r = post(**{"Idempotency-Key": "tap-1"})  # the refused key was not spent
    assert r.status_code == 201 and r.json["number"] == "A-001"  # and no number was
    assert client.post("/api/v1/halls/kfs/windows/1/sign-out", headers=clerk).status_code == 200
    err(post(), 409, "service_closed")
    again = post(**{"Idempotency-Key": "tap-1"})  # a retry of the ticket issued gets it back
    assert again.status_code == 200 and again.json["id"] == r.json["id"]
    assert client.get("/api/v1/halls/kfs/queue").json["waiting"] == {"building_permit": 1}


def test_window_actions_validate(client):
    clerk = client.login("clerk1")
    err(client.post("/api/v1/halls/kfs/windows/1/call-next"), 401)
    err(client.post("/api/v1/halls/kfs/windows/1/call-next", headers=client.kiosk), 403)
    err(client.post("/api/v1/halls/kfs/windows/1/call-next", headers=clerk), 403, "not_signed_in")
    err(client.post("/api/v1/halls/kfs/windows/abc/call-next", headers=clerk), 422, "invalid_window")
    err(client.post("/api/v1/halls/kfs/windows/99/sign-in", headers=clerk), 404)
    assert client.post("/api/v1/halls/kfs/windows/1/sign-in", headers=clerk).status_code == 200
    assert client.post("/api/v1/halls/kfs/windows/1/call-next", headers=clerk).status_code == 204
    err(client.post("/api/v1/halls/kfs/windows/1/start", headers=clerk), 409, "no_current_ticket")
    err(client.post("/api/v1/halls/kfs/windows/1/dance", headers=clerk), 404)
    err(client.post("/api/v1/halls/kfs/windows/1/transfer", json={"service": "a", "window": 2}, headers=clerk),
        422, "invalid_transfer")
    err(client.post("/api/v1/halls/kfs/windows/1/complete", json={"outcome": "great"}, headers=clerk), 422)
    err(client.post("/api/v1/halls/kfs/windows/1/call", json={"ticket": "A-001"}, headers=clerk), 404)
    err(client.post("/api/v1/halls/kfs/windows/1/open", headers=clerk), 403)
    err(client.get("/api/v1/halls/kfs/stats", headers=clerk), 403)
    assert client.get("/api/v1/halls/kfs/stats", headers=client.login("sup")).status_code == 200


def test_call_out_of_order_needs_a_reason(client):
    clerk = client.open_window(1)
    client.post("/api/v1/halls/kfs/tickets", json={"service": "building_permit"}, headers=client.kiosk)
    client.post("/api/v1/halls/kfs/tickets", json={"service": "building_permit"}, headers=client.kiosk)
    err(client.post("/api/v1/halls/kfs/windows/1/call", json={"ticket": "A-002"}, headers=clerk), 422,
        "reason_required")
    r = client.post("/api/v1/halls/kfs/windows/1/call", json={"ticket": "A-002", "reason": "elderly companion"},
                    headers=clerk)
    assert r.status_code == 200 and r.json["number"] == "A-002"


def test_supervisor_changes_window_services_and_board_message(client):
    sup = client.login("sup")
    r = client.put("/api/v1/halls/kfs/windows/9/services", json={"services": ["rent_payment"]}, headers=sup)
    assert r.status_code == 200 and r.json["services"] == ["rent_payment"]
    err(client.put("/api/v1/halls/kfs/windows/9/services", json={"services": []}, headers=sup), 422)
    err(client.put("/api/v1/halls/kfs/windows/9/services", json={"services": "rent"}, headers=sup), 422)
    r = client.put("/api/v1/halls/kfs/board/message", json={"message": "الشباك ٤ مغلق للصيانة"}, headers=sup)
    assert r.json["message"] == "الشباك ٤ مغلق للصيانة"


def test_openapi_document_lists_the_contract(client):
    doc = client.get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.")
    for path in ("/auth/login", "/halls/{hall}/services", "/halls/{hall}/tickets", "/tickets/{token}",
                 "/tickets/{token}/cancel", "/halls/{hall}/windows/{number}/call-next",
                 "/halls/{hall}/windows/{number}/transfer", "/halls/{hall}/board", "/halls/{hall}/stats"):
        assert path in doc["paths"], path
