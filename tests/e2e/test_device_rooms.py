"""Devices act only as themselves: print rooms, status reports (least privilege, issue 12)."""
from __future__ import annotations

import socketio

from hall_server import events as ev


def _client(server):
    c = socketio.SimpleClient()
    c.connect(server.url, transports=["websocket"])
    return c


def _join(server, token, **extra):
    c = _client(server)
    try:
        return c.call(ev.JOIN, {"hall": "kfs", "role": "printer", "auth": token, **extra})
    finally:
        c.disconnect()


def test_a_token_prints_only_for_its_own_kiosk(live_server):
    s = live_server
    from hall_server.application.auth import Auth
    from hall_server.storage import make_engine
    engine = make_engine(s.database_url)
    try:
        kiosk_token = Auth(engine).add_device("kfs", "kiosk-2", "kiosk")
    finally:
        engine.dispose()
    # a kiosk token may take its own print jobs, never another kiosk's
    assert _join(s, kiosk_token)["ok"]
    assert _join(s, kiosk_token, device="kiosk-2")["ok"]
    refused = _join(s, kiosk_token, device="kiosk-1")
    assert not refused["ok"] and refused["error"]["code"] == "forbidden"
    # a print agent's token prints for the kiosk the hall file binds it to, and for no other
    assert _join(s, s.devices["printer-1"], device="kiosk-1")["ok"]
    refused = _join(s, s.devices["printer-1"], device="kiosk-2")
    assert not refused["ok"] and refused["error"]["code"] == "forbidden"
    # a board token is no print agent at all
    assert not _join(s, s.devices["board-1"], device="kiosk-1")["ok"]


def test_devices_report_only_known_states_as_plain_bounded_text(live_server):
    s = live_server
    sup = _client(s)
    agent = _client(s)
    try:
        assert sup.call(ev.JOIN, {"hall": "kfs", "role": "supervisor", "auth": s.login("supervisor")})["ok"]
        assert agent.call(ev.JOIN, {"hall": "kfs", "role": "printer", "auth": s.devices["printer-1"],
                                    "device": "kiosk-1"})["ok"]
        bad = agent.call(ev.REPORT_STATUS, {"status": "<img src=x onerror=alert(1)>", "detail": "x"})
        assert not bad["ok"] and bad["error"]["code"] == "invalid_status"
        assert not agent.call(ev.REPORT_STATUS, {"status": "offline", "detail": {"html": 1}})["ok"]
        long_detail = "paper\\n" + "y" * 1000 + "\\x00"
        assert agent.call(ev.REPORT_STATUS, {"status": "paper_out", "detail": long_detail})["ok"]
        while True:
            event, data = sup.receive(timeout=10)
            if event == ev.DEVICE_STATUS and data["status"] == "paper_out":
                break
        assert data["device"] == "printer-1" and len(data["detail"]) <= 200
        assert all(ch.isprintable() for ch in data["detail"])
        # a board that never joined as a device cannot report at all
        board = _client(s)
        try:
            assert board.call(ev.JOIN, {"hall": "kfs", "role": "board"})["ok"]
            assert not board.call(ev.REPORT_STATUS, {"status": "online"})["ok"]
        finally:
            board.disconnect()
    finally:
        agent.disconnect()
        sup.disconnect()
