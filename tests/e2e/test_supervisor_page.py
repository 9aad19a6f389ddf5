"""The supervisor's pages in real Chromium against a real server.

Before the server starts, yesterday is played through the application with a fixed clock (six
windows, about 150 tickets, no-shows, transfers, cancellations, request files), so the reports
have a real day to show. Then, live: the supervisor logs in, sees the queue and the alerts, a
clerk calls from the API and the page follows; the supervisor pauses and resumes a window, edits
a window's services, moves a waiting ticket, sets the board message; a print agent drops out.
Reports (day, week), CSV, print layout and the governorate view follow. Screenshots go to
test-artifacts/supervisor/.
"""
from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import socketio
from playwright.sync_api import Page, expect

from hall_server import events as ev
from tests.support import PASSWORD, LiveServer, prepare_database

pytestmark = [pytest.mark.browser]

VIEWPORT = {"width": 1600, "height": 1000}
CAIRO = ZoneInfo("Africa/Cairo")
NID = "29001011300011"
# window -> its main service (config/halls/kafr_saqr.toml)
WINDOWS = {1: "building_permit", 2: "violation_reconciliation", 3: "occupancy_licence_issue",
           4: "housing_unit_ownership", 5: "cleaning_fee_payment", 7: "shop_licence_issue"}


class Clock:
    """The seeding clock, moved by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def seed_yesterday(url: str, data_dir: Path) -> str:
    """Play a whole working day (yesterday, 08:00-14:00 Cairo) through HallApp; returns its date."""
    from sqlalchemy import select

    from config import load_settings
    from hall_server.application import Actor, HallApp
    from hall_server.application.files import FileDesk
    from hall_server.storage import make_engine, users
    settings = load_settings(env={}, database_url=url, data_dir=data_dir, async_mode="threading")
    engine = make_engine(url)
    day = datetime.now(CAIRO).date() - timedelta(days=1)
    clock = Clock(datetime.combine(day, time(8, 0), CAIRO).astimezone(UTC))
    app = HallApp(settings, engine, clock=clock)
    with engine.connect() as c:
        ids = {r.username: r.id for r in c.execute(select(users.c.username, users.c.id))}
    clerks = {n: Actor("user", f"clerk{n}", "clerk", user_id=ids[f"clerk{n}"]) for n in WINDOWS}
    sup = Actor("user", "supervisor", "supervisor", user_id=ids["supervisor"])
    for n, actor in clerks.items():
        app.set_window_state("kfs", n, "sign_in", actor)
    rng = random.Random(2026)
    rate = {8: .25, 9: .55, 10: .7, 11: .55, 12: .35, 13: .2}
    busy: dict[int, datetime] = {}
    waiting_tokens: list[str] = []
    end = datetime.combine(day, time(14, 0), CAIRO).astimezone(UTC)
    while clock.now < end or busy or waiting_tokens:
        hour = clock.now.astimezone(CAIRO).hour
        if clock.now < end and rng.random() < rate.get(hour, 0):
            t, _ = app.issue_ticket("kfs", rng.choice(list(WINDOWS.values())))
            waiting_tokens.append(t["token"])
        if waiting_tokens and rng.random() < .01:
            app.cancel(waiting_tokens.pop(rng.randrange(len(waiting_tokens))))
        for n, actor in clerks.items():
            if n in busy and clock.now >= busy[n]:
                app.complete("kfs", n, actor)
                del busy[n]
            if n not in busy:
                called = app.call_next("kfs", n, actor)
                if called is None:
                    continue
                waiting_tokens = [x for x in waiting_tokens if x != called["token"]]
                roll = rng.random()
                if roll < .05:  # the citizen never comes
                    for _ in range(3):
                        app.recall("kfs", n, actor)
                elif roll < .08:  # wrong queue: sent on to housing
                    app.start("kfs", n, actor)
                    app.transfer("kfs", n, actor, service="housing_unit_ownership")
                    waiting_tokens.append(called["token"])
                else:
                    app.start("kfs", n, actor)
                    busy[n] = clock.now + timedelta(minutes=rng.randint(3, 13))
        clock.now += timedelta(minutes=1)
    for n, actor in clerks.items():
        app.set_window_state("kfs", n, "sign_out", actor)
    # request files: two from last month still open (late), one finished yesterday
    desk = FileDesk(app)
    clock.now = datetime.combine(day - timedelta(days=40), time(10, 0), CAIRO).astimezone(UTC)
    old = [desk.create("kfs", "occupancy_licence_issue", "مواطن من الشهر الماضي", NID, None, [], sup)
           for _ in range(2)]
    clock.now = datetime.combine(day, time(11, 0), CAIRO).astimezone(UTC)
    desk.create("kfs", "building_permit", "مواطن جديد", NID, None, [], sup)
    desk.change_status("kfs", old[0]["number"], "under_review", sup)
    engine.dispose()
    return day.isoformat()


@pytest.fixture
def seeded_server(tmp_path):
    data = tmp_path / "server"
    data.mkdir()
    url = f"sqlite:///{data / 'hall.db'}"
    devices = prepare_database(url, data)
    day = seed_yesterday(url, data)
    server = LiveServer(data_dir=data, database_url=url, devices=devices).start()
    server.seeded_day = day
    yield server
    server.stop()


@pytest.fixture
def shots(artifacts):
    folder = artifacts / "supervisor"
    folder.mkdir(exist_ok=True)

    def shot(page: Page, name: str, full: bool = False) -> None:
        page.screenshot(path=str(folder / f"{name}.png"), full_page=full)
    shot.folder = folder
    return shot


def open_page(browser, server, path: str, errors: list):
    context = browser.new_context(viewport=VIEWPORT, locale="ar-EG", timezone_id="Africa/Cairo",
                                  accept_downloads=True)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # API refusals are 4xx by design (and /staffing may not exist); anything else failing is a bug
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and "/api/v1/" not in r.url else None)
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and "/api/v1/" not in (msg.location or {}).get("url", "") else None)
    page.goto(server.url + path)
    return context, page


def login(page: Page) -> None:
    expect(page.locator("body")).to_have_attribute("data-screen", "login")
    page.fill("#username", "supervisor")
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    expect(page.locator("body")).to_have_attribute("data-screen", "main")


def issue(server, service: str) -> dict:
    r = server.api("POST", "/halls/kfs/tickets", token=server.devices["kiosk-1"], json={"service": service})
    assert r.status_code == 201, r.text
    return r.json()


def service_name(code: str) -> str:
    from config import load_settings
    return load_settings(env={}).catalog.service(code).name_ar


def canvas_has_ink(page: Page, selector: str) -> bool:
    """A chart really drew: Chart.js owns the canvas and some pixels are not blank."""
    return page.evaluate("""(sel) => {
        const c = document.querySelector(sel);
        if (!c || !window.Chart.getChart(c)) return false;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let ink = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i] > 0) ink++;
        return ink > 500;
    }""", selector)


def alert_codes(server, token) -> set[str]:
    return {a["code"] for a in server.api("GET", "/halls/kfs/alerts", token).json()["active"]}


def test_live_hall_actions_reports_and_governorate(browser, seeded_server, shots):
    server = seeded_server
    sup = server.login("supervisor")
    clerk3 = server.login("clerk3")
    errors: list[str] = []
    # windows 1 and 3 open for these tickets, then close: no ticket for a closed service, and the
    # page meets both services waiting with nobody to serve them
    with server.windows_open([1, 3]):
        a1, a2, a3 = (issue(server, "building_permit") for _ in range(3))
        b1 = issue(server, "occupancy_licence_issue")
        issue(server, "occupancy_licence_issue")

    ctx, page = open_page(browser, server, "/supervisor/kfs", errors)
    try:
        html = page.locator("html")
        expect(html).to_have_attribute("dir", "rtl")
        expect(html).to_have_attribute("lang", "ar")
        shots(page, "01-login")
        login(page)
        expect(page.locator("#live")).to_have_attribute("data-state", "online")
        expect(page.locator("#kpi-waiting .k-value")).to_have_text("5")
        expect(page.locator("#windows-table tbody tr")).to_have_count(9)
        expect(page.locator('#windows-table tr[data-window="3"] .pill')).to_have_text("مغلق")
        # nobody serves these services: the alert is live and listed
        expect(page.locator('#alert-list .alert[data-code="no_open_window"]')).to_have_count(2)
        expect(page.locator('#alert-list .alert[data-code="late_files"]')).to_have_count(1)
        expect(page.locator("#waiting-table tbody tr")).to_have_count(5)
        staffing = server.api("GET", "/halls/kfs/staffing?day=2026-01-01", sup)
        if staffing.status_code == 200:
            expect(page.locator("#staffing-card")).to_be_visible()
        else:
            expect(page.locator("#staffing-card")).to_be_hidden()
        shots(page, "02-live-queue-and-alerts")

        # --- the supervisor opens window 3; clerk3 signs in and calls from the counter (API) -----
        page.click('#windows-table tr[data-window="3"] button[data-action="open"]')
        expect(page.locator('#windows-table tr[data-window="3"] .pill')).to_have_text("مفتوح")
        assert server.api("GET", "/halls/kfs/windows/3", sup).json()["state"] == "open"
        assert server.api("POST", "/halls/kfs/windows/3/sign-in", clerk3).status_code == 200
        r = server.api("POST", "/halls/kfs/windows/3/call-next", clerk3)
        assert r.status_code == 200 and r.json()["number"] == b1["number"]
        row3 = page.locator('#windows-table tr[data-window="3"]')
        expect(row3.locator(".current .ticket-no.ltr")).to_have_text(b1["number"])
        expect(row3.locator(".clerk")).to_have_text("Clerk 3")
        expect(page.locator("#kpi-waiting .k-value")).to_have_text("4")
        # occupancy is served now; building permits still are not
        expect(page.locator('#alert-list .alert[data-code="no_open_window"]')).to_have_count(1)
        expect(page.locator("#alert-history li[data-change='cleared']")).to_have_count(1)
        shots(page, "03-after-counter-call")

        # --- pause and resume window 3 from the page -----------------------------------------------
        row3.locator('button[data-action="pause"]').click()
        expect(row3.locator(".pill")).to_have_text("استراحة")
        assert server.api("GET", "/halls/kfs/windows/3", sup).json()["state"] == "paused"
        row3.locator('button[data-action="resume"]').click()
        expect(row3.locator(".pill")).to_have_text("مفتوح")
        # closing a window that holds a ticket is refused, and the page says why
        row3.locator('button[data-action="close"]').click()
        expect(page.locator("#banner")).to_be_visible()
        expect(page.locator("#banner")).to_have_attribute("data-code", "window_busy")
        page.click("#banner-close")

        # --- window 1's services: remove the second, move the (new) last one to the top ---------------
        page.click('#windows-table tr[data-window="1"] button[data-action="services"]')
        dlg = page.locator("#dlg-services")
        expect(dlg).to_be_visible()
        before = server.api("GET", "/halls/kfs/windows/1", sup).json()["services"]
        expect(dlg.locator("#svc-order li")).to_have_count(len(before))
        dlg.locator('#svc-order li button[data-remove="1"]').click()
        for i in range(len(before) - 2, 0, -1):
            dlg.locator(f'#svc-order li button[data-up="{i}"]').click()
        dlg.locator("#svc-add-select").select_option("rent_payment")
        dlg.locator("#svc-add").click()
        shots(page, "04-services-editor")
        dlg.locator("#services-save").click()
        expect(dlg).to_be_hidden()
        expected = [before[-1], before[0]] + before[2:-1] + ["rent_payment"]
        assert server.api("GET", "/halls/kfs/windows/1", sup).json()["services"] == expected
        expect(page.locator('#windows-table tr[data-window="1"] .chip.first')).to_have_text(service_name(before[-1]))

        # --- move a waiting ticket to another service ---------------------------------------------
        page.click(f'#waiting-table button[data-move="{a3["number"]}"]')
        expect(page.locator("#dlg-move")).to_be_visible()
        page.select_option("#move-service", "violation_reconciliation")
        page.click("#move-confirm")
        expect(page.locator("#dlg-move")).to_be_hidden()
        moved = server.api("GET", f"/tickets/{a3['token']}").json()
        assert (moved["service"], moved["status"]) == ("violation_reconciliation", "waiting")
        audit = server.api("GET", f"/halls/kfs/audit?ticket={a3['number']}", sup).json()
        assert audit[0]["action"] == "transferred" and audit[0]["actor"] == "user:supervisor"

        # --- the boards' message line ------------------------------------------------------------------
        page.fill("#board-message", "الشباك ٥ مغلق للصيانة حتى الساعة ١٢")
        page.click("#board-form button[type=submit]")
        expect(page.locator("#board-current")).to_contain_text("للصيانة")
        assert server.api("GET", "/halls/kfs/board").json()["message"] == "الشباك ٥ مغلق للصيانة حتى الساعة ١٢"

        # --- a print agent connects, then drops out -----------------------------------------------------
        agent = socketio.SimpleClient()
        agent.connect(server.url, transports=["websocket"])
        assert agent.call(ev.JOIN, {"hall": "kfs", "role": "printer", "auth": server.devices["printer-1"]})["ok"]
        expect(page.locator('#dev-list li[data-status="online"]')).to_have_count(1)
        agent.disconnect()
        expect(page.locator('#alert-list .alert[data-code="device_offline"]')).to_have_count(1)
        assert "device_offline" in alert_codes(server, sup)
        expect(page.locator('#dev-list li[data-status="offline"]')).to_have_count(1)
        page.click("#alert-history-box summary")
        shots(page, "05-live-after-actions", full=True)

        # --- English --------------------------------------------------------------------------------
        page.click("#lang-toggle")
        expect(html).to_have_attribute("dir", "ltr")
        expect(page.locator('#windows-table tr[data-window="3"] .pill')).to_have_text("Open")
        shots(page, "06-live-english")
        page.click("#lang-toggle")
        expect(html).to_have_attribute("dir", "rtl")

        # --- reports: the seeded day ------------------------------------------------------------------
        day = server.seeded_day
        report = server.api("GET", f"/halls/kfs/reports?from={day}&to={day}", sup).json()
        assert report["totals"]["issued"] > 100 and report["totals"]["waits"] > 100
        page.goto(server.url + f"/supervisor/kfs/reports?from={day}&period=day")
        expect(page.locator("body")).to_have_attribute("data-screen", "main")  # the token is kept per tab
        expect(page.locator("#tbl-service tr.total td").nth(1)).to_have_text(str(report["totals"]["issued"]))
        expect(page.locator("#rep-kpis .kpi").first.locator(".k-value")).to_have_text(str(report["totals"]["issued"]))
        for chart in ("#chart-arrivals", "#chart-waits", "#chart-services"):
            assert canvas_has_ink(page, chart), chart
        assert page.evaluate("Chart.getChart(document.querySelector('#chart-arrivals')).options.scales.x.reverse")
        rows = page.locator("#tbl-window tbody tr")
        expect(rows).to_have_count(len(report["by_window"]))
        expect(page.locator("#tbl-files tr.total td").nth(3)).to_have_text(str(report["files"]["late"]))
        shots(page, "07-report-day", full=True)
        page.click("#lang-toggle")
        expect(html).to_have_attribute("dir", "ltr")
        expect(page.locator("#tbl-service tr.total td").first).to_have_text("Total")
        assert not page.evaluate("Chart.getChart(document.querySelector('#chart-arrivals')).options.scales.x.reverse")
        shots(page, "07b-report-day-english")
        page.click("#lang-toggle")
        expect(html).to_have_attribute("dir", "rtl")

        # CSV download through the page (the token goes in a header, not the URL)
        with page.expect_download() as dl:
            page.click("#csv-download")
        path = dl.value.path()
        text = Path(path).read_text(encoding="utf-8-sig")
        first = next(csv.DictReader(io.StringIO(text)))
        assert first["section"] == "total" and first["issued"] == str(report["totals"]["issued"])
        assert dl.value.suggested_filename == f"report-kfs-{day}-{day}.csv"

        # print layout: controls gone, title and range shown
        page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
        page.emulate_media(media="print")
        expect(page.locator("#range-bar")).to_be_hidden()
        expect(page.locator(".print-head")).to_be_visible()
        shots(page, "08-report-print", full=True)
        page.pdf(path=str(shots.folder / "report-print.pdf"), format="A4", print_background=True)
        page.emulate_media(media="screen")
        page.set_viewport_size(VIEWPORT)

        # a week: by-day table and a line over days
        page.click('[data-period="week"]')
        expect(page.locator("#day-card")).to_be_visible()
        expect(page.locator("#tbl-day tbody tr")).to_have_count(7)
        assert canvas_has_ink(page, "#chart-waits")
        shots(page, "09-report-week", full=True)

        # --- governorate view -------------------------------------------------------------------------
        page.click('a[href="/supervisor/governorate"]')
        expect(page.locator("body")).to_have_attribute("data-page", "governorate")
        page.fill("#range-from", day)  # the week around the seeded day (today may start a new week)
        page.click('[data-period="week"]')
        expect(page.locator('#tbl-halls tbody tr[data-hall="kfs"] .rank')).to_have_text("1")
        week_from, week_to = page.input_value("#range-from"), page.input_value("#range-to")
        assert (datetime.fromisoformat(week_to) - datetime.fromisoformat(week_from)).days == 6
        gov = server.api("GET", f"/reports?from={week_from}&to={week_to}", sup).json()["halls"][0]
        assert gov["totals"]["issued"] > 100
        issued_cell = page.locator('#tbl-halls tbody tr[data-hall="kfs"] td').nth(2)
        expect(issued_cell).to_have_text(str(gov["totals"]["issued"]))
        assert canvas_has_ink(page, "#chart-halls")
        shots(page, "10-governorate", full=True)
        assert errors == [], errors
    finally:
        ctx.close()


def test_a_clerk_cannot_use_the_supervisor_pages(browser, seeded_server):
    errors: list[str] = []
    ctx, page = open_page(browser, seeded_server, "/supervisor/kfs", errors)
    try:
        page.fill("#username", "clerk1")
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        expect(page.locator("#login-error")).to_have_text("هذه الصفحات للمشرفين والمديرين فقط.")
        expect(page.locator("body")).to_have_attribute("data-screen", "login")
        page.fill("#username", "supervisor")
        page.fill("#password", "wrong-password")
        page.click("#login-submit")
        expect(page.locator("#login-error")).to_have_text("اسم المستخدم أو كلمة المرور غير صحيحة.")
        assert errors == [], errors
    finally:
        ctx.close()
