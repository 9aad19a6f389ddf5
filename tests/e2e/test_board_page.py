"""The display board in real Chromium against a real server: a call is shown, highlighted and
spoken; digits, language, orientation and zones; the sound gate; and 4xx pages for bad URLs."""
from __future__ import annotations

import re

import pytest
import requests

from tests.board_support import HALL, act, issue, main_services, open_board, save_json, shot, sign_in, wait_for

EASTERN = re.compile(r"[٠-٩]")
WESTERN = re.compile(r"[0-9]")

GLYPH_HEIGHT = """(id) => {
  // The ink height of the element's text (not its line box): what a citizen sees from afar.
  const e = document.getElementById(id), cs = getComputedStyle(e);
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = cs.fontWeight + ' ' + cs.fontSize + ' ' + cs.fontFamily;
  const m = ctx.measureText(e.textContent);
  return m.actualBoundingBoxAscent + m.actualBoundingBoxDescent;
}"""


def text(page, selector: str) -> str:
    return page.locator(selector).inner_text().strip()


def audio_log(page) -> list[dict]:
    return page.evaluate("window.boardAudioLog")


@pytest.mark.browser
def test_a_call_is_shown_highlighted_and_spoken(browser, live_server):
    services = main_services()
    tokens = sign_in(live_server, [1, 5])  # windows first: a ticket only for an open service
    issue(live_server, services[5], 3)
    issue(live_server, services[1], 2)
    page = open_board(browser, live_server, autoplay="1")
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.locator("html").get_attribute("lang") == "ar"
    assert text(page, "#now-number") == "—"

    act(live_server, tokens[5], 5, "call-next")
    page.wait_for_function("document.getElementById('now-number').textContent === 'D-٠٠١'")
    assert text(page, "#now-window") == "٥"
    assert "flash" in page.locator("#now").get_attribute("class")      # it blinks
    tile = page.locator('#windows .tile[data-window="5"]')
    assert "called" in tile.get_attribute("class")                      # and its window lights up
    assert "D-٠٠١" in tile.inner_text()
    chip = page.locator(f'#waiting .chip[data-service="{services[5]}"] .chip-count')
    page.wait_for_function(f"""document.querySelector('#waiting .chip[data-service="{services[5]}"] .chip-count')
                               && document.querySelector('#waiting .chip[data-service="{services[5]}"] .chip-count')
                                  .textContent === '٢'""")
    assert chip.inner_text() == "٢"
    assert EASTERN.search(text(page, "#time")) and not WESTERN.search(text(page, "#time"))
    assert EASTERN.search(text(page, "#date"))
    assert page.evaluate(GLYPH_HEIGHT, "now-number") >= 160
    assert page.evaluate(GLYPH_HEIGHT, "now-window") >= 160
    shot(page, "landscape-ar-eastern-call")

    # Spoken: the call's WAV (chime and voice) played to its end.
    entry = wait_for(lambda: [e for e in audio_log(page) if e["ended"] is not None], 60, "the call to be spoken")[0]
    assert entry["number"] == "D-001" and entry["ok"]
    assert entry["duration"] > 3.0           # the joined chime + speech, not the chime alone

    act(live_server, tokens[1], 1, "call-next")
    page.wait_for_function("document.getElementById('now-number').textContent === 'A-٠٠١'")
    first = page.locator("#calls li").first
    assert first.get_attribute("data-call-id") == str(entry["call_id"])
    assert "D-٠٠١" in first.inner_text() and "٥" in first.inner_text()
    wait_for(lambda: len([e for e in audio_log(page) if e["ended"] is not None]) == 2, 60, "the second call")
    save_json("landscape-audio-log", audio_log(page))
    shot(page, "landscape-ar-eastern-second-call")
    assert page.errors == []


@pytest.mark.browser
@pytest.mark.parametrize("lang,digits,size", [("en", "western", (1080, 1920)), ("ar", "eastern", (1080, 1920)),
                                              ("en", "western", (1920, 1080))])
def test_language_digits_and_orientation(browser, live_server, lang, digits, size):
    services = main_services()
    tokens = sign_in(live_server, [7])  # windows first: a ticket only for an open service
    issue(live_server, services[7], 2)
    page = open_board(browser, live_server, size, lang=lang, digits=digits, autoplay="1")
    act(live_server, tokens[7], 7, "call-next")
    number = "S-001" if digits == "western" else "S-٠٠١"
    page.wait_for_function(f"document.getElementById('now-number').textContent === '{number}'")
    assert page.locator("html").get_attribute("dir") == ("ltr" if lang == "en" else "rtl")
    assert text(page, ".now-ticket .label") == ("Ticket" if lang == "en" else "رقم التذكرة")
    digit_re = WESTERN if digits == "western" else EASTERN
    other_re = EASTERN if digits == "western" else WESTERN
    assert digit_re.search(text(page, "#time")) and not other_re.search(text(page, "#time"))
    assert text(page, "#now-window") == ("7" if digits == "western" else "٧")
    assert page.evaluate(GLYPH_HEIGHT, "now-number") >= 160
    assert page.evaluate(GLYPH_HEIGHT, "now-window") >= 160
    for selector in ("#now", "#calls", "#windows", "#waiting", "#ticker"):   # nothing spills off screen
        box = page.locator(selector).bounding_box()
        assert box and box["x"] >= 0 and box["y"] >= 0, selector
        assert box["x"] + box["width"] <= size[0] + 1 and box["y"] + box["height"] <= size[1] + 1, selector
    orientation = "portrait" if size[1] > size[0] else "landscape"
    shot(page, f"{orientation}-{lang}-{digits}")
    assert page.errors == []


@pytest.mark.browser
def test_a_zone_board_shows_and_speaks_only_its_windows(browser, live_server):
    services = main_services()
    # windows first: a ticket only for an open service; window 2 opens for its tickets, then closes
    tokens = sign_in(live_server, [1, 2, 5])
    for w in (1, 2, 5):
        issue(live_server, services[w], 2)
    act(live_server, tokens.pop(2), 2, "sign-out")
    page = open_board(browser, live_server, windows="1,2,3", autoplay="1", digits="western")
    assert page.locator("#windows .tile").count() == 3
    codes = {c.get_attribute("data-service") for c in page.locator("#waiting .chip[data-service]").all()}
    assert codes and services[5] not in codes and services[1] in codes

    act(live_server, tokens[5], 5, "call-next")       # another zone's window
    act(live_server, tokens[1], 1, "call-next")       # ours
    page.wait_for_function("document.getElementById('now-number').textContent === 'A-001'")
    assert page.locator("#calls li").count() == 0       # D-001 at window 5 is not on this board
    wait_for(lambda: audio_log(page), 30, "the zone's call to be spoken")
    assert [e["number"] for e in audio_log(page)] == ["A-001"]
    shot(page, "zone-windows-1-3")

    svc = open_board(browser, live_server, services=services[5], digits="western")
    chips = svc.locator("#waiting .chip[data-service]")
    assert chips.count() == 1 and chips.first.get_attribute("data-service") == services[5]
    shown = {int(t.get_attribute("data-window")) for t in svc.locator("#windows .tile").all()}
    assert 5 in shown and 1 not in shown
    assert text(svc, "#now-number") == "D-001"
    assert page.errors == [] and svc.errors == []


@pytest.mark.browser
def test_without_the_kiosk_flag_sound_waits_for_one_touch(browser, live_server):
    services = main_services()
    tokens = sign_in(live_server, [2])  # windows first: a ticket only for an open service
    issue(live_server, services[2], 2)
    page = open_board(browser, live_server)             # no autoplay=1
    assert page.locator("#sound-gate").is_visible()
    shot(page, "sound-gate")
    act(live_server, tokens[2], 2, "call-next")
    page.wait_for_function("document.getElementById('now-number').textContent === 'A-٠٠١'")
    assert audio_log(page) == []                        # shown at once, kept for the touch
    page.click("#sound-gate-button")
    assert not page.locator("#sound-gate").is_visible()
    entry = wait_for(lambda: audio_log(page), 30, "the kept call to be spoken")[0]
    assert entry["number"] == "A-001"


@pytest.mark.browser
def test_the_supervisors_message_and_the_news_ticker(browser, live_server):
    page = open_board(browser, live_server)
    news = text(page, "#ticker-track")
    assert news.startswith("مرحبًا بكم")
    assert page.evaluate("document.getElementById('ticker-track').getAnimations().length") == 1
    assert not page.locator("#message").is_visible()
    sup = live_server.login("supervisor")
    message = "سيتوقف العمل بالشباك ٣ للصيانة حتى الساعة ١١"
    r = live_server.api("PUT", f"/halls/{HALL}/board/message", sup, json={"message": message})
    assert r.status_code == 200, r.text
    page.wait_for_function("!document.getElementById('message').hidden")
    assert text(page, "#message") == message
    page.click("#sound-gate-button")
    shot(page, "message-and-ticker")
    live_server.api("PUT", f"/halls/{HALL}/board/message", sup, json={"message": None})
    page.wait_for_function("document.getElementById('message').hidden")


def test_a_wrong_board_address_gets_a_clear_4xx_page(live_server):
    token = live_server.devices["board-1"]
    cases = [
        ("/board/nowhere?device=" + token, 404, "no hall"),
        ("/board/kfs", 401, "device"),
        ("/board/kfs?device=not-a-token", 403, "not a board token"),
        ("/board/kfs?device=" + live_server.devices["kiosk-1"], 403, "not a board token"),
        (f"/board/kfs?device={token}&windows=1,99", 400, "99"),
        (f"/board/kfs?device={token}&windows=one", 400, "one"),
        (f"/board/kfs?device={token}&services=building_permit,nope", 400, "nope"),
        (f"/board/kfs?device={token}&digits=roman", 400, "digits"),
        (f"/board/kfs?device={token}&lang=fr", 400, "lang"),
        (f"/board/kfs?device={token}&autoplay=maybe", 400, "autoplay"),
        (f"/board/kfs?device={token}&zone=upstairs", 400, "zone"),
    ]
    for path, status, words in cases:
        r = requests.get(live_server.url + path, timeout=10)
        assert r.status_code == status, (path, r.status_code)
        assert words in r.text, (path, r.text)
        assert "text/html" in r.headers["Content-Type"]
    ok = requests.get(f"{live_server.url}/board/kfs?device={token}&windows=1,2&services=&digits=WESTERN", timeout=10)
    assert ok.status_code == 200 and ok.headers["Cache-Control"] == "no-store"
    assert token not in ok.text.split("board-config")[1]   # the page's settings never repeat the token
