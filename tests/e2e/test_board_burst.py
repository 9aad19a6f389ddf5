"""A burst on the board in real Chromium: 20 calls from 9 windows at once are all shown in call
order and spoken one at a time, in call order, none dropped, recalls spoken again."""
from __future__ import annotations

import pytest

from tests.board_support import (
    HALL,
    act,
    burst_plan,
    call_span_seconds,
    called_ids,
    issue,
    main_services,
    open_board,
    run_burst,
    save_json,
    shot,
    sign_in,
    wait_for,
)
from tests.support import launch

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_burst_keeps_call_order_on_screen_and_in_sound(browser, tmp_path):
    # Speech off on the server: each call is then the chime alone (0.75 s), so 20 of them take
    # ~25 s instead of ~150 s of spoken sentences; the order and overlap rules are the same, and
    # test_board_page checks a real spoken call end to end.
    server = launch(tmp_path / "server", env={"HALL_TTS_ENGINE": "none"})
    try:
        tokens = sign_in(server, range(1, 10))  # windows first: a ticket only for an open service
        for code in main_services().values():
            issue(server, code, 4)
        page = open_board(browser, server, autoplay="1", digits="western")
        took = run_burst(server, tokens, burst_plan(9, 20, recalls=(3, 8)))
        expected = called_ids(server)
        assert len(expected) == 20
        board = server.api("GET", f"/halls/{HALL}/board").json()

        # On screen: the newest call in the big panel, the others below it newest first.
        newest = board["calls"][0]
        page.wait_for_function(f"document.getElementById('now').dataset.callId === '{newest['call_id']}'")
        assert page.locator("#now-number").inner_text() == newest["number"]
        assert page.locator("#now-window").inner_text() == str(newest["window"])
        shown = [int(x) for x in page.eval_on_selector_all("#calls li", "els => els.map(e => e.dataset.callId)")]
        assert shown == sorted(shown, reverse=True) and shown and max(shown) < newest["call_id"]
        for w in board["windows"]:   # every window shows its current ticket
            tile = page.locator(f'#windows .tile[data-window="{w["number"]}"]')
            assert (w["current"] or "") in tile.inner_text()
        shot(page, "burst-on-screen")

        # In sound: every call, once, in call order, one at a time.
        log = wait_for(lambda: (entries := page.evaluate("window.boardAudioLog"))
                       and len(entries) == 20 and entries[-1]["ended"] is not None and entries,
                       120, "20 calls to be spoken")
        assert [e["call_id"] for e in log] == expected
        for before, after in zip(log, log[1:]):
            assert after["started"] >= before["ended"], (before, after)
        assert all(e["ok"] for e in log), log
        recalled = [e for e in log if e["recall"]]
        assert len(recalled) == 2
        # The first call rang the chime; the ones queued behind it fetched the variant without it.
        assert not log[0]["queued"] and all(e["queued"] for e in log[1:]), log
        for e in recalled:
            assert [x["number"] for x in log].count(e["number"]) == 2
        save_json("burst-audio-log", {"burst_seconds": took, "calls_span_seconds": call_span_seconds(server),
                                      "log": log})
        assert page.errors == []
    finally:
        server.stop()


def test_calls_queued_behind_another_are_spoken_short_and_a_recall_says_so(browser, live_server):
    # Real speech: the first call in full with its chime, the two that wait behind it without the
    # chime in the short form (`audio_url?queued=1`), then a recall alone, longer by «نداء ثانٍ».
    services = main_services()
    tokens = sign_in(live_server, [1, 3, 5])  # windows first: a ticket only for an open service
    for w in (1, 3, 5):
        issue(live_server, services[w])
    page = open_board(browser, live_server, autoplay="1", digits="western")
    for w in (1, 3, 5):
        act(live_server, tokens[w], w, "call-next")
    log = wait_for(lambda: (entries := page.evaluate("window.boardAudioLog"))
                   and len(entries) == 3 and entries[-1]["ended"] is not None and entries, 60, "3 calls spoken")
    assert [e["window"] for e in log] == [1, 3, 5] and all(e["ok"] for e in log), log
    assert [e["queued"] for e in log] == [False, True, True]
    assert log[0]["duration"] > 4.0                                    # chime and the full sentence
    assert all(1.5 < e["duration"] < 2.8 for e in log[1:]), log       # «إس واحد، شباك سبعة»
    act(live_server, tokens[1], 1, "recall")
    log = wait_for(lambda: (entries := page.evaluate("window.boardAudioLog"))
                   and len(entries) == 4 and entries[-1]["ended"] is not None and entries, 60, "the recall")
    assert log[3]["recall"] and not log[3]["queued"] and log[3]["ok"]
    assert log[3]["duration"] > log[0]["duration"] + 0.5               # «نداء ثانٍ، التذكرة ...»
    save_json("board-queued-audio-log", log)
    assert page.errors == []
