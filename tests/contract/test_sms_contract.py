"""The SMS gateway port (hall_server.sms.SmsGateway): every backend, one contract.

Each backend is built by make_gateway from a hall's [sms] table and sends to a real target: the log
(log), a JSON-lines file (file), an HTTP gateway on loopback (http). send() returns when the message
is accepted and raises SmsError when it is not; the text arrives whole and unchanged (Arabic,
newlines, long messages); messages are counted GSM-7 160/153 or UCS-2 70/67 (sms_segments).
"""
from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from hall_server.sms import FileGateway, HttpGateway, LogGateway, SmsError, SmsOutbox, make_gateway, sms_segments

PHONE = "01012345678"
ARABIC = "التذكرة A-023: تفضل إلى الشباك رقم ٥."


class GatewayPeer:
    """An SMS gateway on loopback: records each form POST; answers 200, or the statuses it is told."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.statuses: list[int] = []  # the next answers (then 200)
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode("utf-8")
                form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
                status = peer.statuses.pop(0) if peer.statuses else 200
                peer.received.append({"form": form, "auth": self.headers.get("Authorization"),
                                      "status": status, "type": self.headers.get("Content-Type")})
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"OK" if status < 300 else b"refused")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/send"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


@dataclass
class Target:
    """A gateway wired to its target, and what arrived there: (phone, text) in order."""

    gateway: Any
    delivered: Callable[[], list[tuple[str, str]]]
    counted: Callable[[], list[tuple[str, int]]] | None  # (encoding, segments) per message, if recorded
    broken: Callable[[], Any] | None = None  # the same backend whose target refuses


def _log(tmp_path: Path, caplog) -> Iterator[Target]:
    caplog.set_level(logging.INFO, logger="hall_server.sms")
    gateway = make_gateway({"backend": "log"}, tmp_path)

    def counted() -> list[tuple[str, int]]:
        out = []
        for r in caplog.records:
            if r.name == "hall_server.sms" and r.getMessage().startswith("SMS to "):
                encoding, segments = r.args[2], r.args[3]
                out.append((encoding, segments))
        return out

    yield Target(gateway, lambda: list(gateway.sent), counted)


def _file(tmp_path: Path, caplog) -> Iterator[Target]:
    path = tmp_path / "sms" / "out.jsonl"
    gateway = make_gateway({"backend": "file", "path": str(path)}, tmp_path)

    def lines() -> list[dict[str, Any]]:
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text("utf-8").splitlines()]

    def broken() -> Any:
        folder = tmp_path / "a-folder.jsonl"
        folder.mkdir()
        return make_gateway({"backend": "file", "path": str(folder)}, tmp_path)

    yield Target(gateway, lambda: [(d["to"], d["text"]) for d in lines()],
                 lambda: [(d["encoding"], d["segments"]) for d in lines()], broken)


def _http(tmp_path: Path, caplog) -> Iterator[Target]:
    peer = GatewayPeer()
    cfg = {"backend": "http", "url": peer.url, "username": "kfs", "password": "s3cret", "sender": "KFS",
           "attempts": 2}
    gateway = make_gateway(cfg, tmp_path)

    def delivered() -> list[tuple[str, str]]:
        return [(r["form"]["to"], r["form"]["text"]) for r in peer.received if r["status"] < 300]

    def broken() -> Any:
        peer.statuses = [400]  # the gateway refuses this message: no retry helps
        return gateway

    try:
        yield Target(gateway, delivered, None, broken)
        ok = [r for r in peer.received if r["status"] < 300]
        assert all(r["form"]["sender"] == "KFS" for r in ok)
        assert all(r["auth"] == "Basic " + base64.b64encode(b"kfs:s3cret").decode() for r in peer.received)
    finally:
        peer.close()


BACKENDS = {"log": (_log, LogGateway), "file": (_file, FileGateway), "http": (_http, HttpGateway)}


@pytest.fixture(params=sorted(BACKENDS))
def target(request, tmp_path, caplog) -> Iterator[Target]:
    make, _ = BACKENDS[request.param]
    yield from make(tmp_path, caplog)


def test_the_factory_builds_the_backend_the_hall_names(request, target):
    backend = request.node.callspec.params["target"]
    assert isinstance(target.gateway, BACKENDS[backend][1])
    assert make_gateway({"backend": "none"}, Path(".")) is None, "backend none: the hall sends nothing"


def test_send_returns_and_the_text_arrives_whole(target):
    assert target.gateway.send(PHONE, ARABIC) is None
    assert target.delivered() == [(PHONE, ARABIC)]


@pytest.mark.parametrize("text", [
    "Your ticket A-023: window 5",
    "سطر أول\nسطر ثان: الملف 2026-000123",
    "رمز € و {قوس} و emoji 🙂",
], ids=["gsm7", "arabic-newline", "escapes-and-astral"])
def test_content_is_not_changed_on_the_way(target, text):
    target.gateway.send(PHONE, text)
    assert target.delivered() == [(PHONE, text)]


# Arabic is sent as UCS-2: 70 characters fit one message, beyond that each part carries 67.
UCS2_CASES = [(70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)]


@pytest.mark.parametrize("length,segments", UCS2_CASES)
def test_ucs2_messages_are_delivered_whole_and_counted_70_67(target, length, segments):
    text = ("ب" * length)
    assert sms_segments(text) == ("ucs2", segments)
    target.gateway.send(PHONE, text)
    assert target.delivered() == [(PHONE, text)], "never truncated or split by the backend"
    if target.counted is not None:
        assert target.counted() == [("ucs2", segments)]


def test_gsm7_and_astral_characters_are_counted_by_their_rules(target):
    messages = ["a" * 160, "a" * 161, "€" * 80, "🙂" * 35, "🙂" * 36]
    expected = [("gsm7", 1), ("gsm7", 2), ("gsm7", 1), ("ucs2", 1), ("ucs2", 2)]  # € is 2 septets; 🙂 2 units
    assert [sms_segments(m) for m in messages] == expected
    for m in messages:
        target.gateway.send(PHONE, m)
    assert target.delivered() == [(PHONE, m) for m in messages]
    if target.counted is not None:
        assert target.counted() == expected


def test_messages_arrive_in_the_order_sent_through_the_outbox(target):
    outbox = SmsOutbox({"kfs": target.gateway})
    texts = [f"التذكرة A-{i:03d}" for i in range(1, 6)]
    for t in texts:
        outbox.put("kfs", PHONE, t, "called")
    outbox.join()
    assert target.delivered() == [(PHONE, t) for t in texts]
    assert outbox.failed == []


def test_a_refused_message_raises_sms_error(request, target):
    if target.broken is None:
        pytest.skip("the log backend cannot refuse a message")
    gateway = target.broken()
    with pytest.raises(SmsError):
        gateway.send(PHONE, ARABIC)
    assert target.delivered() == []


def test_the_http_gateway_retries_a_server_error_then_succeeds(tmp_path):
    peer = GatewayPeer()
    try:
        peer.statuses = [503]
        gateway = make_gateway({"backend": "http", "url": peer.url, "attempts": 2}, tmp_path)
        gateway.send(PHONE, ARABIC)
        assert [r["status"] for r in peer.received] == [503, 200]
        assert peer.received[-1]["form"] == {"to": PHONE, "text": ARABIC, "sender": ""}
        assert peer.received[-1]["auth"] is None, "no username: no basic auth"
    finally:
        peer.close()


def test_an_unreachable_http_gateway_raises_sms_error(tmp_path):
    peer = GatewayPeer()
    url = peer.url
    peer.close()  # nothing listens there any more
    gateway = make_gateway({"backend": "http", "url": url, "attempts": 1}, tmp_path)
    with pytest.raises(SmsError, match="after retries"):
        gateway.send(PHONE, ARABIC)
