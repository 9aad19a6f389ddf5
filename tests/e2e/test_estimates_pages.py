"""Wait estimates a citizen can trust, in real Chromium against a real server.

One ticket, one promise: before it is issued, the kiosk's service screen and the supervisor's "wait
for a new ticket" show the same range; after, the kiosk's ticket screen and the ticket's phone page
show that range too. Then the tickets ahead are called and served through the API and the phone's
range falls, live, down to «الآن» with «أنت التالي». Then today's accuracy: the supervisor's live
page and reports, and the board's discreet line (this hall file sets [board] show_accuracy = true).
The pages' range rule (static/eta.js) is checked against the server's own (estimate.eta_range).

Screenshots go to test-artifacts/estimates/. One server and one Chromium for the module.
"""
from __future__ import annotations

import math
import re
from datetime import datetime
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from hall_server.domain.estimate import eta_range
from tests.conftest import ARTIFACTS
from tests.support import PASSWORD, ROOT, launch

pytestmark = [pytest.mark.browser]

SHOTS = ARTIFACTS / "estimates"
SERVICE = "cleaning_fee_payment"   # window 5's main service (4 minutes in the catalog)
AHEAD = 4                          # tickets waiting before ours: a real range, not "less than 5"
PORTRAIT = {"width": 1080, "height": 1920}
LANDSCAPE = {"width": 1920, "height": 1080}
PHONE = {"width": 390, "height": 844}
EASTERN = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
WAIT_MS = 20_000                   # every wait on a page is bounded


@pytest.fixture(scope="module")
def hall(tmp_path_factory):
    """The default hall with the board's accuracy line on; clerk5 signed in at window 5."""
    tmp = tmp_path_factory.mktemp("estimates")
    text = (ROOT / "config" / "halls" / "kafr_saqr.toml").read_text(encoding="utf-8")
    assert "\n[board]\n" in text
    cfg = tmp / "cfg"
    cfg.mkdir()
    hall_file = cfg / "kafr_saqr.toml"
    hall_file.write_text(text.replace("\n[board]\n", "\n[board]\nshow_accuracy = true\n", 1), encoding="utf-8")
    server = launch(tmp / "server", env={"HALL_HALLS": str(hall_file)})
    server.clerk = server.login("clerk5")
    assert server.api("POST", "/halls/kfs/windows/5/sign-in", server.clerk).status_code == 200
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield server
    server.stop()


class Pages:
    """Browser contexts of one test; any JS error fails it."""

    def __init__(self, browser) -> None:
        self.browser = browser
        self.contexts: list = []
        self.errors: list[str] = []

    def open(self, url: str, viewport: dict, **kw) -> Page:
        ctx = self.browser.new_context(viewport=viewport, locale="ar-EG", timezone_id="Africa/Cairo", **kw)
        self.contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("console", lambda m: self.errors.append(m.text)
                if m.type == "error" and "/api/v1/" not in (m.location or {}).get("url", "") else None)
        page.goto(url)
        return page

    def close(self) -> None:
        for ctx in self.contexts:
            ctx.close()
        assert self.errors == [], self.errors


def shot(page: Page, name: str, full: bool = False) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full)


def act(server, action: str) -> dict:
    r = server.api("POST", f"/halls/kfs/windows/5/{action}", server.clerk)
    assert r.status_code == 200, (action, r.text)
    return r.json()


def issue(server, service: str = SERVICE) -> dict:
    r = server.api("POST", "/halls/kfs/tickets", server.devices["kiosk-1"], json={"service": service})
    assert r.status_code == 201, r.text
    return r.json()


def login(page: Page) -> None:
    expect(page.locator("body")).to_have_attribute("data-screen", "login")
    page.fill("#username", "supervisor")
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    expect(page.locator("body")).to_have_attribute("data-screen", "main")


def range_of(page: Page, selector: str) -> tuple[int, int] | None:
    raw = page.get_attribute(selector, "data-eta-range")
    if not raw:
        return None
    lo, hi = raw.split(",")
    return int(lo), int(hi)


def arabic_words(r: tuple[int, int], eastern: bool) -> str:
    """What the pages must say for a range, by the rule in the issue (written out here on purpose)."""
    lo, hi = r[0] // 60, r[1] // 60
    d = (lambda n: str(n).translate(EASTERN)) if eastern else str
    noun = "دقائق" if 3 <= hi % 100 <= 10 else "دقيقة"
    if hi == 0:
        return "الآن"
    if lo == 0:
        return f"أقل من {d(hi)} {noun}"
    return f"حوالي {d(lo)}–{d(hi)} {noun}"


def fmt_minutes(seconds: float) -> str:
    """Minutes as the supervisor's pages write them: one decimal under ten, whole above."""
    m = abs(seconds) / 60   # rounded half up, as JavaScript's Math.round
    return f"{math.floor(m * 10 + 0.5) / 10:g}" if m < 10 else str(math.floor(m + 0.5))


def no_overflow(page: Page) -> None:
    s = page.evaluate("[document.scrollingElement.scrollWidth, innerWidth, document.scrollingElement.scrollHeight,"
                      " innerHeight]")
    assert s[0] <= s[1], ("wider than the screen", s)


def in_view(page: Page, selector: str) -> None:
    box = page.evaluate("""(sel) => { const r = document.querySelector(sel).getBoundingClientRect();
        return [r.left, r.top, r.right, r.bottom, innerWidth, innerHeight]; }""", selector)
    assert box[0] >= -1 and box[1] >= -1 and box[2] <= box[4] + 1 and box[3] <= box[5] + 1, (selector, box)


# ----- the rule itself ------------------------------------------------------------------------------
def test_the_pages_round_waits_exactly_as_the_server_does(browser, hall):
    """eta.js's range for per-service seconds is the server's eta_range, value for value; its words
    follow Arabic number grammar and the page's digits."""
    pages = Pages(browser)
    page = pages.open(hall.url + "/inquiry", PHONE)       # any page of the server; eta.js is added to it
    page.add_script_tag(url=hall.url + "/static/hall/eta.js")
    seconds = [*range(400), *range(400, 12_000, 7), 59.5, 60.4, 299.9, 300.1, 374.99, 375.0, 720.0, 960.0]
    got = page.evaluate("(xs) => xs.map(s => HallEta.range(s))", seconds)
    want = [list(eta_range(s)) for s in seconds]
    assert got == want
    assert page.evaluate("[HallEta.range(null), HallEta.of({eta_seconds: null, eta_range_seconds: null}),"
                         " HallEta.of({eta_seconds: 9999, eta_range_seconds: [0, 0]})]") == [None, None, [0, 0]]
    words = page.evaluate("""() => [[0, 0], [0, 300], [0, 600], [300, 600], [600, 900], [600, 1200], [5700, 9000]]
        .map(r => [HallEta.text(r, {lang: 'ar', digits: 'eastern'}), HallEta.text(r, {lang: 'ar', digits: 'western'}),
                   HallEta.text(r, {lang: 'en', digits: 'western'})]).concat([[HallEta.text(null, {lang: 'ar'})]])""")
    assert words == [
        ["الآن", "الآن", "Now"],
        ["أقل من ٥ دقائق", "أقل من 5 دقائق", "Less than 5 minutes"],
        ["أقل من ١٠ دقائق", "أقل من 10 دقائق", "Less than 10 minutes"],
        ["حوالي ٥–١٠ دقائق", "حوالي 5–10 دقائق", "About 5–10 minutes"],
        ["حوالي ١٠–١٥ دقيقة", "حوالي 10–15 دقيقة", "About 10–15 minutes"],
        ["حوالي ١٠–٢٠ دقيقة", "حوالي 10–20 دقيقة", "About 10–20 minutes"],
        ["حوالي ٩٥–١٥٠ دقيقة", "حوالي 95–150 دقيقة", "About 95–150 minutes"],
        ["—"]]
    counts = "[1, 2, 3, 10, 11, 103, 111].map(n => HallEta.minutes(n, {lang: 'ar', digits: 'eastern'}))"
    assert page.evaluate(counts) == [
        "دقيقة واحدة", "دقيقتان", "٣ دقائق", "١٠ دقائق", "١١ دقيقة", "١٠٣ دقائق", "١١١ دقيقة"]
    pages.close()


# ----- one ticket, one promise, on every page ----------------------------------------------------
def test_one_ticket_one_promise_then_the_phone_follows_it_down(browser, hall):
    server = hall
    ahead = [issue(server) for _ in range(AHEAD)]
    pages = Pages(browser)
    try:
        # the supervisor's "wait for a new ticket" of the service
        sup = pages.open(server.url + "/supervisor/kfs", LANDSCAPE)
        login(sup)
        row = sup.locator(f'#services-table tr[data-service="{SERVICE}"]')
        expect(row.locator("td.waiting")).to_have_text(str(AHEAD), timeout=WAIT_MS)
        # the kiosk's service screen, for the same service, at the same moment
        kiosk = pages.open(f"{server.url}/kiosk/kfs?device={server.devices['kiosk-1']}", PORTRAIT, has_touch=True)
        kiosk.wait_for_selector("#kiosk[data-ready='1'][data-live]", state="attached")
        kiosk.click('.sector-tile[data-sector="revenues"]')
        tile = f'.service-tile[data-service="{SERVICE}"]'
        expect(kiosk.locator(tile + " .live")).to_have_text("في الانتظار: ٤", timeout=WAIT_MS)
        # the count comes with the at-once queue_changed, the estimate with the coalesced one (up to a
        # few seconds later, README): wait until the tile shows the range with people ahead
        kiosk.wait_for_function("(sel) => { const e = document.querySelector(sel);"
                                " return e && e.dataset.etaRange && e.dataset.etaRange !== '0,0'; }",
                                arg=tile + " .eta", timeout=WAIT_MS)
        listed = range_of(kiosk, tile + " .eta")
        shot(kiosk, "kiosk-services-ar-1080x1920")
        kiosk.click(tile)
        expect(kiosk.locator("#svc-waiting")).to_have_text(str(AHEAD).translate(EASTERN), timeout=WAIT_MS)
        promised = range_of(kiosk, "#svc-eta")
        assert promised == listed, (promised, listed)
        assert promised is not None and promised[0] > 0, ("a real range with people ahead", promised)
        # the server's own figure for a new ticket, rounded by the server's rule, is that range
        catalog = {s["code"]: s for s in server.api("GET", "/halls/kfs/services", server.devices["kiosk-1"]).json()}
        assert list(eta_range(catalog[SERVICE]["eta_seconds"]) or []) == list(promised)
        words = arabic_words(promised, eastern=True)
        expect(kiosk.locator("#svc-eta")).to_have_text(words)
        expect(row.locator("td.eta")).to_have_attribute("data-eta-range", f"{promised[0]},{promised[1]}")
        expect(row.locator("td.eta")).to_have_text(arabic_words(promised, eastern=False))   # Western on screens
        no_overflow(kiosk)
        in_view(kiosk, "#svc-eta")
        in_view(kiosk, "#issue-btn")
        shot(kiosk, "kiosk-service-ar-1080x1920")
        kiosk.set_viewport_size(LANDSCAPE)
        kiosk.wait_for_timeout(150)   # the layout follows the resize
        in_view(kiosk, "#svc-eta")
        in_view(kiosk, "#issue-btn")
        assert kiosk.evaluate("() => { const e = document.getElementById('svc-eta');"
                              " return e.scrollWidth <= e.parentElement.clientWidth; }"), "the range fits its box"
        shot(kiosk, "kiosk-service-ar-1920x1080")
        kiosk.set_viewport_size(PORTRAIT)
        shot(sup, "supervisor-before-issue-ar-1920x1080")

        # the citizen takes the ticket at the kiosk: its ticket screen keeps the promise
        kiosk.click("#issue-btn")
        expect(kiosk.locator("#screen-ticket")).to_be_visible(timeout=WAIT_MS)
        expect(kiosk.locator("#t-eta")).to_have_attribute("data-eta-range", f"{promised[0]},{promised[1]}")
        expect(kiosk.locator("#t-eta")).to_have_text(words)
        expect(kiosk.locator("#t-ahead")).to_have_text(str(AHEAD).translate(EASTERN))
        kiosk.wait_for_function("() => { const q = document.getElementById('t-qr');"
                                " return q.complete && q.naturalWidth > 0; }")
        track_url = parse_qs(urlsplit(kiosk.get_attribute("#t-qr", "src")).query)["data"][0]
        token = track_url.rstrip("/").rsplit("/", 1)[1]
        mine = server.api("GET", f"/tickets/{token}").json()
        assert mine["eta_range_seconds"] == list(promised) and mine["position"] == AHEAD and mine["next"] is False
        # the phone that scanned the QR, at the same moment
        phone = pages.open(track_url, PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
        phone.wait_for_function("() => !document.getElementById('dot').classList.contains('down')",
                                timeout=WAIT_MS)
        expect(phone.locator("#eta")).to_have_attribute("data-eta-range", f"{promised[0]},{promised[1]}")
        expect(phone.locator("#eta")).to_have_text(words)
        expect(phone.locator("#ahead")).to_have_text("٤ أشخاص")
        expect(phone.locator("#eta-note")).to_be_hidden()
        assert kiosk.evaluate("[document.documentElement.lang, document.documentElement.dir]") == ["ar", "rtl"]
        assert phone.evaluate("[document.documentElement.lang, document.documentElement.dir]") == ["ar", "rtl"]
        # the supervisor's waiting list: the same ticket, its place and the same range, at the same moment
        wrow = sup.locator(f'#waiting-table tr[data-ticket="{mine["number"]}"]')
        expect(wrow.locator("td.eta")).to_have_attribute("data-eta-range", f"{promised[0]},{promised[1]}",
                                                         timeout=WAIT_MS)
        expect(wrow.locator("td.eta")).to_have_text(arabic_words(promised, eastern=False))   # Western on screens
        expect(wrow.locator("td.ahead")).to_have_text(str(AHEAD))
        for i, t in enumerate(ahead):   # and every ticket ahead of it, each by its own public view
            view = server.api("GET", f"/tickets/{t['token']}").json()
            trow = sup.locator(f'#waiting-table tr[data-ticket="{t["number"]}"]')
            expect(trow.locator("td.ahead")).to_have_text(str(i))
            r = view["eta_range_seconds"]
            expect(trow.locator("td.eta")).to_have_attribute("data-eta-range", f"{r[0]},{r[1]}", timeout=WAIT_MS)
        sup.locator("#waiting-card").scroll_into_view_if_needed()
        sup.locator("#waiting-card").screenshot(path=str(SHOTS / "supervisor-waiting-list-ar.png"))
        # the next citizen is told more: the supervisor's new-ticket figure moved on with the queue
        expect(row.locator("td.waiting")).to_have_text(str(AHEAD + 1), timeout=WAIT_MS)
        cell = f'#services-table tr[data-service="{SERVICE}"] td.eta'
        sup.wait_for_function("""([sel, hi]) => { const c = document.querySelector(sel);
            return c && c.dataset.etaRange && +c.dataset.etaRange.split(',')[1] > hi; }""",
                              arg=[cell, promised[1]], timeout=WAIT_MS)
        in_view(kiosk, "#t-eta")
        in_view(kiosk, "#done-btn")
        no_overflow(kiosk)
        no_overflow(phone)
        shot(kiosk, "kiosk-ticket-ar-1080x1920")
        shot(phone, "phone-waiting-ar-390x844")
        shot(sup, "supervisor-after-issue-ar-1920x1080")
        kiosk.set_viewport_size(LANDSCAPE)
        kiosk.wait_for_timeout(150)   # the layout follows the resize
        in_view(kiosk, "#t-eta")
        in_view(kiosk, "#done-btn")
        shot(kiosk, "kiosk-ticket-ar-1920x1080")

        # the tickets ahead are called and served: the phone's range falls, live, to "now"
        his = [promised[1]]
        for i, t in enumerate(ahead):
            assert act(server, "call-next")["number"] == t["number"]
            act(server, "complete")
            left = AHEAD - 1 - i
            phone.wait_for_function("(n) => document.getElementById('phone').dataset.position === n", arg=str(left),
                                    timeout=WAIT_MS)
            if i == 0:     # one served ahead: the promise falls
                phone.wait_for_function("(hi) => +document.getElementById('eta').dataset.etaRange.split(',')[1] < hi",
                                        arg=his[-1], timeout=WAIT_MS)
            if left == 0:  # nobody ahead and window 5 free: "now"
                phone.wait_for_function("() => document.getElementById('eta').dataset.etaRange === '0,0'",
                                        timeout=WAIT_MS)
            now = range_of(phone, "#eta")
            assert now is not None and now[1] <= his[-1], (i, now, his)
            his.append(now[1])
            expect(phone.locator("#eta")).to_have_text(arabic_words(now, eastern=True))
            if i == 0:
                shot(phone, "phone-falling-ar-390x844")
        assert his[-1] == 0 and his == sorted(his, reverse=True), his
        expect(phone.locator("#eta")).to_have_text("الآن")
        expect(phone.locator("#ahead")).to_have_text("أنت التالي")
        expect(phone.locator("#eta-note")).to_have_text("استعد، سيُنادى عليك الآن")
        assert phone.get_attribute("#phone", "data-next") == "1"
        shot(phone, "phone-now-ar-390x844")
        phone.click("#lang-toggle")
        expect(phone.locator("#eta")).to_have_text("Now")
        expect(phone.locator("#ahead")).to_have_text("You are next")
        expect(phone.locator("#eta-note")).to_have_text("Get ready: you will be called now")
        assert phone.evaluate("[document.documentElement.lang, document.documentElement.dir]") == ["en", "ltr"]
        shot(phone, "phone-now-en-390x844")
        phone.click("#lang-toggle")   # the phone keeps its language: back to Arabic for the next tests

        # ours is called too: five estimates judged today, the supervisor's figures follow
        assert act(server, "call-next")["number"] == mine["number"]
        phone.wait_for_selector("#phone[data-status=called]", timeout=WAIT_MS)
        act(server, "complete")
    finally:
        pages.close()


# ----- today's accuracy: supervisor, reports, board --------------------------------------------------
def test_todays_accuracy_on_the_supervisor_pages_and_the_board(browser, hall):
    server = hall
    sup_token = server.login("supervisor")
    pages = Pages(browser)
    try:
        board = pages.open(f"{server.url}/board/kfs?device={server.devices['board-1']}&autoplay=1", LANDSCAPE)
        board.wait_for_function("() => document.body.dataset.seq !== undefined", timeout=WAIT_MS)
        # a few more judged estimates (rent payments at window 5) so the board has at least five
        while server.api("GET", "/halls/kfs/board").json()["accuracy"]["of"] < 6:
            issue(server, "rent_payment")
            act(server, "call-next")
            act(server, "complete")
        acc = server.api("GET", "/halls/kfs/board").json()["accuracy"]
        # the board reads the new figure a few seconds after the calls (coalesced), without a reload
        expect(board.locator("#accuracy")).to_have_attribute("data-of", str(acc["of"]), timeout=WAIT_MS)
        k = round(10 * acc["within"] / acc["of"]) if acc["of"] >= 10 else acc["within"]
        if acc["of"] >= 10:
            text = f"{k} من كل ١٠ تقديرات اليوم {'كان' if k == 1 else 'كانت'} في حدود ٥ دقائق"
        else:
            text = f"{k} من {acc['of']} تقديرات اليوم {'كان' if k == 1 else 'كانت'} في حدود ٥ دقائق"
        expect(board.locator("#accuracy")).to_have_text(text.translate(EASTERN))
        in_view(board, "#accuracy")
        in_view(board, "#ticker")
        shot(board, "board-accuracy-ar-1920x1080")
        board.set_viewport_size(PORTRAIT)
        board.wait_for_timeout(150)
        in_view(board, "#accuracy")
        in_view(board, "#ticker")
        shot(board, "board-accuracy-ar-1080x1920")
        board.goto(f"{server.url}/board/kfs?device={server.devices['board-1']}&autoplay=1&lang=en")
        board.wait_for_function("() => document.body.dataset.seq !== undefined", timeout=WAIT_MS)
        expect(board.locator("#accuracy")).to_contain_text("estimates today")
        assert not re.search(r"[٠-٩]", board.inner_text("#accuracy"))
        shot(board, "board-accuracy-en-1080x1920")

        # the supervisor's live page: the hall's KPI and each service's columns
        stats = server.api("GET", "/halls/kfs/stats", sup_token).json()
        est = stats["totals"]["estimates"]
        assert est["count"] == acc["of"] and est["within_5_min"] == acc["within"]
        sup = pages.open(server.url + "/supervisor/kfs", LANDSCAPE)
        login(sup)
        kpi = sup.locator("#kpi-estimates")
        expect(kpi).to_have_attribute("data-count", str(est["count"]), timeout=WAIT_MS)
        expect(kpi).to_have_attribute("data-within", str(est["within_5_min"]))
        share = round(est["within_5_min_share"] * 1000) / 10
        expect(kpi.locator(".k-value")).to_have_text(f"{share:g}%")
        line = sup.locator("#svc-estimates")
        expect(line).to_contain_text(f"{est['within_5_min']} من {est['count']} في حدود 5 دقائق")
        expect(line).to_contain_text(f"متوسط الخطأ {fmt_minutes(est['mean_abs_error_seconds'])} د")
        bias = est["bias_seconds"]
        if abs(bias) < 30:
            expect(line).to_contain_text("التقديرات بلا انحياز يُذكر")
        else:
            word = "أقصر" if bias < 0 else "أطول"
            expect(line).to_contain_text(f"التقديرات {word} من الواقع بـ {fmt_minutes(bias)} د")
        for svc in stats["services"]:
            cells = sup.locator(f'#services-table tr[data-service="{svc["service"]}"]')
            e = svc["estimates"]
            if e["count"]:
                expect(cells.locator(".est-of")).to_have_text(f"{e['within_5_min']} من {e['count']}")
        no_overflow(sup)
        shot(sup, "supervisor-accuracy-ar-1920x1080")
        sup.click("#lang-toggle")
        expect(kpi.locator(".k-label")).to_have_text("Estimate accuracy today")
        expect(line).to_contain_text(f"{est['within_5_min']} of {est['count']} within 5 minutes")
        if abs(bias) >= 30:
            expect(line).to_contain_text(f"estimates run {fmt_minutes(bias)} min {'short' if bias < 0 else 'long'}")
        shot(sup, "supervisor-accuracy-en-1920x1080")
        sup.click("#lang-toggle")
        sup.set_viewport_size(PORTRAIT)
        sup.wait_for_timeout(200)
        no_overflow(sup)
        shot(sup, "supervisor-accuracy-ar-1080x1920")
        sup.set_viewport_size(LANDSCAPE)

        # reports, today: the accuracy section per day, hour and service, as the API has them
        day = datetime.now(ZoneInfo("Africa/Cairo")).date().isoformat()
        rep = server.api("GET", f"/halls/kfs/reports?from={day}&to={day}", sup_token).json()["estimates"]
        sup.goto(server.url + f"/supervisor/kfs/reports?from={day}&period=day")
        expect(sup.locator("body")).to_have_attribute("data-screen", "main")
        expect(sup.locator("#est-card")).to_be_visible(timeout=WAIT_MS)
        expect(sup.locator("#tbl-est-day tbody tr")).to_have_count(len(rep["by_day"]))
        expect(sup.locator("#tbl-est-hour tbody tr")).to_have_count(len(rep["by_hour"]) + (len(rep["by_hour"]) > 1))
        services = len(rep["by_service"])
        expect(sup.locator("#tbl-est-service tbody tr")).to_have_count(services + (services > 1))
        for x in rep["by_service"]:
            line = sup.locator(f'#tbl-est-service tr[data-key="{x["service"]}"]')
            expect(line).to_have_attribute("data-count", str(x["count"]))
            expect(line).to_have_attribute("data-within", str(x["within_5_min"]))
        expect(sup.locator("#est-summary")).to_contain_text(f"في حدود 5 دقائق: {rep['all']['within_5_min']} من "
                                                            f"{rep['all']['count']}")
        assert not re.search(r"[A-Za-z]", sup.inner_text("#est-card")), "service names, not codes, in Arabic"
        sup.locator("#est-card").scroll_into_view_if_needed()
        shot(sup, "reports-accuracy-ar-1920x1080")
        sup.locator("#est-card").screenshot(path=str(SHOTS / "reports-accuracy-card-ar.png"))
    finally:
        pages.close()

