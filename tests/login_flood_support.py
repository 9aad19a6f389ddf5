"""A login flood against a live server while kiosks issue tickets (the test and the bench share it).

The flooders post wrong passwords as fast as the server answers. `spoof=True` gives every attempt
a new user name and a new X-Forwarded-For address (the server trusts that header from loopback, as
from its nginx): no limit stops them, so every attempt costs a password hash and only the bounded
hashing pool stands between the flood and the event loop. `spoof=False` is the plain flood of the
issue: one address, one user, stopped by the limits after a few attempts.
"""
from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import requests

SERVICES = ("building_permit", "violation_removal", "general_inquiry")


@dataclass
class Flood:
    """Flooding clients in threads; `statuses` counts the answers they got."""

    url: str
    clients: int = 4
    spoof: bool = True
    statuses: Counter = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _run(self, k: int) -> None:
        s = requests.Session()
        for i in itertools.count():
            if self._stop.is_set():
                return
            user, headers = "clerk1", {}
            if self.spoof:
                user = f"ghost{k}x{i}"
                headers["X-Forwarded-For"] = f"10.{k}.{i // 250 % 250}.{i % 250 + 1}"
            try:
                r = s.post(self.url + "/api/v1/auth/login", json={"username": user, "password": "wrong-guess"},
                           headers=headers, timeout=30)
                status = r.status_code
            except requests.RequestException:
                status = 0
            with self._lock:
                self.statuses[status] += 1

    def __enter__(self) -> Flood:
        self._threads = [threading.Thread(target=self._run, args=(k,), daemon=True) for k in range(self.clients)]
        for t in self._threads:
            t.start()
        time.sleep(1.0)  # the flood is under way before anything is measured
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)


def issue(url: str, kiosk_token: str, kiosks: int, per_kiosk: int, pause_s: float = 0.05,
          timeout_s: float = 30.0) -> tuple[list[float], list[str]]:
    """`kiosks` threads each issue `per_kiosk` tickets; (latencies in ms, errors)."""
    ms: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def kiosk(k: int) -> None:
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {kiosk_token}"
        for i in range(per_kiosk):
            t0 = time.perf_counter()
            try:
                r = s.post(url + "/api/v1/halls/kfs/tickets", json={"service": SERVICES[i % len(SERVICES)]},
                           timeout=timeout_s)
                ok = r.status_code == 201
                err = "" if ok else f"{r.status_code} {r.text[:200]}"
            except requests.RequestException as exc:
                ok, err = False, repr(exc)
            with lock:
                if ok:
                    ms.append((time.perf_counter() - t0) * 1000)
                else:
                    errors.append(err)
            time.sleep(pause_s)  # citizens tap; a kiosk is no busy loop

    threads = [threading.Thread(target=kiosk, args=(k,)) for k in range(kiosks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout_s * per_kiosk + 60)
    return ms, errors
