"""A board left on for days: it survives a server restart without a reload (offline mark while
down, snapshot after), speaks a call it missed meanwhile but never an old one again, and resyncs
on a gap in `seq`."""
from __future__ import annotations

import pytest

from tests.board_support import act, issue, main_services, open_board, shot, sign_in, wait_for

pytestmark = pytest.mark.browser


def _spoken(page) -> list[int]:
    return [e["call_id"] for e in page.evaluate("window.boardAudioLog")]


def test_the_board_recovers_from_a_server_restart_without_a_reload(browser, live_server):
    services = main_services()
    tokens = sign_in(live_server, [6])  # windows first: a ticket only for an open service
    issue(live_server, services[6], 5)
    page = open_board(browser, live_server, autoplay="1", digits="western")
    page.evaluate("window.__sameDocument = true")          # gone if the page ever reloads
    act(live_server, tokens[6], 6, "call-next")
    page.wait_for_function("document.getElementById('now-number').textContent === 'E-001'")
    first = wait_for(lambda: _spoken(page), 30, "the first call to be spoken")

    live_server.stop()
    page.wait_for_selector("#offline", state="visible", timeout=30000)
    assert page.locator("#offline").inner_text().strip().startswith("غير متصل")
    shot(page, "offline-mark")

    live_server.start()
    # Called while the board is still reconnecting: it arrives in the snapshot, not as an event.
    act(live_server, tokens[6], 6, "start")
    act(live_server, tokens[6], 6, "call-next")
    page.wait_for_function("document.getElementById('now-number').textContent === 'E-002'", timeout=60000)
    page.wait_for_selector("#offline", state="hidden", timeout=30000)
    missed = wait_for(lambda: len(_spoken(page)) >= 2 and _spoken(page), 60, "the missed call to be spoken")
    assert missed[0] == first[0] and missed[1] > first[0]    # spoken once; the old one not again

    act(live_server, tokens[6], 6, "recall")                 # and live events flow again
    page.wait_for_selector("#now-recall", state="visible")
    wait_for(lambda: len(_spoken(page)) >= 3, 60, "the recall to be spoken")
    assert len(set(_spoken(page))) == len(_spoken(page)) == 3
    assert page.evaluate("window.__sameDocument") is True
    assert "E-001" in page.locator("#calls").inner_text()
    shot(page, "after-restart")
    assert page.errors == []


def test_a_gap_in_seq_brings_a_fresh_snapshot(browser, live_server):
    services = main_services()
    tokens = sign_in(live_server, [8])  # windows first: a ticket only for an open service
    issue(live_server, services[8], 2)
    page = open_board(browser, live_server, autoplay="1", digits="western")
    joins = page.evaluate("window.boardLive.joins")
    # An event from the future (seq + 5): the board missed four, so it must ask for a snapshot.
    page.evaluate("""() => { const l = window.boardLive;
                             l._event('queue_changed', {seq: l.seq + 5, waiting: {}, eta: {}, open: {}}); }""")
    page.wait_for_function(f"window.boardLive.joins > {joins} && window.boardLive.seq !== null")
    act(live_server, tokens[8], 8, "call-next")
    page.wait_for_function("document.getElementById('now-number').textContent === 'U-001'")
    chip = page.locator(f'#waiting .chip[data-service="{services[8]}"] .chip-count')
    # the snapshot replaced the bogus empty counts; the count after the call follows in the next
    # (coalesced) queue_changed
    wait_for(lambda: chip.inner_text() == "1", 30, "the waiting count to follow the call")
    assert page.errors == []
