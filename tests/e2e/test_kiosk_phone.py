"""The citizen's phone page (/t/<token>) in real Chromium, and the kiosk's QR image route.

A counter calls through the REST API; the page must show the window without a reload.
Screenshots go to test-artifacts/kiosk/.
"""
from __future__ import annotations

import io

import pytest
import requests
from PIL import Image

from tests.print_support import qr_texts
from tests.support import launch

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = {"width": 390, "height": 844}
EASTERN = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@pytest.fixture(scope="module")
def hall(tmp_path_factory):
    """A server with clerk5 at window 5 (revenues: cleaning fees and the like)."""
    server = launch(tmp_path_factory.mktemp("phone"))
    server.clerk = server.login("clerk5")
    assert server.api("POST", "/halls/kfs/windows/5/sign-in", server.clerk).status_code == 200
    yield server
    server.stop()


@pytest.fixture
def shots(artifacts):
    folder = artifacts / "kiosk"
    folder.mkdir(exist_ok=True)
    return folder


def _issue(hall, service="cleaning_fee_payment", **extra):
    r = hall.api("POST", "/halls/kfs/tickets", hall.devices["kiosk-1"], json={"service": service, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def _window(hall, action):
    r = hall.api("POST", f"/halls/kfs/windows/5/{action}", hall.clerk)
    assert r.status_code in (200, 204), r.text
    return r


class Phone:
    """A phone-sized page; any JS error fails the test."""

    def __init__(self, browser, url: str) -> None:
        self.context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True,
                                           has_touch=True, locale="ar-EG")
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.response = self.page.goto(url)

    def live(self) -> Phone:
        # Joined and given its snapshot: the connection dot is green and the page has its figures.
        self.page.wait_for_function("document.getElementById('updated').textContent.length > 0")
        self.page.wait_for_function("!document.getElementById('dot').classList.contains('down')")
        return self

    def data(self, key: str) -> str:
        return self.page.eval_on_selector("#phone", f"e => e.dataset.{key}")

    def close(self) -> None:
        self.context.close()
        assert not self.errors, self.errors


def test_phone_page_follows_the_ticket_and_shows_the_window_when_called(browser, hall, shots):
    """Waiting with people ahead -> next -> called at window 5 (big), with an alert; no reload."""
    first = _issue(hall)
    mine = _issue(hall)
    phone = Phone(browser, mine["track_url"]).live()
    p = phone.page
    p.evaluate("window.__sameDocument = true")
    assert p.evaluate("[document.documentElement.lang, document.documentElement.dir]") == ["ar", "rtl"]
    assert phone.data("status") == "waiting" and phone.data("position") == "1"
    assert p.inner_text("#ahead") == "شخص واحد"
    assert p.inner_text("#number") == mine["number"].translate(EASTERN)
    assert p.is_visible("#cancel-btn") and not p.is_visible("#called")
    assert p.evaluate("document.scrollingElement.scrollWidth <= innerWidth"), "nothing wider than the phone"
    p.screenshot(path=str(shots / "phone-waiting-390x844.png"))

    called = _window(hall, "call-next").json()
    assert called["number"] == first["number"]
    p.wait_for_function("document.getElementById('phone').dataset.position === '0'")
    assert p.inner_text("#ahead") == "أنت التالي"
    assert phone.data("status") == "waiting"

    _window(hall, "complete")
    assert _window(hall, "call-next").json()["number"] == mine["number"]
    p.wait_for_selector("#phone[data-status=called]")
    assert phone.data("window") == "5"
    assert p.inner_text("#window-number") == "٥"
    assert p.is_visible("#called") and not p.is_visible("#cancel-btn")
    assert phone.data("alerts") == "1", "one beep and vibration for one call"
    assert p.evaluate("window.__sameDocument === true"), "updated live, not by a reload"
    p.wait_for_selector("#called:not(.flash)")  # the attention flash has finished
    p.screenshot(path=str(shots / "phone-called-390x844.png"))

    _window(hall, "recall")
    p.wait_for_function("document.getElementById('phone').dataset.alerts === '2'")
    assert "مرة أخرى" in p.inner_text("#called-title")
    p.click("#lang-toggle")
    assert p.evaluate("[document.documentElement.lang, document.documentElement.dir]") == ["en", "ltr"]
    assert p.inner_text("#window-number") == "5"
    p.wait_for_selector("#called:not(.flash)")
    p.screenshot(path=str(shots / "phone-called-390x844-en.png"))

    _window(hall, "start")
    p.wait_for_selector("#phone[data-status=serving]")
    _window(hall, "complete")
    p.wait_for_selector("#phone[data-status=done]")
    assert "Thank you" in p.inner_text("#state-text")
    phone.close()


def test_cancel_my_ticket_with_confirmation(browser, hall, shots):
    mine = _issue(hall, "rent_payment")
    phone = Phone(browser, mine["track_url"]).live()
    p = phone.page
    p.tap("#cancel-btn")
    p.wait_for_selector("#confirm:not([hidden])")
    p.screenshot(path=str(shots / "phone-cancel-390x844.png"))
    p.tap("#confirm-no")
    assert hall.api("GET", f"/tickets/{mine['token']}").json()["status"] == "waiting"
    p.tap("#cancel-btn")
    p.tap("#confirm-yes")
    p.wait_for_selector("#phone[data-status=cancelled]")
    assert hall.api("GET", f"/tickets/{mine['token']}").json()["status"] == "cancelled"
    assert not p.is_visible("#cancel-btn")
    phone.close()


def test_file_link_and_no_personal_data(browser, hall):
    """A ticket with a file links to its status; the mobile number given at the kiosk is nowhere."""
    mine = _issue(hall, "arrears_payment", phone="01098765432", request_file="2026-000042")
    phone = Phone(browser, mine["track_url"]).live()
    p = phone.page
    assert p.get_attribute("#file-link", "href") == "/inquiry?hall=kfs&file=2026-000042"
    inquiry = requests.get(hall.url + p.get_attribute("#file-link", "href"), timeout=10)
    assert inquiry.status_code == 200 and "2026-000042" in inquiry.text, "the inquiry page opens prefilled"
    # shown in the page's digits (Eastern in Arabic), as one left-to-right run
    assert "٢٠٢٦-٠٠٠٠٤٢" in p.inner_text("#file-link")
    html = p.content() + requests.get(mine["track_url"], timeout=10).text
    for secret in ("01098765432", "098765432"):
        assert secret not in html
        assert secret not in hall.api("GET", f"/tickets/{mine['token']}").text
    headers = phone.response.headers
    assert headers["cache-control"] == "no-store" and headers["referrer-policy"] == "no-referrer"
    phone.close()


def test_unknown_ticket_is_a_clear_404_page(browser, hall):
    for token in ("x" * 24, "short", "no-such-token-" + "a" * 20):
        r = requests.get(f"{hall.url}/t/{token}", timeout=10)
        assert r.status_code == 404 and "لم نجد هذه التذكرة" in r.text
    phone = Phone(browser, f"{hall.url}/t/{'y' * 24}")
    assert phone.response.status == 404
    assert phone.page.is_visible("text=This ticket was not found")
    phone.close()


def test_qr_image_route_checks_its_input(hall):
    url = "http://hall.example/t/Zx9kQ2mP7vLr4TbW8nYc3HdF"
    r = requests.get(f"{hall.url}/kiosk/qr.png", params={"data": url, "scale": 8}, timeout=10)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert qr_texts(Image.open(io.BytesIO(r.content))) == [url]
    for params in ({}, {"data": ""}, {"data": "x" * 513}, {"data": "a\nb"}, {"data": url, "scale": "1"},
                   {"data": url, "scale": "abc"}, {"data": url, "scale": "99"}):
        bad = requests.get(f"{hall.url}/kiosk/qr.png", params=params, timeout=10)
        assert bad.status_code == 400, params
        assert bad.json()["error"]["code"] == "invalid_qr_data"
