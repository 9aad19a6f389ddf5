"""Helpers for the print and kiosk tests: a TCP printer peer, raster decoding, hall files, a listener."""
from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import socketio
from PIL import Image, ImageOps
from pyzbar import pyzbar

from hall_server import events as ev
from printer.backends import DLE_EOT_PAPER

ROOT = Path(__file__).resolve().parent.parent
GS_V0 = b"\x1dv0"
CUT = b"\x1dV"


def reserve_port() -> int:
    """A loopback port nobody listens on: connecting to it is refused, like a printer switched off."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrinterPeer:
    """A thermal printer on loopback TCP: records each job, answers the paper-status query.

    mode "record" keeps every job; "reset" accepts and closes with a TCP reset (a printer that
    drops the job). `port` may be fixed, so a printer can "come back" on the address it had.
    """

    def __init__(self, mode: str = "record", port: int = 0, status_byte: int = 0x12) -> None:
        self.mode, self.status_byte = mode, status_byte
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", port))
        self.server.listen()
        self.server.settimeout(0.05)
        self.port: int = self.server.getsockname()[1]
        self.jobs: list[bytes] = []
        self.status_queries = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                with conn:
                    self._handle(conn)
            except OSError:
                pass  # a client that resets us; keep serving

    def _handle(self, conn: socket.socket) -> None:
        if self.mode == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        conn.settimeout(10)
        data = bytearray()
        while chunk := conn.recv(65536):
            if not data and chunk == DLE_EOT_PAPER:
                conn.sendall(bytes([self.status_byte]))  # "paper present", as a TM printer answers
                with self._lock:
                    self.status_queries += 1
                continue
            data += chunk
        if data:
            with self._lock:
                self.jobs.append(bytes(data))

    def wait_jobs(self, n: int, timeout: float = 30.0) -> list[bytes]:
        """Wait until n jobs arrived; return them all."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.jobs) >= n:
                    return list(self.jobs)
            time.sleep(0.05)
        raise AssertionError(f"printer peer got {len(self.jobs)} jobs, expected {n}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.server.close()


def job_image(job: bytes) -> Image.Image:
    """The ticket picture a printer would print from an ESC/POS job (ESC @, GS v 0 blocks)."""
    assert job.startswith(b"\x1b@"), "a job starts by resetting the printer"
    pos, width, rows, raster = 2, None, 0, bytearray()
    while job.startswith(GS_V0, pos):
        xbytes, h = struct.unpack_from("<HH", job, pos + 4)
        width = xbytes * 8
        raster += job[pos + 8:pos + 8 + xbytes * h]
        rows += h
        pos += 8 + xbytes * h
    assert width, "no raster in the job"
    assert CUT in job[pos:], "the job ends with a cut"
    return ImageOps.invert(Image.frombytes("1", (width, rows), bytes(raster)).convert("L"))


def qr_texts(img: Image.Image) -> list[str]:
    """What a QR scanner reads off a ticket picture."""
    gray = ImageOps.expand(img.convert("L"), border=40, fill=255)
    return [d.data.decode() for d in pyzbar.decode(gray) if d.type == "QRCODE"]


def write_hall(folder: Path, devices: str) -> Path:
    """The default hall file with [[devices]] replaced by the given TOML (same hall code, kfs)."""
    text = (ROOT / "config" / "halls" / "kafr_saqr.toml").read_text(encoding="utf-8")
    text = text.split("[[devices]]")[0]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "hall.toml"
    path.write_text(text + "\n" + devices, encoding="utf-8")
    return path


class Listener:
    """A real Socket.IO client in a hall room (as supervisor) that keeps every event it hears."""

    def __init__(self, url: str, token: str, hall: str = "kfs", role: str = "supervisor") -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._cond = threading.Condition()
        self.sio = socketio.Client(reconnection=False, handle_sigint=False)
        self.sio.on("*", self._on_any)
        self.sio.connect(url, transports=["websocket"], wait_timeout=10)
        ack = self.sio.call(ev.JOIN, {"hall": hall, "role": role, "auth": token}, timeout=10)
        assert ack and ack.get("ok"), ack

    def _on_any(self, event: str, data: Any = None) -> None:
        with self._cond:
            self.events.append((event, data if isinstance(data, dict) else {}))
            self._cond.notify_all()

    def wait_for(self, event: str, pred: Callable[[dict[str, Any]], bool] = lambda d: True,
                 timeout: float = 30.0) -> dict[str, Any]:
        """The first event of that name matching pred (already heard or still to come)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for name, data in self.events:
                    if name == event and pred(data):
                        return data
                left = deadline - time.monotonic()
                if left <= 0:
                    heard = [(n, d) for n, d in self.events if n == event]
                    raise AssertionError(f"no matching {event} within {timeout}s; heard {heard}")
                self._cond.wait(left)

    def of(self, event: str) -> list[dict[str, Any]]:
        with self._cond:
            return [d for n, d in self.events if n == event]

    def close(self) -> None:
        self.sio.disconnect()
