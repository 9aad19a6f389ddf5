"""Call-next to the call's first audio sample being ready, for boards and for the announcer.

Boards: a Socket.IO client in the hall (as a board is) receives `ticket_called` and at once
fetches `audio_url`, as board.js does; "ready" = the first sample (byte 45 on) arrives. The server
has pre-rendered the WAV right after the commit, or renders it on that request.
Announcer: the same event, then hall-announcer's own path: render_call from a local clip cache.

Each call-next names a ticket number never spoken before ("cold": its number clip must be
synthesised); each is then recalled ("warm": every clip is cached, only the join remains).
Usage: .venv/bin/python bench/bench_audio.py [--calls 30] [--engines pyttsx3,espeak,none]
                                             [--async-mode gevent]
"""
from __future__ import annotations

import argparse
import logging
import queue
import shutil
import tempfile
import time
from pathlib import Path

import requests
import socketio

from audio.synth import ClipCache, make_engine, render_call
from common import peak_rss_mib, start_server, summary
from hall_server import events as ev


def first_sample_ms(url: str, t0: float) -> float:
    """Fetch a WAV and return when its first sample arrived (ms after t0)."""
    with requests.get(url, stream=True, timeout=60) as r:
        r.raise_for_status()
        got = 0
        for chunk in r.iter_content(chunk_size=64):
            got += len(chunk)
            if got > 44:   # past the RIFF header: a sample
                return (time.perf_counter() - t0) * 1000
    raise RuntimeError(f"empty WAV at {url}")


def run(engine: str, async_mode: str, calls: int) -> None:
    server = start_server(async_mode, env={"HALL_TTS_ENGINE": engine})
    events: queue.SimpleQueue = queue.SimpleQueue()
    sio = socketio.Client(reconnection=False)
    sio.on(ev.TICKET_CALLED, lambda data: events.put((time.perf_counter(), data)))
    local_dir = Path(tempfile.mkdtemp(prefix="hall-bench-announcer-"))
    local = ClipCache(local_dir / "cache", make_engine(engine))
    try:
        sio.connect(server.url, transports=["websocket"])
        assert sio.call(ev.JOIN, {"hall": "kfs", "role": "board"}, timeout=30)["ok"]
        kiosk = server.devices["kiosk-1"]
        clerk = server.open_windows([9])[9]  # signed in first: tickets only for an open service
        for _ in range(calls):
            server.api("POST", "/halls/kfs/tickets", kiosk, json={"service": "file_documents"}).raise_for_status()
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {clerk}"
        base = f"{server.url}/api/v1/halls/kfs/windows/9"
        figures: dict[str, list[float]] = {k: [] for k in (
            "event", "board cold", "board warm", "announcer cold", "announcer warm")}
        for i in range(calls):
            if i:
                s.post(base + "/start", timeout=30).raise_for_status()
            for action, kind in (("call-next", "cold"), ("recall", "warm")):
                time.sleep(0.5)   # calls are seconds apart in a hall; let the last render finish
                t0 = time.perf_counter()
                s.post(f"{base}/{action}", timeout=30).raise_for_status()
                t_event, call = events.get(timeout=30)
                figures["event"].append((t_event - t0) * 1000)
                figures[f"board {kind}"].append(first_sample_ms(server.url + call["audio_url"], t0))
                t1 = time.perf_counter()
                render_call(call["number"], call["window"], "ar", local, local_dir / f"{call['call_id']}.wav")
                figures[f"announcer {kind}"].append((t_event - t0 + time.perf_counter() - t1) * 1000)
        print(f"engine={engine} async_mode={async_mode}:")
        print(summary("  call-next -> ticket_called received      ", figures["event"]))
        for kind in ("cold", "warm"):
            print(summary(f"  board: first sample at audio_url, {kind}  ", figures[f"board {kind}"]))
        for kind in ("cold", "warm"):
            print(summary(f"  announcer: local WAV ready, {kind}        ", figures[f"announcer {kind}"]))
        cur, peak = peak_rss_mib(server.pid())
        print(f"  server RSS {cur:.0f} MiB (peak {peak:.0f} MiB)")
    finally:
        sio.disconnect()
        server.stop()
        shutil.rmtree(local_dir, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=30)
    p.add_argument("--engines", default="pyttsx3,none")
    p.add_argument("--async-mode", default="gevent", choices=("gevent", "eventlet", "threading"))
    args = p.parse_args()
    logging.getLogger("audio.synth").setLevel(logging.CRITICAL)   # "none" logs each chime-only call
    for engine in args.engines.split(","):
        run(engine, args.async_mode, args.calls)


if __name__ == "__main__":
    main()
