"""The touch kiosk in real Chromium against a real hall server: start page, flow, retries, timeouts.

Screenshots go to test-artifacts/kiosk/ for a person to look at.
"""
from __future__ import annotations

import io

import pytest
import requests
from PIL import Image

from hall_server.application import ticket_rows_for
from hall_server.storage import make_engine
from tests.kiosk_support import LANDSCAPE, PORTRAIT, Kiosk
from tests.print_support import qr_texts
from tests.support import launch

pytestmark = [pytest.mark.browser, pytest.mark.slow]



@pytest.fixture(scope="module")
def hall(tmp_path_factory):
    """One server for the module; window 1 (building permits) is open, window 2 is not."""
    server = launch(tmp_path_factory.mktemp("kiosk"))
    clerk = server.login("clerk1")
    assert server.api("POST", "/halls/kfs/windows/1/sign-in", clerk).status_code == 200
    yield server
    server.stop()


@pytest.fixture
def shots(artifacts):
    folder = artifacts / "kiosk"
    folder.mkdir(exist_ok=True)
    return folder


def _tickets(server, service: str) -> list:
    engine = make_engine(server.database_url)
    try:
        return [r for r in ticket_rows_for(engine, "kfs") if r.service == service]
    finally:
        engine.dispose()


def test_start_page_fits_portrait_and_landscape_without_scrolling(browser, hall, shots):
    """13 sectors and the file button fit both 1080p orientations, as large tiles, right to left."""
    for vp, name in ((PORTRAIT, "1080x1920"), (LANDSCAPE, "1920x1080")):
        k = Kiosk(browser, hall, vp).ready()
        p = k.page
        p.wait_for_timeout(300)  # fonts settle
        p.screenshot(path=str(shots / f"start-{name}.png"))
        assert p.evaluate("[document.documentElement.lang, document.documentElement.dir]") == ["ar", "rtl"]
        assert p.evaluate("document.scrollingElement.scrollHeight <= innerHeight"), "no vertical scroll"
        assert p.evaluate("document.scrollingElement.scrollWidth <= innerWidth"), "no horizontal scroll"
        _assert_tiles_fit(p, vp)
        # Right to left: the first sector is at the top right.
        first = p.eval_on_selector(".sector-tile", "e => e.getBoundingClientRect().right")
        assert first > vp["width"] - 80
        assert "is-closed" not in p.get_attribute("[data-sector=buildings]", "class"), "window 1 is open"
        assert "is-closed" in p.get_attribute("[data-sector=housing]", "class"), "shown closed, not hidden"
        if vp is LANDSCAPE:
            p.click("#lang-toggle")
            assert p.evaluate("[document.documentElement.lang, document.documentElement.dir]") == ["en", "ltr"]
            assert p.inner_text("[data-sector=buildings] .tile-name") == "Planning and Buildings"
            p.wait_for_timeout(200)
            p.screenshot(path=str(shots / f"start-{name}-en.png"))
            assert p.evaluate("document.scrollingElement.scrollHeight <= innerHeight")
        p.click("#lang-toggle")
        p.wait_for_timeout(200)
        if vp is PORTRAIT:
            p.screenshot(path=str(shots / f"start-{name}-en.png"))
        _assert_tiles_fit(p, vp)  # the other language too: English names are longer
        k.close()


def _assert_tiles_fit(p, vp) -> None:
    """Every tile inside the screen, large, and its text inside the tile."""
    boxes = p.eval_on_selector_all(".sector-tile, #file-btn", """els => els.map(e => {
        const r = e.getBoundingClientRect();
        const inner = Array.from(e.querySelectorAll('.tile-name, .tile-meta, .file-text'))
            .map(c => c.getBoundingClientRect());
        return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, h: r.height, w: r.width,
                text: e.textContent.trim().slice(0, 40),
                clipped: e.scrollHeight > e.clientHeight + 1 || inner.some(c => c.bottom > r.bottom - 2)};
    })""")
    assert len(boxes) == 14
    for b in boxes:
        assert b["top"] >= 0 and b["bottom"] <= vp["height"] and b["left"] >= 0 and b["right"] <= vp["width"]
        assert b["h"] >= 150 and b["w"] >= 250, f"a large touch target, got {b}"
        assert not b["clipped"], f"tile text overflows its tile: {b}"


def test_tap_sector_service_and_get_one_ticket_with_a_double_tap(browser, hall, shots):
    """Sector -> service (documents, live wait) -> skip the options -> one ticket, shown with its QR."""
    k = Kiosk(browser, hall, PORTRAIT).ready()
    p = k.page
    p.tap("[data-sector=buildings]")
    p.wait_for_selector("#screen-services:not([hidden])")
    assert "is-closed" in p.get_attribute("[data-service=violation_reconciliation]", "class")
    assert "مغلقة الآن" in p.inner_text("[data-service=violation_reconciliation]")
    p.screenshot(path=str(shots / "services-1080x1920.png"))
    p.tap("[data-service=building_permit]")
    p.wait_for_selector("#screen-service:not([hidden])")
    docs = p.eval_on_selector_all("#svc-docs li", "els => els.map(e => e.textContent)")
    catalog = next(s for s in hall.api("GET", "/halls/kfs/services").json() if s["code"] == "building_permit")
    assert docs == catalog["documents"]["ar"]
    assert p.inner_text("#svc-waiting") == "٠"
    assert p.is_enabled("#issue-btn")
    p.screenshot(path=str(shots / "service-1080x1920.png"))
    p.dblclick("#issue-btn")  # a double tap
    p.wait_for_selector("#screen-ticket:not([hidden])")
    p.wait_for_function("document.getElementById('t-qr').complete && document.getElementById('t-qr').naturalWidth > 0")
    number = p.inner_text("#t-number")
    rows = _tickets(hall, "building_permit")
    assert len(rows) == 1, "a double tap makes one ticket"
    assert number == rows[0].number.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert rows[0].device == "kiosk-1" and rows[0].priority is None and rows[0].phone is None
    assert "لا تُطبع" in p.inner_text("#t-print"), "this kiosk has no printer: the screen says so"
    # The QR on screen reads the ticket's tracking link.
    src = p.get_attribute("#t-qr", "src")
    img = Image.open(io.BytesIO(requests.get(hall.url + src, timeout=10).content))
    ticket = hall.api("GET", f"/tickets/{rows[0].token}").json()
    assert qr_texts(img) == [ticket["track_url"]]
    p.wait_for_timeout(300)
    p.screenshot(path=str(shots / "ticket-1080x1920.png"))
    p.tap("#done-btn")
    p.wait_for_selector("#screen-sectors:not([hidden])")
    k.close()


def test_a_lost_response_is_retried_with_the_same_key(browser, hall, shots):
    """The server commits but the answer is lost: the kiosk retries with its key and shows one ticket."""
    k = Kiosk(browser, hall, LANDSCAPE).ready()
    p = k.page
    keys: list[str] = []

    def lose_first_answer(route):
        keys.append(route.request.headers.get("idempotency-key"))
        if len(keys) == 1:
            route.fetch()          # the server issues the ticket...
            route.abort("failed")  # ...and the kiosk never hears back
        else:
            route.continue_()

    p.route("**/api/v1/halls/kfs/tickets", lose_first_answer)
    p.tap("[data-sector=buildings]")
    p.tap("[data-service=demolition_permit]")
    p.tap("#issue-btn")
    p.wait_for_selector("#screen-ticket:not([hidden])")
    assert len(keys) == 2 and keys[0] == keys[1] and len(keys[0]) >= 32
    assert len(_tickets(hall, "demolition_permit")) == 1
    assert "صادرة بالفعل" in p.inner_text("#t-print"), "the retry is told the ticket exists"
    p.wait_for_timeout(300)
    p.screenshot(path=str(shots / "ticket-1920x1080.png"))
    # The next citizen gets a new key and a new ticket.
    p.tap("#done-btn")
    p.tap("[data-sector=buildings]")
    p.tap("[data-service=demolition_permit]")
    p.tap("#issue-btn")
    p.wait_for_selector("#screen-ticket:not([hidden])")
    assert len(keys) == 3 and keys[2] != keys[0]
    assert len(_tickets(hall, "demolition_permit")) == 2
    k.errors = [e for e in k.errors if "ERR_FAILED" not in e]  # the answer we threw away
    k.close()


def test_a_closed_service_opens_live_when_a_clerk_signs_in(browser, hall):
    """Window 2 signs in while the kiosk shows its service closed: the tile opens without a reload."""
    k = Kiosk(browser, hall, PORTRAIT).ready()
    p = k.page
    p.evaluate("window.__sameDocument = true")
    p.tap("[data-sector=buildings]")
    p.tap("[data-service=violation_removal]")
    assert p.is_disabled("#issue-btn") and p.is_visible("#svc-closed")
    assert hall.api("POST", "/halls/kfs/windows/2/sign-in", hall.login("clerk2")).status_code == 200
    p.wait_for_function("!document.getElementById('issue-btn').disabled")
    assert not p.is_visible("#svc-closed")
    assert p.evaluate("window.__sameDocument === true")
    p.tap("#service-back")
    assert "is-closed" not in p.get_attribute("[data-service=violation_removal]", "class")
    k.close()


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_a_service_that_closes_under_the_finger_says_so(browser, hall, shots, lang):
    """The last window serving a service signs out between the citizen's look and the tap: the server
    answers 409 service_closed and the kiosk shows its own "closed just now" words, then the service
    closed; nothing is issued."""
    clerk = hall.login("clerk3")
    assert hall.api("POST", "/halls/kfs/windows/3/sign-in", clerk).status_code == 200
    k = Kiosk(browser, hall, PORTRAIT).ready()
    p = k.page
    if lang == "en":
        p.click("#lang-toggle")
    answers: list[int] = []

    def close_first(route):
        # the window closes just before the request reaches the server (a real sign-out, a real 409)
        assert hall.api("POST", "/halls/kfs/windows/3/sign-out", clerk).status_code == 200
        answer = route.fetch()
        answers.append(answer.status)
        route.fulfill(response=answer)

    p.tap("[data-sector=occupancy]")
    p.tap("[data-service=occupancy_licence_issue]")
    assert p.is_enabled("#issue-btn")
    p.route("**/api/v1/halls/kfs/tickets", close_first)
    p.tap("#issue-btn")
    p.wait_for_selector("#screen-message:not([hidden])")
    words = {"ar": "أُغلقت هذه الخدمة للتو: لا يوجد شباك مفتوح لها.",
             "en": "This service has just closed: no window serves it now."}[lang]
    assert p.inner_text("#message-text") == words
    p.screenshot(path=str(shots / f"service-closed-{lang}-1080x1920.png"))
    assert answers and answers[0] == 409
    assert _tickets(hall, "occupancy_licence_issue") == []
    p.tap("#message-ok")
    p.wait_for_selector("#screen-service:not([hidden])")
    assert p.is_disabled("#issue-btn") and p.is_visible("#svc-closed")
    k.errors = [e for e in k.errors if "409" not in e]  # the refused request, as the browser logs it
    k.close()


def test_optional_priority_and_mobile_number(browser, hall, shots):
    """Priority from the hall's rules and an SMS number: checked on the keypad, masked on screen."""
    k = Kiosk(browser, hall, PORTRAIT).ready()
    p = k.page
    p.tap("[data-sector=buildings]")
    p.tap("[data-service=site_suitability]")
    offered = p.eval_on_selector_all("#priority-chips .chip", "els => els.map(e => e.dataset.priority)")
    assert offered == ["elderly", "disabled", "pregnant"]
    p.tap("[data-priority=elderly]")
    assert p.get_attribute("[data-priority=elderly]", "aria-pressed") == "true"
    p.tap("#phone-btn")
    p.wait_for_selector("#screen-keypad:not([hidden])")
    for key in "0991":
        p.tap(f"#keypad [data-key='{key}']")
    p.tap("#keypad-ok")
    assert "غير صحيح" in p.inner_text("#keypad-error")
    p.tap("#keypad-clear")
    for key in "01012345678":
        p.tap(f"#keypad [data-key='{key}']")
    p.screenshot(path=str(shots / "keypad-1080x1920.png"))
    p.tap("#keypad-ok")
    p.wait_for_selector("#screen-service:not([hidden])")
    assert "٠١٠*****٧٨" in p.inner_text("#phone-btn")   # masked with stars: a dot reads as the zero ٠
    p.tap("#issue-btn")
    p.wait_for_selector("#screen-ticket:not([hidden])")
    assert "كبار السن" in p.inner_text("#t-priority")
    assert "01012345678" not in p.content() and "٠١٠١٢٣٤٥٦٧٨" not in p.content()
    [row] = _tickets(hall, "site_suitability")
    assert (row.priority, row.phone) == ("elderly", "01012345678")
    k.close()


def test_returning_citizen_file_number_typed_or_scanned(browser, hall, shots):
    """A file number typed on the keypad, or an earlier ticket's QR scanned, routes the ticket."""
    clerk9 = hall.login("clerk9")
    assert hall.api("POST", "/halls/kfs/windows/9/sign-in", clerk9).status_code == 200
    made = hall.api("POST", "/halls/kfs/files", hall.login("clerk3"), json={
        "service": "building_permit", "citizen_name": "محمد أحمد", "national_id": "29001011234567",
        "mobile": "01012345678", "documents_received": [0, 1]})
    assert made.status_code == 201, made.text
    number = made.json()["number"]
    route = hall.api("GET", f"/halls/kfs/files/{number}/route", hall.devices["kiosk-1"]).json()
    k = Kiosk(browser, hall, PORTRAIT).ready()
    p = k.page

    def type_file(text: str) -> None:
        p.tap("#keypad-clear")
        for key in text:
            p.tap(f"#keypad [data-key='{key}']")
        p.tap("#keypad-ok")

    p.tap("#file-btn")
    p.wait_for_selector("#screen-keypad:not([hidden])")
    type_file("999")
    assert "٢٠٢٦-٠٠٠١٢٣" in p.inner_text("#keypad-error"), "the format is explained (in the page's digits)"
    type_file("2026-999999")
    p.wait_for_function("document.getElementById('keypad-error').textContent.includes('لم نجد ملفًا')")
    assert k.screen() == "keypad"
    type_file(number)
    p.wait_for_selector("#screen-service:not([hidden])")
    assert p.get_attribute("#kiosk", "data-screen") == "service"
    shown = number.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))   # in the page's digits, left to right
    assert shown in p.inner_text("#svc-file")
    assert p.eval_on_selector("#svc-file bdi", "e => [e.textContent, getComputedStyle(e).direction]") == [shown, "ltr"]
    p.screenshot(path=str(shots / "file-service-1080x1920.png"))
    p.tap("#issue-btn")
    p.wait_for_selector("#screen-ticket:not([hidden])")
    [row] = [r for r in _tickets(hall, route["service"]) if r.request_file == number]
    assert row.service == "file_status_inquiry"
    p.tap("#done-btn")
    p.wait_for_selector("#screen-sectors:not([hidden])")

    # A USB scanner on the start page types the earlier ticket's link and Enter: same routing.
    earlier = hall.api("GET", f"/tickets/{row.token}").json()
    p.keyboard.type(earlier["track_url"], delay=5)
    p.keyboard.press("Enter")
    p.wait_for_selector("#screen-service:not([hidden])")
    assert shown in p.inner_text("#svc-file")
    p.tap("#service-back")
    # A ticket without a file number says so.
    plain = hall.api("POST", "/halls/kfs/tickets", hall.devices["kiosk-1"], json={"service": "building_permit_renewal"})
    p.keyboard.type(plain.json()["track_url"], delay=5)
    p.keyboard.press("Enter")
    p.wait_for_function("document.getElementById('keypad-error').textContent.includes('ليس لها رقم ملف')")
    k.errors = [e for e in k.errors if "404" not in e and "422" not in e]  # the refused numbers above
    k.close()


def test_attract_screen_and_return_to_start_after_the_ticket(browser, hall, shots):
    """Idle on the start page -> attract screen; after a ticket the kiosk goes back by itself."""
    k = Kiosk(browser, hall, PORTRAIT, query="attract_seconds=2&ticket_seconds=2").ready()
    p = k.page
    p.wait_for_selector("#screen-attract:not([hidden])", timeout=30000)
    p.wait_for_timeout(300)
    p.screenshot(path=str(shots / "attract-1080x1920.png"))
    p.tap("#screen-attract")
    p.wait_for_selector("#screen-sectors:not([hidden])")
    p.tap("#lang-toggle")
    p.tap("[data-sector=buildings]")
    p.tap("[data-service=occupancy_fitness_certificate]")
    p.tap("#issue-btn")
    p.wait_for_selector("#screen-ticket:not([hidden])")
    p.wait_for_selector("#screen-sectors:not([hidden])", timeout=30000)
    assert p.evaluate("document.documentElement.lang") == "ar", "the next citizen starts in Arabic"
    k.close()


def test_a_kiosk_without_a_valid_token_says_so(browser, hall):
    for token in (None, "not-a-real-token"):
        k = Kiosk(browser, hall, LANDSCAPE, token=token)
        k.page.wait_for_selector("#screen-setup:not([hidden])")
        k.errors = [e for e in k.errors if "401" not in e]  # the refused /me is expected
        k.close()


def test_the_token_leaves_the_address_bar_and_is_remembered(browser, hall):
    k = Kiosk(browser, hall, LANDSCAPE).ready()
    assert "device=" not in k.page.url
    k.page.reload()
    k.ready()
    assert k.page.eval_on_selector_all(".sector-tile", "els => els.length") == 13
    k.close()
