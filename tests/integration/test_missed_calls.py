"""GET /halls/<hall>/calls?since_seq=N (what a board missed) and the message queue's local fallback."""
from __future__ import annotations

import time

import pytest

from config import load_settings
from hall_server.realtime import LocalFirstRedisManager, client_manager
from tests.support import free_port


@pytest.fixture
def client(tmp_path):
    from hall_server.factory import create_app
    app = create_app(load_settings(env={}, data_dir=tmp_path, async_mode="threading"))
    auth = app.extensions["hall_runtime"].auth
    auth.add_user("clerk1", "password1", "clerk")
    c = app.test_client()
    kiosk = {"Authorization": "Bearer " + auth.add_device("kfs", "kiosk-1", "kiosk")}
    r = c.post("/api/v1/auth/login", json={"username": "clerk1", "password": "password1"})
    c.clerk = {"Authorization": "Bearer " + r.json["token"]}
    # window 1 opens first: a ticket is issued only for a service an open window serves
    assert c.post("/api/v1/halls/kfs/windows/1/sign-in", headers=c.clerk).status_code == 200
    for _ in range(4):
        assert c.post("/api/v1/halls/kfs/tickets", json={"service": "building_permit"}, headers=kiosk).status_code \
            in (200, 201)
    return c


def _call(c) -> str:
    r = c.post("/api/v1/halls/kfs/windows/1/call-next", headers=c.clerk)
    assert r.status_code == 200, r.get_data(as_text=True)
    for action in ("start", "complete"):
        assert c.post(f"/api/v1/halls/kfs/windows/1/{action}", headers=c.clerk).status_code == 200
    return r.json["number"]


def test_calls_since_a_seq_are_public_in_order_and_once(client):
    numbers = [_call(client) for _ in range(3)]
    r = client.get("/api/v1/halls/kfs/calls?since_seq=0")  # no token: public like the board
    assert r.status_code == 200
    body = r.json
    calls = body["calls"]
    assert [c["number"] for c in calls] == numbers
    assert [c["seq"] for c in calls] == sorted({c["seq"] for c in calls})
    assert body["seq"] >= calls[-1]["seq"]
    for c in calls:
        assert set(c) >= {"call_id", "number", "window", "service", "recall", "at", "audio_url", "seq"}
        assert c["audio_url"] == f"/api/v1/halls/kfs/calls/{c['call_id']}.wav" and c["recall"] is False
    later = client.get(f"/api/v1/halls/kfs/calls?since_seq={calls[0]['seq']}").json["calls"]
    assert [c["number"] for c in later] == numbers[1:]
    assert client.get(f"/api/v1/halls/kfs/calls?since_seq={body['seq']}").json["calls"] == []
    # the board's own last calls agree with what the catch-up returns
    board = client.get("/api/v1/halls/kfs/board").json
    assert {c["call_id"] for c in board["calls"]} == {c["call_id"] for c in calls}


@pytest.mark.parametrize("bad", ["-1", "abc", "1.5", "9" * 13, ""])
def test_calls_since_rejects_a_bad_seq(client, bad):
    r = client.get(f"/api/v1/halls/kfs/calls?since_seq={bad}")
    assert r.status_code == 422 and r.json["error"]["code"] == "invalid_field"


def test_calls_since_an_unknown_hall_is_404(client):
    assert client.get("/api/v1/halls/nope/calls?since_seq=0").status_code == 404


def test_calls_since_is_bounded(client, monkeypatch):
    from hall_server.application.views import Views
    monkeypatch.setattr(Views, "MISSED_CALLS_MAX", 2)
    numbers = [_call(client) for _ in range(3)]
    assert [c["number"] for c in client.get("/api/v1/halls/kfs/calls?since_seq=0").json["calls"]] == numbers[1:]


def test_no_queue_means_the_default_manager():
    assert client_manager(None) is None and client_manager("") is None
    assert isinstance(client_manager("redis://127.0.0.1:6379/0"), LocalFirstRedisManager)


def test_publishing_to_an_unreachable_queue_neither_raises_nor_stalls(monkeypatch):
    m = LocalFirstRedisManager(f"redis://127.0.0.1:{free_port()}/0")
    tries = []
    real = m._publisher

    def counted():
        tries.append(1)
        return real()
    monkeypatch.setattr(m, "_publisher", counted)
    assert m._publish({"method": "emit"}) is None  # refused: logged, swallowed, no retry
    assert m._publish({"method": "emit"}) is None  # within RETRY_AFTER_S: the queue is not even tried
    assert len(tries) == 1
    m._down_until = time.monotonic() - 1  # the pause is over: the next emit tries the queue again
    assert m._publish({"method": "emit"}) is None
    assert len(tries) == 2
