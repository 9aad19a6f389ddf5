"""Every page works under its real Content-Security-Policy (script-src 'self', no inline script).

The other browser tests open pages with bypass_csp (Playwright's wait_for_function needs eval in the
page); here the policy is enforced, each page is brought to life and used a little, and the browser
must report no violation (securitypolicyviolation events and console errors both).
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support import PASSWORD, launch

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def hall(tmp_path_factory):
    server = launch(tmp_path_factory.mktemp("csp"))
    assert server.api("POST", "/halls/kfs/windows/1/sign-in", server.login("clerk1")).status_code == 200
    yield server
    server.stop()


class StrictPage:
    """A page in its own context with the CSP enforced; violations and script errors are collected."""

    def __init__(self, browser, url: str, viewport: dict | None = None) -> None:
        self.context = browser.new_context(bypass_csp=False, viewport=viewport or {"width": 1280, "height": 900},
                                           locale="ar-EG", timezone_id="Africa/Cairo")
        self.context.add_init_script(
            "window.__csp = []; document.addEventListener('securitypolicyviolation', "
            "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile));")
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("pageerror", lambda e: self.problems.append(f"script error: {e}"))
        self.page.on("console", lambda m: self.problems.append(m.text)
                     if m.type == "error" and "Content Security Policy" in m.text else None)
        response = self.page.goto(url)
        assert response is not None and response.status == 200, url
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src", 1)[1].split(";")[0]

    def check(self) -> None:
        violations = self.page.evaluate("window.__csp")
        self.context.close()
        assert not violations and not self.problems, (violations, self.problems)


def test_kiosk_issues_a_ticket_under_the_policy(browser, hall):
    k = StrictPage(browser, f"{hall.url}/kiosk/kfs?device={hall.devices['kiosk-1']}", {"width": 1920, "height": 1080})
    p = k.page
    p.wait_for_selector("#kiosk[data-ready='1'][data-live]", state="attached")
    p.click("[data-sector=buildings]")
    p.click("[data-service=building_permit]")
    p.click("#issue-btn")
    p.wait_for_selector("#screen-ticket:not([hidden])")
    expect(p.locator("#t-qr")).to_have_attribute("src", re.compile(r"^/kiosk/qr\.png"))
    assert p.evaluate("new Promise(r => { const i = document.getElementById('t-qr'); "
                      "i.complete ? r(i.naturalWidth) : i.onload = () => r(i.naturalWidth); })") > 0
    k.check()


def test_board_shows_a_call_under_the_policy(browser, hall):
    b = StrictPage(browser, f"{hall.url}/board/kfs?device={hall.devices['board-1']}&digits=western")
    hall.api("POST", "/halls/kfs/tickets", hall.devices["kiosk-1"], json={"service": "building_permit"})
    b.page.wait_for_timeout(500)  # joined
    called = hall.api("POST", "/halls/kfs/windows/1/call-next", hall.login("clerk1"))
    assert called.status_code == 200
    expect(b.page.locator("#now-number")).to_have_text(called.json()["number"], timeout=15000)
    b.check()


def test_phone_page_goes_live_under_the_policy(browser, hall):
    ticket = hall.api("POST", "/halls/kfs/tickets", hall.devices["kiosk-1"], json={"service": "building_permit"}).json()
    ph = StrictPage(browser, f"{hall.url}/t/{ticket['token']}", {"width": 390, "height": 844})
    expect(ph.page.locator("#updated")).not_to_be_empty(timeout=15000)
    expect(ph.page.locator("#dot")).not_to_have_class(re.compile(r"\bdown\b"))
    ph.check()


def test_counter_signs_in_under_the_policy(browser, hall):
    c = StrictPage(browser, f"{hall.url}/counter/kfs")
    expect(c.page.locator("body")).to_have_attribute("data-screen", "login")
    c.page.fill("#username", "clerk2")
    c.page.fill("#password", PASSWORD)
    c.page.keyboard.press("Enter")
    expect(c.page.locator("body")).not_to_have_attribute("data-screen", "login", timeout=15000)
    c.check()


def test_supervisor_pages_under_the_policy(browser, hall):
    s = StrictPage(browser, f"{hall.url}/supervisor/kfs")
    p = s.page
    expect(p.locator("body")).to_have_attribute("data-screen", "login")
    p.fill("#username", "supervisor")
    p.fill("#password", PASSWORD)
    p.click("#login-submit")
    expect(p.locator("body")).to_have_attribute("data-screen", "main", timeout=15000)
    p.wait_for_timeout(800)  # charts drawn, live snapshot in
    for path in ("/supervisor/kfs/reports", "/supervisor/governorate"):
        p.goto(hall.url + path)
        expect(p.locator("body")).to_have_attribute("data-screen", "main", timeout=15000)
        p.wait_for_timeout(800)
    s.check()


@pytest.mark.parametrize("path", ["/", "/inquiry", "/backoffice/kfs"])
def test_other_pages_load_under_the_policy(browser, hall, path):
    o = StrictPage(browser, hall.url + path)
    o.page.wait_for_load_state("networkidle")
    o.check()
