"""Request files in real Chromium: the counter's file panel, the back office, the citizen's inquiry.

One live server for the module. clerk1 opens a file from the keyboard at window 1 and records
documents; the full national ID is shown once and the server's audit trail has the view. A
back-office user of "buildings" works a file through needs documents, under review and ready,
and moves a late one away. Citizens ask about their file on a phone and on the kiosk's screen.
Every step is checked on screen and through the API; screenshots go to test-artifacts/files/.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import Page, expect
from sqlalchemy import update

from tests.support import PASSWORD, ROOT, launch

pytestmark = [pytest.mark.browser]

COUNTER = {"width": 1366, "height": 768}
OFFICE = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
KIOSK = {"width": 1080, "height": 1920}
NID = "29001011312345"  # born 1 Jan 1990 in Sharqia (13)
NID_EASTERN = "٢٩٠٠١٠١١٣١٢٣٤٥"
NAME = "محمد أحمد علي حسن"
FILE_RE = re.compile(r"^\d{4}-\d{6}$")


def hall_cli(srv, *args: str) -> subprocess.CompletedProcess:
    """`hall-server ...` on the live server's database, as an operator runs it."""
    return subprocess.run([sys.executable, "-m", "hall_server", *args, "--database-url", srv.database_url,
                           "--data-dir", str(srv.data_dir)], cwd=str(ROOT), capture_output=True, text=True,
                          timeout=60, env={**os.environ, "HALL_LOG_LEVEL": "WARNING"})


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One hall server for the module, with a back-office user of the buildings department."""
    srv = launch(tmp_path_factory.mktemp("files-ui"))
    try:
        wrong = hall_cli(srv, "user", "add", "bo-wrong", "--password", PASSWORD, "--role", "back_office",
                         "--departments", "buildings,nowhere")
        assert wrong.returncode == 2 and "unknown department(s) nowhere" in wrong.stderr, wrong.stderr
        made = hall_cli(srv, "user", "add", "bo-build", "--password", PASSWORD, "--role", "back_office",
                        "--full-name", "موظف التنظيم والمباني", "--departments", "buildings")
        assert made.returncode == 0, made.stderr
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def shots(artifacts):
    folder = artifacts / "files"
    folder.mkdir(exist_ok=True)

    def shot(page: Page, name: str, full_page: bool = False) -> None:
        page.screenshot(path=str(folder / f"{name}.png"), full_page=full_page)
    return shot


def catalog_service(code: str):
    from config import load_settings
    return load_settings(env={}).catalog.service(code)


def issue(server, service: str) -> dict:
    r = server.api("POST", "/halls/kfs/tickets", token=server.devices["kiosk-1"], json={"service": service})
    assert r.status_code == 201, r.text
    return r.json()


def open_file_by_api(server, clerk: str, window: int, mobile: str | None = None,
                     received: tuple[int, ...] = (0,)) -> dict:
    """What a clerk does at a window, through the API: call the citizen, open the file, finish."""
    token = server.login(clerk)
    server.api("POST", f"/halls/kfs/windows/{window}/sign-in", token=token)  # 409 if already in: fine
    ticket = issue(server, "building_permit")
    called = server.api("POST", f"/halls/kfs/windows/{window}/call-next", token=token)
    assert called.status_code == 200 and called.json()["number"] == ticket["number"], called.text
    body = {"service": "building_permit", "citizen_name": NAME, "national_id": NID,
            "documents_received": list(received), "window": window}
    if mobile:
        body["mobile"] = mobile
    r = server.api("POST", "/halls/kfs/files", token=token, json=body)
    assert r.status_code == 201, r.text
    done = server.api("POST", f"/halls/kfs/windows/{window}/complete", token=token, json={"outcome": "served"})
    assert done.status_code == 200, done.text
    return r.json()


def new_context(browser, server, errors: list, viewport: dict, **kw):
    context = browser.new_context(viewport=viewport, locale="ar-EG", timezone_id="Africa/Cairo", **kw)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # API refusals the tests provoke are 4xx by design; anything else failing to load is a bug
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and "/api/v1/" not in r.url else None)
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and "/api/v1/" not in (msg.location or {}).get("url", "") else None)
    return context, page


def keyboard_login(page: Page, username: str) -> None:
    expect(page.locator("#username")).to_be_focused()
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")


def audit_actions(server, number: str) -> list[tuple[str, str]]:
    r = server.api("GET", f"/halls/kfs/audit?file={number}", token=server.login("supervisor"))
    assert r.status_code == 200, r.text
    return [(e["action"], e["actor"]) for e in r.json()]


# ----- the counter --------------------------------------------------------------------------------
def test_counter_opens_a_file_from_the_keyboard(browser, server, shots):
    permit = catalog_service("building_permit")
    with server.windows_open([2]):  # window 2 serves permits too: open for the ticket; the page takes window 1
        ticket = issue(server, "building_permit")
    errors: list[str] = []
    ctx, page = new_context(browser, server, errors, COUNTER)
    phone_ctx, phone = new_context(browser, server, errors, PHONE, is_mobile=True, has_touch=True)
    try:
        phone.goto(server.url + f"/t/{ticket['token']}")
        expect(phone.locator("#number")).to_have_text(  # the phone page writes Eastern digits
            ticket["number"].translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")))
        expect(phone.locator("#file-link")).to_be_hidden()

        page.goto(server.url + "/counter/kfs")
        keyboard_login(page, "clerk1")
        expect(page.locator('.window-choice[data-window="1"]')).to_be_enabled()
        page.keyboard.press("1")
        page.keyboard.press("Enter")
        expect(page.locator("body")).to_have_attribute("data-screen", "work")
        expect(page.locator("#file-panel")).to_be_hidden()  # no ticket, no panel
        page.keyboard.press("o")
        expect(page.locator("#notice")).to_have_text("هذا الإجراء غير متاح الآن.")

        # N: a submission is called; the panel offers "open a file" with the service's checklist
        page.keyboard.press("n")
        expect(page.locator("#current")).to_have_attribute("data-number", ticket["number"])
        panel = page.locator("#file-panel")
        expect(panel).to_have_attribute("data-mode", "open")
        expect(page.locator("#fp-title-text")).to_have_text("فتح ملف طلب جديد")
        expect(page.locator("#fp-open-docs .doc-text")).to_have_text(list(permit.documents_ar))
        shots(page, "01-counter-open-form")

        # O: straight into the form; a short ID is refused on the page, a bad date by the server
        page.keyboard.press("o")
        expect(page.locator("#fp-name")).to_be_focused()
        page.keyboard.type(NAME)
        page.keyboard.press("Tab")
        expect(page.locator("#fp-nid")).to_be_focused()
        page.keyboard.type("2900101")
        page.keyboard.press("Enter")
        expect(page.locator("#fp-open-error")).to_have_text("الرقم القومي ١٤ رقمًا بالضبط.")
        expect(page.locator("#fp-nid")).to_be_focused()
        page.keyboard.press("Control+a")
        page.keyboard.type("29002301312345")  # 30 February
        page.keyboard.press("Enter")
        expect(page.locator("#fp-open-error")).to_have_text(  # words for the clerk, the code out of sight
            "تاريخ الميلاد في الرقم القومي (الأرقام 2–7) غير صحيح.")
        expect(page.locator("#fp-open-error")).to_have_attribute("data-code", "invalid_national_id_date")
        expect(page.locator("#fp-nid")).to_be_focused()
        shots(page, "02-counter-server-refuses-the-id")
        assert server.api("GET", f"/tickets/{ticket['token']}").json()["request_file"] is None

        # the clerk types the right ID in Eastern digits, the mobile, ticks two documents, Enter
        page.keyboard.type(NID_EASTERN)  # the field's text was selected: typing replaces it
        page.keyboard.press("Tab")
        page.keyboard.type("01012345678")
        page.keyboard.press("Tab")
        expect(page.locator("#fp-open-doc-0")).to_be_focused()
        page.keyboard.press("Space")
        page.keyboard.press("Tab")
        page.keyboard.press("Space")
        expect(page.locator("#fp-open-docs input:checked")).to_have_count(2)
        page.keyboard.press("Enter")

        expect(panel).to_have_attribute("data-mode", "file")
        expect(page.locator("#fp-number")).to_have_text(FILE_RE)
        number = page.locator("#fp-number").inner_text()
        public = server.api("GET", f"/tickets/{ticket['token']}").json()
        assert public["request_file"] == number
        expect(page.locator("#current-file-number")).to_have_text(number)
        expect(page.locator("#fp-status")).to_have_text("تم الاستلام")
        expect(page.locator("#fp-department")).to_have_text("التنظيم والمباني")
        expect(page.locator("#fp-nid-value")).to_have_text("**********2345")
        expect(page.locator("#fp-docs-count")).to_have_text("(2/5)")
        expect(page.locator("#fp-reveal-note")).to_have_text("كل اطلاع على الرقم الكامل يُسجَّل باسمك.")
        expect(page.locator("#screen-work")).to_be_focused()  # the shortcuts work again at once
        # the citizen's phone learns the file number live (ticket_status) and links to the inquiry
        expect(phone.locator("#file-link")).to_be_visible()
        assert number in (phone.locator("#file-link").get_attribute("href") or "")
        shots(page, "03-counter-file-opened")
        shots(phone, "04-phone-ticket-with-file", full_page=True)
        stored = server.api("GET", f"/halls/kfs/files/{number}", token=server.login("supervisor")).json()
        assert stored["citizen_name"] == NAME and stored["mobile"].endswith("5678")
        assert [d["received"] for d in stored["documents"]] == [True, True, False, False, False]

        # O again: focus lands on the first document still missing; Space, Enter records it
        page.keyboard.press("o")
        expect(page.locator("#fp-file-doc-2")).to_be_focused()
        # a change elsewhere in the hall refreshes the page (queue_changed): the list is not rebuilt
        # under the clerk's keys (a repaint between Space's down and up lost the tick)
        page.locator("#fp-file-doc-2").evaluate("b => { b.dataset.seen = '1'; }")
        with page.expect_response(lambda r: r.url.endswith("/windows/1") and r.request.method == "GET"):
            extra = issue(server, "building_permit")  # window 1, the page's, serves permits
        expect(page.locator("#fp-file-doc-2")).to_have_attribute("data-seen", "1")
        expect(page.locator("#fp-file-doc-2")).to_be_focused()
        assert server.api("POST", f"/tickets/{extra['token']}/cancel").status_code == 200  # the module's server
        page.keyboard.press("Space")
        page.keyboard.press("Enter")
        expect(page.locator("#fp-docs-count")).to_have_text("(3/5)")
        expect(page.locator("#fp-file-doc-2")).to_be_disabled()
        stored = server.api("GET", f"/halls/kfs/files/{number}", token=server.login("supervisor")).json()
        assert [d["received"] for d in stored["documents"]] == [True, True, True, False, False]
        assert "file_viewed_national_id" not in [a for a, _ in audit_actions(server, number)]

        # show the full ID: Shift+Tab from the checklist reaches the button; the view is recorded
        page.keyboard.press("o")
        expect(page.locator("#fp-file-doc-3")).to_be_focused()
        page.keyboard.press("Shift+Tab")
        expect(page.locator("#fp-reveal")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator("#fp-nid-value")).to_have_text(NID)
        expect(page.locator("#fp-reveal-note")).to_contain_text("سُجِّل اطلاعك على الرقم الكامل باسمك في سجل المراجعة")
        shots(page, "05-counter-full-id-shown-and-recorded")
        assert ("file_viewed_national_id", "user:clerk1") in audit_actions(server, number)
        page.keyboard.press("Enter")  # "hide"
        expect(page.locator("#fp-nid-value")).to_have_text("**********2345")
        page.keyboard.press("Escape")
        expect(page.locator("#screen-work")).to_be_focused()

        # English: the panel follows the toggle
        page.locator("#lang-toggle").click()
        expect(page.locator("#fp-status")).to_have_text("Received")
        expect(page.locator("#fp-title-text")).to_have_text("Request file")
        shots(page, "06-counter-file-english")
        page.locator("#lang-toggle").click()
        page.locator("#screen-work").focus()

        # C then 1: the ticket is done; no current ticket, no panel
        page.keyboard.press("c")
        page.keyboard.press("1")
        expect(page.locator("#current")).to_have_attribute("data-status", "none")
        expect(panel).to_be_hidden()
        assert errors == []
    finally:
        ctx.close()
        phone_ctx.close()


def test_counter_hands_a_ready_file_to_the_returning_citizen(browser, server, shots):
    f = open_file_by_api(server, "clerk2", 2)
    sup = server.login("supervisor")
    for status in ("under_review", "ready"):
        assert server.api("POST", f"/halls/kfs/files/{f['number']}/status", token=sup,
                          json={"status": status}).status_code == 200
    # the citizen comes back with the file number: the kiosk routes it to "collect" (window 9)
    with server.windows_open([9]):  # open for the ticket (no ticket for a closed service); the page signs in
        r = server.api("POST", "/halls/kfs/tickets", token=server.devices["kiosk-1"],
                       json={"request_file": f["number"]})
    assert r.status_code == 201 and r.json()["service"] == "file_collect", r.text
    ticket = r.json()
    errors: list[str] = []
    ctx, page = new_context(browser, server, errors, COUNTER)
    try:
        page.goto(server.url + "/counter/kfs")
        keyboard_login(page, "clerk9")
        expect(page.locator('.window-choice[data-window="9"]')).to_be_enabled()
        page.keyboard.press("9")
        page.keyboard.press("Enter")
        expect(page.locator("body")).to_have_attribute("data-screen", "work")
        page.keyboard.press("n")
        expect(page.locator("#current")).to_have_attribute("data-number", ticket["number"])
        expect(page.locator("#file-panel")).to_have_attribute("data-mode", "file")
        expect(page.locator("#fp-number")).to_have_text(f["number"])
        expect(page.locator("#fp-status")).to_have_text("جاهز للتسليم")
        expect(page.locator("#fp-deliver")).to_be_visible()
        page.keyboard.press("o")
        expect(page.locator("#fp-deliver")).to_be_focused()
        shots(page, "07-counter-ready-file-to-hand-over")
        page.keyboard.press("Enter")
        expect(page.locator("#fp-status")).to_have_text("تم التسليم")
        expect(page.locator("#fp-deliver")).to_be_hidden()
        expect(page.locator("#fp-file-docs input:not(:disabled)")).to_have_count(0)  # closed: nothing to tick
        got = server.api("GET", f"/halls/kfs/files/{f['number']}", token=sup).json()
        assert got["status"] == "delivered" and got["closed_at"]
        assert got["history"][-1]["actor"] == "user:clerk9"
        page.keyboard.press("c")
        page.keyboard.press("1")
        expect(page.locator("#file-panel")).to_be_hidden()
        assert errors == []
    finally:
        ctx.close()


# ----- the back office ----------------------------------------------------------------------------
def backdate(server, number: str, days_late: int) -> None:
    """Make a file look opened long ago: its due date is `days_late` days behind the hall's today."""
    from hall_server.storage import make_engine, request_files, write_tx
    today = datetime.now(ZoneInfo("Africa/Cairo")).date()
    engine = make_engine(server.database_url)
    try:
        with write_tx(engine) as c:
            c.execute(update(request_files).where(request_files.c.hall == "kfs", request_files.c.number == number)
                      .values(due_date=today - timedelta(days=days_late),
                              received_at=datetime.now(ZoneInfo("UTC")) - timedelta(days=45)))
    finally:
        engine.dispose()


def test_back_office_works_the_department_files(browser, server, shots):
    fresh = open_file_by_api(server, "clerk2", 2, mobile="01198765432")
    old = open_file_by_api(server, "clerk2", 2)
    backdate(server, old["number"], 3)
    errors: list[str] = []
    ctx, page = new_context(browser, server, errors, OFFICE)
    try:
        page.goto(server.url + "/backoffice/kfs")
        expect(page.locator("html")).to_have_attribute("dir", "rtl")
        keyboard_login(page, "bo-build")
        expect(page.locator("body")).to_have_attribute("data-screen", "main")
        # one department: the picker shows it and nothing else
        expect(page.locator("#department option")).to_have_text(["التنظيم والمباني"])
        rows = page.locator("#files-body .file-row")
        expect(rows.first).to_have_attribute("data-number", old["number"])  # oldest due first
        numbers = list(rows.evaluate_all("rs => rs.map(r => r.dataset.number)"))
        assert fresh["number"] in numbers and numbers.index(old["number"]) < numbers.index(fresh["number"])
        late_row = page.locator(f'.file-row[data-number="{old["number"]}"]')
        expect(late_row).to_have_class(re.compile(r"\blate\b"))
        expect(late_row.locator(".c-late")).to_have_text("متأخر 3 أيام")
        expect(page.locator(f'.file-row[data-number="{fresh["number"]}"]')).not_to_have_class(re.compile(r"\blate\b"))
        shots(page, "10-backoffice-list")

        # late only
        page.locator("#status-filter").select_option("late")
        expect(rows).to_have_count(1)
        expect(rows.first).to_have_attribute("data-number", old["number"])
        page.locator("#status-filter").select_option("")
        expect(rows.first).to_have_attribute("data-number", old["number"])

        # the fresh file: detail with history; "needs documents" insists on a reason
        page.locator(f'.file-row[data-number="{fresh["number"]}"] .row-open').click()
        detail = page.locator("#detail")
        expect(detail).to_have_attribute("data-number", fresh["number"])
        expect(page.locator("#d-status")).to_have_text("تم الاستلام")
        expect(page.locator("#d-nid")).to_have_text("**********2345")
        expect(page.locator("#d-history .h-item")).to_have_count(1)
        expect(page.locator("#d-history .h-extra")).to_contain_text("التذكرة A-")
        page.locator('#d-actions .act[data-status="needs_documents"]').click()
        expect(page.locator("#d-error")).to_contain_text("اكتب السبب")
        assert server.api("GET", f"/halls/kfs/files/{fresh['number']}",
                          token=server.login("supervisor")).json()["status"] == "received"
        reason = "الرسومات الهندسية معتمدة من مهندس نقابي"
        page.locator("#d-reason-input").fill(reason)
        page.locator('#d-actions .act[data-status="needs_documents"]').click()
        expect(page.locator("#d-status")).to_have_text("مطلوب استكمال مستندات")
        expect(page.locator("#d-reason")).to_have_text("المطلوب من المواطن: " + reason)
        expect(page.locator(f'.file-row[data-number="{fresh["number"]}"] .status-pill')).to_have_text(
            "مطلوب استكمال مستندات")
        shots(page, "11-backoffice-needs-documents")
        got = server.api("GET", f"/halls/kfs/files/{fresh['number']}", token=server.login("supervisor")).json()
        assert (got["status"], got["reason"]) == ("needs_documents", reason)

        # under review, then ready: only the buttons the flow allows are offered
        expect(page.locator('#d-actions .act[data-status="ready"]')).to_be_hidden()
        page.locator('#d-actions .act[data-status="under_review"]').click()
        expect(page.locator("#d-status")).to_have_text("قيد المراجعة")
        page.locator('#d-actions .act[data-status="ready"]').click()
        expect(page.locator("#d-status")).to_have_text("جاهز للتسليم")
        expect(page.locator("#d-actions .act[data-status]:visible")).to_have_count(0)
        expect(page.locator("#d-reason-field")).to_be_hidden()  # nothing left that needs a reason
        expect(page.locator("#d-history .h-status")).to_have_count(3)
        got = server.api("GET", f"/halls/kfs/files/{fresh['number']}", token=server.login("supervisor")).json()
        assert got["status"] == "ready"
        changes = [h for h in got["history"] if h["kind"] == "status"]
        assert [h["to"] for h in changes] == ["needs_documents", "under_review", "ready"]
        assert {h["actor"] for h in changes} == {"user:bo-build"}

        # the masked ID, shown on request; the server records the back-office view too
        page.locator("#d-reveal").click()
        expect(page.locator("#d-nid")).to_have_text(NID)
        expect(page.locator("#d-reveal-note")).to_contain_text("سجل المراجعة")
        shots(page, "12-backoffice-ready-with-id-shown")
        page.locator("#d-history").scroll_into_view_if_needed()
        shots(page, "12b-backoffice-history")
        assert ("file_viewed_national_id", "user:bo-build") in audit_actions(server, fresh["number"])

        # the late file moves to housing: it leaves this list and becomes read-only here
        page.locator(f'.file-row[data-number="{old["number"]}"] .row-open').click()
        expect(detail).to_have_attribute("data-number", old["number"])
        expect(page.locator("#d-nid")).to_have_text("**********2345")  # a new file is masked again
        expect(page.locator("#d-late")).to_have_text("متأخر 3 أيام")
        page.locator("#d-move-to").select_option("housing")
        page.locator("#d-move").click()
        expect(page.locator("#d-department")).to_have_text("الإسكان")
        expect(page.locator(f'.file-row[data-number="{old["number"]}"]')).to_have_count(0)
        expect(page.locator("#d-readonly")).to_be_visible()
        expect(page.locator("#d-move")).to_be_hidden()
        expect(page.locator("#d-actions .act[data-status]:visible")).to_have_count(0)
        shots(page, "13-backoffice-moved-away")
        assert server.api("GET", f"/halls/kfs/files/{old['number']}",
                          token=server.login("supervisor")).json()["department"] == "housing"

        # English
        page.locator("#lang-toggle").click()
        expect(page.locator("html")).to_have_attribute("dir", "ltr")
        expect(page.locator("#d-history .h-moved .h-kind")).to_have_text("Moved to another department")
        shots(page, "14-backoffice-english")
        page.locator("#lang-toggle").click()
        assert errors == []
    finally:
        ctx.close()


def test_back_office_login_rules_and_supervisor_sees_all(browser, server, shots):
    errors: list[str] = []
    ctx, page = new_context(browser, server, errors, OFFICE)
    try:
        page.goto(server.url + "/backoffice/")
        expect(page.locator("body")).to_have_attribute("data-hall", "kfs")  # one hall: straight to it
        keyboard_login(page, "clerk3")  # clerks work at windows, not in the back office
        expect(page.locator("#login-error")).to_have_text("هذه الصفحة لموظفي الإدارات الخلفية والمشرفين فقط.")
        expect(page.locator("body")).to_have_attribute("data-screen", "login")
        page.locator("#username").fill("supervisor")
        page.locator("#password").fill(PASSWORD)
        page.keyboard.press("Enter")
        expect(page.locator("body")).to_have_attribute("data-screen", "main")
        expect(page.locator("#department option").first).to_have_text("كل الإدارات")
        page.locator("#department").select_option("housing")
        expect(page.locator("#files-body .file-row")).to_have_count(1)
        expect(page.locator("#files-body .file-row .c-late")).to_have_text("متأخر 3 أيام")
        shots(page, "15-backoffice-supervisor-housing")
        assert errors == []
    finally:
        ctx.close()
    assert requests.get(server.url + "/backoffice/nowhere", timeout=10).status_code == 404


# ----- the citizen's inquiry ------------------------------------------------------------------------
def test_citizen_inquiry_on_a_phone_and_on_the_kiosk(browser, server, shots):
    f = open_file_by_api(server, "clerk2", 2, mobile="01055501234")
    bo = server.login("bo-build")
    reason = "صورة عقد الملكية المسجل"
    r = server.api("POST", f"/halls/kfs/files/{f['number']}/status", token=bo,
                   json={"status": "needs_documents", "reason": reason})
    assert r.status_code == 200, r.text
    permit = catalog_service("building_permit")
    errors: list[str] = []

    # a phone, from the ticket page's link: the number is filled in already
    ctx, page = new_context(browser, server, errors, PHONE, is_mobile=True, has_touch=True)
    try:
        page.goto(server.url + f"/inquiry?file={f['number']}")
        expect(page.locator("html")).to_have_attribute("lang", "ar")
        expect(page.locator("#file")).to_have_value(f["number"])
        expect(page.locator("#keypad")).to_be_hidden()  # the phone has its own keyboard
        shots(page, "20-inquiry-phone-form", full_page=True)
        page.locator("#last4").fill("2345")  # the national ID's last four
        page.locator("#submit").click()
        expect(page.locator("#result")).to_be_visible()
        expect(page.locator("#result-title")).to_have_text("مطلوب استكمال مستندات")
        expect(page.locator("#result-reason")).to_have_text("المطلوب: " + reason)
        expect(page.locator("#r-service")).to_have_text(permit.name_ar)
        expect(page.locator("#r-due")).not_to_be_empty()
        assert NAME not in page.content() and NID not in page.content()
        shots(page, "21-inquiry-phone-needs-documents", full_page=True)

        # wrong digits: the same "no match" as for an unknown file
        page.locator("#again").click()
        page.locator("#file").fill(f["number"])
        page.locator("#last4").fill("٠٠٠٠")
        page.locator("#submit").click()
        expect(page.locator("#problem")).to_be_visible()
        expect(page.locator("#problem-title")).to_have_text("لا يوجد ملف مطابق")
        shots(page, "22-inquiry-phone-no-match", full_page=True)
        page.locator("#retry").click()
        expect(page.locator("#file")).to_have_value(f["number"])  # kept: only the digits were wrong
        expect(page.locator("#last4")).to_have_value("")

        # a malformed number never reaches the server
        page.locator("#file").fill("12-3")
        page.locator("#last4").fill("2345")
        page.locator("#submit").click()
        expect(page.locator("#ask-error")).to_contain_text("اكتب رقم الملف كما هو مطبوع")

        # once the back office marks it ready, the same question gets the new answer
        for status in ("under_review", "ready"):
            server.api("POST", f"/halls/kfs/files/{f['number']}/status", token=bo, json={"status": status})
        page.locator("#file").fill(f["number"].replace("-", ""))  # typed without the dash
        page.locator("#last4").fill("1234")  # the mobile's last four this time
        page.locator("#submit").click()
        expect(page.locator("#result-title")).to_have_text("طلبك جاهز للاستلام")
        expect(page.locator("#result-reason")).to_be_hidden()
        shots(page, "23-inquiry-phone-ready", full_page=True)
    finally:
        ctx.close()

    # the kiosk: a tall touch screen with no keyboard: the on-screen keypad types Eastern digits
    other = open_file_by_api(server, "clerk2", 2)
    kctx, kiosk = new_context(browser, server, errors, KIOSK, has_touch=True)
    try:
        kiosk.goto(server.url + "/inquiry?hall=kfs")
        expect(kiosk.locator("#keypad")).to_be_visible()
        expect(kiosk.locator("#file")).to_have_attribute("inputmode", "none")
        expect(kiosk.locator('.key[data-key="7"]')).to_have_text("٧")
        for ch in other["number"]:
            kiosk.locator(f'.key[data-key="{ch}"]').tap()
        kiosk.locator("#last4").tap()
        for ch in "2345":
            kiosk.locator(f'.key[data-key="{ch}"]').tap()
        expect(kiosk.locator("#file")).to_have_value(
            other["number"].translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")))
        expect(kiosk.locator("#last4")).to_have_value("٢٣٤٥")
        shots(kiosk, "24-inquiry-kiosk-keypad")
        kiosk.locator("#submit").tap()
        expect(kiosk.locator("#result-title")).to_have_text("تم استلام طلبك")
        shots(kiosk, "25-inquiry-kiosk-received")

        # after too many wrong tries the server refuses (429), and the page says so plainly
        for _ in range(10):
            wrong = server.api("POST", "/halls/kfs/inquiry", json={"file": other["number"], "last4": "9999"})
            assert wrong.status_code == 404
        kiosk.locator("#again").tap()
        kiosk.locator("#file").fill(other["number"])
        kiosk.locator("#last4").fill("2345")
        kiosk.locator("#submit").tap()
        expect(kiosk.locator("#problem-title")).to_have_text("تم إيقاف الاستعلام مؤقتًا")
        shots(kiosk, "26-inquiry-kiosk-too-many")

        # English toggle
        kiosk.locator("#lang-toggle").tap()
        expect(kiosk.locator("html")).to_have_attribute("dir", "ltr")
        expect(kiosk.locator("#problem-title")).to_have_text("Inquiries paused")
        kiosk.locator("#retry").tap()
        expect(kiosk.locator("#submit")).to_have_text("Check")
        shots(kiosk, "27-inquiry-kiosk-english")
        assert errors == []
    finally:
        kctx.close()

    assert requests.get(server.url + "/inquiry?hall=nowhere", timeout=10).status_code == 404
