"""A process of Socket.IO clients for bench_core.py: N asyncio clients joined to a hall as boards.

Run as a child process (`python bench/core_clients.py --url URL --n 250`). It talks to its parent
with one JSON object per line:

  stdout  {"ready": connected, "failed": failed, "secs": s}    once every client has tried to join
          {"done": number}          every connected client has received `ticket_called` for number
          {"dump": {number: [t, ...]}}   answer to DUMP: receipt times (time.time()) per ticket number
          {"left": n}               answer to LEAVE: every client has disconnected
  stdin   DUMP | LEAVE | EXIT       (EOF counts as EXIT)

Receipt times are time.time() on this machine, so the parent compares them with the time.time()
at which it sent the call-next request.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import socketio

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hall_server import events as ev  # noqa: E402


def say(obj: dict) -> None:
    """One line to the parent."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Crowd:
    """N board clients of one hall and what they received."""

    def __init__(self, url: str, hall: str, role: str) -> None:
        self.url, self.hall, self.role = url, hall, role
        self.clients: list[socketio.AsyncClient] = []
        self.received: dict[str, list[float]] = defaultdict(list)
        self.failed = 0
        self.errors: list[str] = []

    def _on_called(self, data: dict) -> None:
        now = time.time()
        number = str(data.get("number"))
        stamps = self.received[number]
        stamps.append(now)
        if len(stamps) == len(self.clients):
            say({"done": number})

    async def _one(self, sem: asyncio.Semaphore) -> None:
        async with sem:
            c = socketio.AsyncClient(reconnection=False)
            c.on(ev.TICKET_CALLED, self._on_called)
            try:
                await c.connect(self.url, transports=["websocket"], wait_timeout=60)
                ack = await c.call(ev.JOIN, {"hall": self.hall, "role": self.role}, timeout=120)
                if not (isinstance(ack, dict) and ack.get("ok")):
                    raise RuntimeError(f"join refused: {ack}")
            except Exception as exc:  # noqa: BLE001 - counted and reported, the bench goes on
                self.failed += 1
                if len(self.errors) < 3:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                with contextlib.suppress(Exception):
                    await c.disconnect()
                return
            self.clients.append(c)

    async def join(self, n: int, concurrency: int) -> None:
        sem = asyncio.Semaphore(concurrency)
        t0 = time.perf_counter()
        await asyncio.gather(*(self._one(sem) for _ in range(n)))
        say({"ready": len(self.clients), "failed": self.failed, "errors": self.errors,
             "secs": round(time.perf_counter() - t0, 2)})

    async def leave(self) -> None:
        await asyncio.gather(*(c.disconnect() for c in self.clients), return_exceptions=True)
        n = len(self.clients)
        self.clients.clear()
        say({"left": n})


async def run(args: argparse.Namespace) -> None:
    crowd = Crowd(args.url, args.hall, args.role)
    await crowd.join(args.n, args.concurrency)
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if line == "DUMP":
            say({"dump": dict(crowd.received)})
            crowd.received.clear()
        elif line == "LEAVE":
            await crowd.leave()
        elif line in ("EXIT", ""):
            break
    if crowd.clients:
        await crowd.leave()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--hall", default="kfs")
    ap.add_argument("--role", default="board")
    ap.add_argument("--concurrency", type=int, default=25, help="clients connecting at the same time")
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
