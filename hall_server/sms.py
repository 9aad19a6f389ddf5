"""SMS: the gateway port, its backends (log, file, HTTP), segment counting, and when to send.

Sending happens on a worker thread after the commit: a slow or broken gateway never delays a
call or a ticket, and a failed message is retried, then logged.
"""
from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import requests

from hall_server import events as ev
from hall_server.application import HallApp, Outcome

log = logging.getLogger(__name__)

# GSM 03.38 basic character set (plus the escape table counted as two septets).
_GSM_BASIC = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                 "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM_EXT = set("^{}\\[~]|€\f")


class SmsError(RuntimeError):
    """The gateway refused or could not be reached."""


def sms_segments(text: str) -> tuple[str, int]:
    """(encoding, segments): GSM-7 160/153 septets, else UCS-2 70/67 characters (Arabic)."""
    if all(ch in _GSM_BASIC or ch in _GSM_EXT for ch in text):
        septets = sum(2 if ch in _GSM_EXT else 1 for ch in text)
        return "gsm7", 1 if septets <= 160 else -(-septets // 153)
    units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)  # UTF-16 code units
    return "ucs2", 1 if units <= 70 else -(-units // 67)


class SmsGateway(Protocol):
    """Sends one message; raises SmsError when it fails."""

    def send(self, phone: str, text: str) -> None: ...


class LogGateway:
    """Writes messages to the log: for a hall with no gateway yet, and for development."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, phone: str, text: str) -> None:
        self.sent.append((phone, text))
        log.info("SMS to %s…%s (%s, %d segment(s)): %s", phone[:3], phone[-2:], *sms_segments(text), text)


class FileGateway:
    """Appends each message as a JSON line to a file (for audits and tests)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def send(self, phone: str, text: str) -> None:
        encoding, segments = sms_segments(text)
        line = json.dumps({"to": phone, "text": text, "encoding": encoding, "segments": segments,
                           "at": datetime.now(UTC).isoformat()}, ensure_ascii=False)
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


class HttpGateway:
    """An HTTP SMS gateway: form POST of to, text, sender with basic auth; retries on failure."""

    def __init__(self, url: str, username: str = "", password: str = "", sender: str = "",
                 attempts: int = 3, backoff: float = 0.5, timeout: float = 10.0) -> None:
        self.url, self.sender, self.attempts, self.backoff, self.timeout = url, sender, attempts, backoff, timeout
        self.auth = (username, password) if username else None
        self.session = requests.Session()

    def send(self, phone: str, text: str) -> None:
        last = ""
        for attempt in range(self.attempts):
            try:
                r = self.session.post(self.url, data={"to": phone, "text": text, "sender": self.sender},
                                      auth=self.auth, timeout=self.timeout)
                if r.status_code < 300:
                    return
                last = f"HTTP {r.status_code}: {r.text[:200]}"
                if 400 <= r.status_code < 500 and r.status_code != 429:
                    break  # the gateway refuses this message: retrying will not help
            except requests.RequestException as exc:
                last = str(exc)
            time.sleep(self.backoff * (2 ** attempt))
        raise SmsError(f"SMS gateway failed after retries: {last}")


def make_gateway(cfg: Mapping[str, Any], data_dir: Path) -> SmsGateway | None:
    """The gateway a hall's [sms] table names (None for backend "none")."""
    backend = cfg.get("backend", "log")
    if backend == "none":
        return None
    if backend == "log":
        return LogGateway()
    if backend == "file":
        return FileGateway(Path(cfg.get("path") or data_dir / "sms.jsonl"))
    if backend == "http":
        if not cfg.get("url"):
            raise ValueError("[sms] backend = \"http\" needs url")
        return HttpGateway(cfg["url"], cfg.get("username", ""), cfg.get("password", ""), cfg.get("sender", ""),
                           int(cfg.get("attempts", 3)))
    raise ValueError(f"[sms] backend: unknown {backend!r}")


@dataclass
class _Message:
    hall: str
    phone: str
    text: str
    kind: str


class SmsOutbox:
    """A worker thread that sends queued messages through each hall's gateway."""

    def __init__(self, gateways: Mapping[str, SmsGateway | None]) -> None:
        self.gateways = dict(gateways)
        self.q: queue.Queue[_Message | None] = queue.Queue()
        self.failed: list[tuple[_Message, str]] = []
        self._thread = threading.Thread(target=self._run, name="sms-outbox", daemon=True)
        self._thread.start()

    def put(self, hall: str, phone: str, text: str, kind: str) -> None:
        if self.gateways.get(hall) is not None:
            self.q.put(_Message(hall, phone, text, kind))

    def _run(self) -> None:
        while (msg := self.q.get()) is not None:
            try:
                self.gateways[msg.hall].send(msg.phone, msg.text)  # type: ignore[union-attr]
            except Exception as exc:  # noqa: BLE001 - one bad message must not stop the outbox
                log.error("SMS (%s) to %s…%s not sent: %s", msg.kind, msg.phone[:3], msg.phone[-2:], exc)
                self.failed.append((msg, str(exc)))
            finally:
                self.q.task_done()

    def join(self) -> None:
        """Wait until everything queued so far was tried (tests)."""
        self.q.join()


class SmsNotifier:
    """Decides what to send after a commit: on call, near one's turn, and on file changes."""

    def __init__(self, app: HallApp, outbox: SmsOutbox) -> None:
        self.app, self.outbox = app, outbox

    def _template(self, hall: str, name: str) -> str | None:
        return self.app.hall(hall).sms.get("templates", {}).get(name)

    def _send(self, hall: str, phone: str, name: str, **values: Any) -> None:
        tpl = self._template(hall, name)
        if tpl:
            h = self.app.hall(hall)
            self.outbox.put(hall, phone, tpl.format(hall=h.name_ar, **values), name)

    def __call__(self, outcome: Outcome) -> None:
        for job, payload in outcome.after:
            if job == "sms_called":
                self._send(payload["hall"], payload["phone"], "called", number=payload["number"],
                           window=payload["window"])
            elif job == "sms_file":
                self._send(payload["hall"], payload["phone"], payload["status"], file=payload["file"],
                           reason=payload.get("reason", ""))
        # the near-turn scan is a write: only for a hall that has a gateway to send through
        if outcome.hall and self.outbox.gateways.get(outcome.hall) is not None \
                and any(e.event == ev.TICKET_CALLED for e in outcome.emits):
            ahead_max = int(self.app.hall(outcome.hall).sms.get("near_ahead", 3))
            for t in self.app.take_near_turn(outcome.hall, ahead_max):
                self._send(outcome.hall, t["phone"], "near", number=t["number"], ahead=t["ahead"])
