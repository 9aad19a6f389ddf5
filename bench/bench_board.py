"""Call-next to the display board's DOM update, with 1 and 20 boards open in real Chromium.

Each board page (Debian's Chromium, headless) gets a MutationObserver on the big "now" panel that
stamps the wall-clock time (performance.timeOrigin + performance.now()) when the called number
appears, and again at the next animation frame (when it is painted). A clerk then calls one
ticket at a time; latency = that stamp minus the moment just before the call-next request was
sent (same machine, same clock). Boards are muted by default (no autoplay), so the figure is the
screen path only; --sound lets every board fetch and play each call's WAV too.

All boards run in one headless Chromium on the benchmark machine (software rendering), so with
20 boards the figure includes 20 pages repainting on the same CPU; on site each TV has its own.
Usage: .venv/bin/python bench/bench_board.py [--calls 40] [--boards 1,20] [--gap 1.5] [--sound]
                                             [--async-mode gevent]
"""
from __future__ import annotations

import argparse
import os
import shutil
import time

import requests

from common import peak_rss_mib, start_server, summary

OBSERVE = """() => {
  window.__marks = [];
  const now = document.getElementById('now-number');
  new MutationObserver(() => {
    const text = now.textContent, t = performance.timeOrigin + performance.now();
    requestAnimationFrame(() => window.__marks.push({text, dom: t, frame: performance.timeOrigin + performance.now()}));
  }).observe(now, {childList: true, characterData: true, subtree: true});
}"""


def open_boards(browser, url: str, token: str, n: int, sound: bool) -> list:
    pages = []
    ctx = browser.new_context(viewport={"width": 1920, "height": 1080})
    for _ in range(n):
        page = ctx.new_page()
        page.goto(f"{url}/board/kfs?device={token}&digits=western" + ("&autoplay=1" if sound else ""))
        page.wait_for_function("document.body.dataset.seq !== undefined", timeout=60000)
        page.evaluate(OBSERVE)
        pages.append(page)
    return pages


def measure(server, pages: list, calls: int, window: int, service: str,
            gap: float) -> tuple[list[float], list[float], list[float]]:
    kiosk = server.devices["kiosk-1"]
    clerk = server.open_windows([window])[window]  # signed in first: tickets only for an open service
    for _ in range(calls):
        server.api("POST", "/halls/kfs/tickets", kiosk, json={"service": service}).raise_for_status()
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {clerk}"
    base = f"{server.url}/api/v1/halls/kfs/windows/{window}"
    dom: list[float] = []
    frame: list[float] = []
    http: list[float] = []
    for i in range(calls):
        if i:
            s.post(base + "/start", timeout=30).raise_for_status()   # not timed: next call-next finishes it
        time.sleep(gap)   # calls are seconds apart in a hall; a new call blinks for 3.3 s
        t0 = time.time() * 1000
        r = s.post(base + "/call-next", timeout=30)
        r.raise_for_status()
        http.append(time.time() * 1000 - t0)
        number = r.json()["number"]
        for page in pages:
            mark = page.wait_for_function(
                "(n) => window.__marks.find(m => m.text === n)", arg=number, timeout=60000).json_value()
            dom.append(mark["dom"] - t0)
            frame.append(mark["frame"] - t0)
    return dom, frame, http


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=40)
    p.add_argument("--boards", default="1,20")
    p.add_argument("--async-mode", default="gevent", choices=("gevent", "eventlet", "threading"))
    p.add_argument("--sound", action="store_true", help="boards fetch and play every call's WAV too")
    p.add_argument("--gap", type=float, default=1.5, help="seconds between two calls")
    args = p.parse_args()
    from playwright.sync_api import sync_playwright

    from tests.conftest import CHROMIUM_ARGS  # the browser flags the tests use
    exe = shutil.which("chromium") or "/usr/bin/chromium"
    print(f"board DOM latency: {args.calls} calls {args.gap} s apart, async_mode={args.async_mode}, "
          f"sound={'on' if args.sound else 'off'}, Chromium {exe}, load average {os.getloadavg()[0]:.1f}")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        for n in (int(x) for x in args.boards.split(",")):
            server = start_server(args.async_mode)
            try:
                pages = open_boards(browser, server.url, server.devices["board-1"], n, args.sound)
                dom, frame, http = measure(server, pages, args.calls, 9, "file_documents", args.gap)
                print(summary(f"  {n:>2} board(s), call-next HTTP response ", http))
                print(summary(f"  {n:>2} board(s), call-next -> DOM updated ", dom))
                print(summary(f"  {n:>2} board(s), call-next -> next frame  ", frame))
                cur, peak = peak_rss_mib(server.pid())
                print(f"      server RSS {cur:.0f} MiB (peak {peak:.0f} MiB)")
                pages[0].context.close()
            finally:
                server.stop()
        browser.close()


if __name__ == "__main__":
    main()
