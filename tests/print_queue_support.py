"""Helpers for the print-queue tests: a loopback printer the test can hold, and an event recorder."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from hall_server import events as ev
from printer.backends import DLE_EOT_PAPER


class HeldPrinter:
    """A thermal printer on loopback TCP that accepts a job but takes none of it until released.

    Its receive buffer is small, so a held job cannot hide in the kernel either: the sender stays
    stuck in the job (as with a printer that is busy or stalled) until `release()`. After that it
    reads every job to the end and keeps its bytes, one entry per connection, in arrival order.
    `port` may be fixed, so a printer can "come back" on the address a refused one had.
    """

    def __init__(self, held: bool = True, port: int = 0) -> None:
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Inherited by accepted sockets: a 4 KiB window, far smaller than a ticket's raster job.
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.server.bind(("127.0.0.1", port))
        self.server.listen(16)
        self.server.settimeout(0.05)  # poll, so close() stops the thread promptly
        self.port: int = self.server.getsockname()[1]
        self.jobs: list[bytes] = []
        self.connections = 0
        self.accepted = threading.Event()   # a connection is in: the sender is held by us
        self._released = threading.Event()
        if not held:
            self._released.set()
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def released(self) -> bool:
        return self._released.is_set()

    def release(self) -> None:
        """Start taking data: the held job and every later one print."""
        self._released.set()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._cond:
                self.connections += 1
            self.accepted.set()
            try:
                with conn:
                    self._handle(conn)
            except OSError:
                pass  # a sender that gave up and reset us; keep serving

    def _handle(self, conn: socket.socket) -> None:
        while not self._released.wait(0.05):
            if self._stop.is_set():
                return
        conn.settimeout(30)
        data = bytearray()
        while chunk := conn.recv(65536):
            if not data and chunk == DLE_EOT_PAPER:
                conn.sendall(b"\x12")  # a paper-status query: "paper present"
                continue
            data += chunk
        if data:
            with self._cond:
                self.jobs.append(bytes(data))
                self._cond.notify_all()

    def wait_jobs(self, n: int, timeout: float = 60.0) -> list[bytes]:
        """Wait until n jobs arrived; return them all (in arrival order)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.jobs) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"printer got {len(self.jobs)} jobs, expected {n}")
                self._cond.wait(left)
            return list(self.jobs)

    def close(self) -> None:
        self._stop.set()
        self._released.set()
        self._thread.join(timeout=10)
        self.server.close()


class Emitted:
    """The `emit` of an in-process PrintDispatcher: keeps every push, lets a test wait for one."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any], str]] = []
        self._cond = threading.Condition()

    def __call__(self, event: str, payload: dict[str, Any], room: str) -> None:
        with self._cond:
            self.sent.append((event, payload, room))
            self._cond.notify_all()

    def __getitem__(self, i: int) -> tuple[str, dict[str, Any], str]:
        with self._cond:
            return self.sent[i]

    def __len__(self) -> int:
        with self._cond:
            return len(self.sent)

    def statuses(self) -> list[dict[str, Any]]:
        with self._cond:
            return [p for e, p, _ in self.sent if e == ev.PRINT_STATUS]

    def status_of(self, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """The `print_status` of a job (the first one heard), waiting for it."""
        return self.wait(lambda p: p["job_id"] == job_id, timeout)

    def wait(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for e, p, _ in self.sent:
                    if e == ev.PRINT_STATUS and pred(p):
                        return p
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching print_status within {timeout}s; heard {self.statuses()}")
                self._cond.wait(left)
