"""Kiosk page load in Chromium: to the first paint of the start page and to live data.

Each sample opens /kiosk/kfs in a fresh browser context (a cold cache, like a kiosk PC after a
reboot) or reloads a warm one, and reads the page's own performance marks:
  dom      DOMContentLoaded
  ready    "kiosk-ready": catalog loaded (4 API calls) and the sectors drawn
  live     "kiosk-live": Socket.IO joined and the snapshot applied (waiting counts are live)

Usage: .venv/bin/python bench/bench_kiosk.py [-n 30] [--async-mode gevent]
"""
from __future__ import annotations

import argparse
import shutil

from common import start_server, summary
from tests.conftest import CHROMIUM_ARGS

MARKS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const mark = n => (performance.getEntriesByName(n)[0] || {}).startTime;
  return {dom: nav.domContentLoadedEventEnd, ready: mark('kiosk-ready'), live: mark('kiosk-live')};
}"""


def sample(page, url: str) -> dict[str, float]:
    page.goto(url)
    page.wait_for_function("performance.getEntriesByName('kiosk-live').length > 0 && "
                           "performance.getEntriesByName('kiosk-ready').length > 0", timeout=30000)
    return page.evaluate(MARKS)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=30)
    ap.add_argument("--async-mode", default="gevent")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    server = start_server(args.async_mode)
    try:
        server.api("POST", "/halls/kfs/windows/1/sign-in", server.login("clerk1"))
        url = f"{server.url}/kiosk/kfs?device={server.devices['kiosk-1']}"
        exe = shutil.which("chromium") or "/usr/bin/chromium"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
            for name, vp in (("portrait 1080x1920", {"width": 1080, "height": 1920}),
                             ("landscape 1920x1080", {"width": 1920, "height": 1080})):
                cold: dict[str, list[float]] = {"dom": [], "ready": [], "live": []}
                for _ in range(args.n):
                    ctx = browser.new_context(viewport=vp)
                    got = sample(ctx.new_page(), url)
                    ctx.close()
                    for k in cold:
                        cold[k].append(got[k])
                for k in cold:
                    print(summary(f"kiosk {name} cold {k}", cold[k]))
            ctx = browser.new_context(viewport={"width": 1080, "height": 1920})
            page = ctx.new_page()
            sample(page, url)
            warm: dict[str, list[float]] = {"dom": [], "ready": [], "live": []}
            for _ in range(args.n):
                got = sample(page, f"{server.url}/kiosk/kfs")  # the token is in localStorage now
                for k in warm:
                    warm[k].append(got[k])
            for k in warm:
                print(summary(f"kiosk portrait warm reload {k}", warm[k]))
            ctx.close()
            browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
