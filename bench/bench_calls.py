"""Call-next to `ticket_called` received, with 100 and 1,000 connected Socket.IO clients.

Every client joins the hall as a board; a clerk calls; the latency is measured from sending
call-next to each client's receipt of the event. Usage: .venv/bin/python bench/bench_calls.py
"""
from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp
import requests
import socketio

from common import peak_rss_mib, start_server, summary
from hall_server import events as ev


async def connect_clients(url: str, n: int, received: dict[int, list[float]]) -> list[socketio.AsyncClient]:
    clients = []
    sem = asyncio.Semaphore(50)

    async def one(i: int) -> None:
        async with sem:
            c = socketio.AsyncClient(reconnection=False)

            @c.on(ev.TICKET_CALLED)
            async def _called(data, _c=c):
                received.setdefault(data["call_id"], []).append(time.perf_counter())

            await c.connect(url, transports=["websocket"])
            ack = await c.call(ev.JOIN, {"hall": "kfs", "role": "board"}, timeout=60)
            assert ack["ok"], ack
            clients.append(c)

    await asyncio.gather(*(one(i) for i in range(n)))
    return clients


async def measure(server, n_clients: int, calls: int) -> list[float]:
    received: dict[int, list[float]] = {}
    clients = await connect_clients(server.url, n_clients, received)
    clerk = server.login("clerk1")
    kiosk = server.devices["kiosk-1"]
    lat: list[float] = []
    async with aiohttp.ClientSession() as http:
        h = {"Authorization": f"Bearer {clerk}"}
        await http.post(f"{server.url}/api/v1/halls/kfs/windows/1/sign-in", headers=h)
        for _ in range(calls):
            await http.post(f"{server.url}/api/v1/halls/kfs/tickets", json={"service": "building_permit"},
                            headers={"Authorization": f"Bearer {kiosk}"})
        for _ in range(calls):
            await asyncio.sleep(0.2)
            t0 = time.perf_counter()
            async with http.post(f"{server.url}/api/v1/halls/kfs/windows/1/call-next", headers=h) as r:
                call_id = None
                assert r.status == 200, await r.text()
            deadline = time.perf_counter() + 30
            while time.perf_counter() < deadline:
                done = [k for k, v in received.items() if len(v) >= n_clients and k not in (call_id,)]
                if done:
                    break
                await asyncio.sleep(0.005)
            (call_id, stamps), = list(received.items())
            received.clear()
            lat.extend((t - t0) * 1000 for t in stamps)
            assert len(stamps) == n_clients, f"{len(stamps)} of {n_clients} clients got the call"
            await http.post(f"{server.url}/api/v1/halls/kfs/windows/1/start", headers=h)
    await asyncio.gather(*(c.disconnect() for c in clients))
    return lat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--async-mode", default="gevent")
    args = ap.parse_args()
    server = start_server(args.async_mode)
    try:
        print(f"# call-next -> ticket_called received, server async_mode={args.async_mode}")
        for n in (100, 1000):
            lat = asyncio.run(measure(server, n, args.calls))
            print(summary(f"{n:>4} clients x {args.calls} calls", lat))
            cur, peak = peak_rss_mib(server.pid())
            print(f"     server memory with {n} clients: rss={cur:.0f} MiB peak={peak:.0f} MiB")
    finally:
        server.stop()
    requests.Session().close()


if __name__ == "__main__":
    main()
