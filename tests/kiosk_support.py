"""Helpers for the kiosk's browser tests: a kiosk page in its own Chromium context."""
from __future__ import annotations

PORTRAIT = {"width": 1080, "height": 1920}
LANDSCAPE = {"width": 1920, "height": 1080}


class Kiosk:
    """A kiosk page in its own browser context; JS errors fail the test."""

    def __init__(self, browser, server, viewport, query: str = "", token: str | None = "default") -> None:
        self.server = server
        self.context = browser.new_context(viewport=viewport, has_touch=True, locale="ar-EG")
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        token = server.devices["kiosk-1"] if token == "default" else token
        q = "&".join(x for x in ((f"device={token}" if token else ""), query) if x)
        self.page.goto(f"{server.url}/kiosk/kfs" + (f"?{q}" if q else ""))

    def ready(self) -> Kiosk:
        self.page.wait_for_selector("#kiosk[data-ready='1'][data-live]", state="attached")
        self.page.wait_for_selector("#screen-sectors:not([hidden])")
        return self

    def screen(self) -> str:
        return self.page.eval_on_selector("#kiosk", "e => e.dataset.screen")

    def close(self) -> None:
        self.context.close()
        assert not self.errors, self.errors
