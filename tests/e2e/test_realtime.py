"""A real server on a port and real Socket.IO clients: calls arrive, reconnects get a true snapshot."""
from __future__ import annotations

import socketio

from hall_server import events as ev


def _client(server):
    c = socketio.SimpleClient()
    c.connect(server.url, transports=["websocket"])
    return c


def _until(client, name, timeout=10):
    while True:
        event, data = client.receive(timeout=timeout)
        if event == name:
            return data


def test_ticket_called_arrives_with_number_and_window(live_server):
    kiosk, clerk = live_server.devices["kiosk-1"], live_server.login("clerk1")
    board = _client(live_server)
    try:
        ack = board.call(ev.JOIN, {"hall": "kfs", "role": "board"})
        assert ack["ok"]
        snap = _until(board, ev.SNAPSHOT)
        assert snap["seq"] == ack["seq"] and snap["board"]["hall"]["code"] == "kfs"
        # window 1 opens first: a ticket is issued only for a service an open window serves
        assert live_server.api("POST", "/halls/kfs/windows/1/sign-in", clerk).status_code == 200
        t = live_server.api("POST", "/halls/kfs/tickets", kiosk, json={"service": "building_permit"}).json()
        assert live_server.api("POST", "/halls/kfs/windows/1/call-next", clerk).status_code == 200
        called = _until(board, ev.TICKET_CALLED)
        assert (called["number"], called["window"], called["service"]) == (t["number"], 1, "building_permit")
        assert called["seq"] > snap["seq"] and called["audio_url"].endswith(f"/calls/{called['call_id']}.wav")
    finally:
        board.disconnect()


def test_events_carry_a_gapless_seq_to_the_hall_room(live_server):
    kiosk, clerk = live_server.devices["kiosk-1"], live_server.login("clerk1")
    board = _client(live_server)
    try:
        board.call(ev.JOIN, {"hall": "kfs", "role": "board"})
        last = _until(board, ev.SNAPSHOT)["seq"]
        live_server.api("POST", "/halls/kfs/windows/1/sign-in", clerk)
        for _ in range(5):
            live_server.api("POST", "/halls/kfs/tickets", kiosk, json={"service": "building_permit"})
        live_server.api("POST", "/halls/kfs/windows/1/call-next", clerk)
        live_server.api("POST", "/halls/kfs/windows/1/start", clerk)
        live_server.api("POST", "/halls/kfs/windows/1/complete", clerk)
        final = live_server.api("GET", "/halls/kfs/board").json()["seq"]
        seen = set()
        while max(seen, default=last) < final:
            _, data = board.receive(timeout=10)
            if "seq" in data:
                seen.add(data["seq"])
        assert seen >= set(range(last + 1, final + 1)), "every change reaches the hall room"
    finally:
        board.disconnect()


def test_reconnect_gets_a_snapshot_matching_the_database(live_server):
    kiosk, clerk = live_server.devices["kiosk-1"], live_server.login("clerk2")
    # window 2 opens first, window 5 only for the rent payment: a ticket only for an open service
    assert live_server.api("POST", "/halls/kfs/windows/2/sign-in", clerk).status_code == 200
    with live_server.windows_open([5]):
        for service in ("building_permit", "violation_removal", "rent_payment"):
            assert live_server.api("POST", "/halls/kfs/tickets", kiosk, json={"service": service}).status_code == 201
    live_server.api("POST", "/halls/kfs/windows/2/call-next", clerk)
    c = _client(live_server)
    c.call(ev.JOIN, {"hall": "kfs", "role": "board"})
    _until(c, ev.SNAPSHOT)
    c.disconnect()
    # things happen while the board is away
    live_server.api("POST", "/halls/kfs/windows/2/start", clerk)
    live_server.api("POST", "/halls/kfs/windows/2/call-next", clerk)
    c = _client(live_server)
    try:
        c.call(ev.JOIN, {"hall": "kfs", "role": "board"})
        snap = _until(c, ev.SNAPSHOT)
        truth = live_server.api("GET", "/halls/kfs/board").json()
        assert snap["board"] == truth
        w2 = next(w for w in truth["windows"] if w["number"] == 2)
        assert w2["current"] == truth["calls"][0]["number"] and w2["status"] == "called"
        assert snap["queue"]["waiting"] == {"rent_payment": 1}
    finally:
        c.disconnect()


def test_join_errors_are_acknowledged_not_raised(live_server):
    c = _client(live_server)
    try:
        assert c.call(ev.JOIN, {"hall": "nope", "role": "board"})["error"]["code"] == "not_found"
        assert c.call(ev.JOIN, {"hall": "kfs", "role": "wizard"})["error"]["code"] == "invalid_role"
        assert c.call(ev.JOIN, {"hall": "kfs", "role": "counter"})["error"]["code"] == "unauthorized"
        assert c.call(ev.JOIN, "garbage")["error"]["code"] == "invalid_join"
        assert c.call(ev.JOIN, {"hall": "kfs", "role": "ticket", "token": "x" * 24})["error"]["code"] == "not_found"
    finally:
        c.disconnect()


def test_phone_gets_its_own_ticket_status(live_server):
    kiosk, clerk = live_server.devices["kiosk-1"], live_server.login("clerk1")
    # window 1 opens first: a ticket is issued only for a service an open window serves
    assert live_server.api("POST", "/halls/kfs/windows/1/sign-in", clerk).status_code == 200
    t = live_server.api("POST", "/halls/kfs/tickets", kiosk, json={"service": "building_permit"}).json()
    phone = _client(live_server)
    try:
        assert phone.call(ev.JOIN, {"hall": "kfs", "role": "ticket", "token": t["token"]})["ok"]
        snap = _until(phone, ev.SNAPSHOT)
        assert snap["ticket"]["number"] == t["number"] and "phone" not in snap["ticket"]
        live_server.api("POST", "/halls/kfs/windows/1/call-next", clerk)
        status = _until(phone, ev.TICKET_STATUS)
        assert (status["status"], status["window"], status["number"]) == ("called", 1, t["number"])
    finally:
        phone.disconnect()


def test_a_board_that_joins_with_its_token_is_tracked_and_its_loss_is_an_alert(live_server):
    import time
    sup = live_server.login("supervisor")
    board = _client(live_server)
    assert board.call(ev.JOIN, {"hall": "kfs", "role": "board", "auth": live_server.devices["board-1"]})["ok"]

    def board_state():
        devices = live_server.api("GET", "/halls/kfs/alerts", sup).json()["devices"]
        return next((d["status"] for d in devices if d["device"] == "board-1"), None)

    assert board_state() == "online"
    board.disconnect()
    deadline = time.monotonic() + 10
    while board_state() != "offline" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert board_state() == "offline"
    alerts = live_server.api("GET", "/halls/kfs/alerts", sup).json()
    assert any(a["code"].startswith("device") and "board-1" in str(a) for a in alerts["active"]), alerts
