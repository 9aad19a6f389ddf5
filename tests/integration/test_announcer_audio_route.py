"""The server's call WAVs at `audio_url`: pre-rendered after the commit, real speech, 4xx for
anything that is not a call, and the chime only (told to supervisors) when speech fails."""
from __future__ import annotations

import shutil
import wave

import pytest

from hall_server import events as ev
from tests.board_support import (
    ARTIFACTS,
    HALL,
    HallListener,
    act,
    calls_of,
    issue,
    main_services,
    sign_in,
    sox_stats,
    wait_for,
)
from tests.support import launch

# each test starts its own `hall-server run`: seconds apiece, so not in the fast tier
pytestmark = pytest.mark.slow
needs_sox = pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed")


def _wav_info(path):
    with wave.open(str(path)) as w:
        return w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes() / w.getframerate()


@needs_sox
def test_a_call_wav_is_rendered_before_anyone_asks_and_is_real_speech(live_server):
    import socketio
    tokens = sign_in(live_server, [5])
    issue(live_server, main_services()[5], 2)
    # A board is on: calls are pre-rendered only while something here plays the hall's audio.
    board = socketio.SimpleClient()
    board.connect(live_server.url, transports=["websocket"])
    try:
        assert board.call(ev.JOIN, {"hall": HALL, "role": "board"})["ok"]
        act(live_server, tokens[5], 5, "call-next")
        call = calls_of(live_server)[0]
        assert call["audio_url"] == f"/api/v1/halls/{HALL}/calls/{call['call_id']}.wav"
        cached = live_server.data_dir / "calls" / HALL / f"{call['call_id']}.wav"
        # Nobody has asked for it yet: the after-commit handler renders it in the background.
        wait_for(cached.exists, 60, "the pre-rendered call WAV")
    finally:
        board.disconnect()

    r = live_server.api("GET", call["audio_url"].removeprefix("/api/v1"))
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "audio/wav"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    out = ARTIFACTS / "call-D-001-window-5.wav"
    out.write_bytes(r.content)
    assert _wav_info(out)[:3] == (1, 2, 22050)
    stats = sox_stats(out)
    assert stats["length"] > 3.0      # chime (0.6 s) plus "ticket number D one ... window five"
    assert stats["rms"] > 0.01        # sound, not silence
    assert r.content == cached.read_bytes()

    # Browsers fetch media with Range requests.
    part = live_server.api("GET", call["audio_url"].removeprefix("/api/v1"), headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100


@needs_sox
def test_under_gevent_the_production_default_calls_are_spoken_too(tmp_path):
    # gevent renders in a native thread (audio.web.make_offload): check that path makes real speech.
    server = launch(tmp_path / "server", async_mode="gevent")
    try:
        tokens = sign_in(server, [2, 4])
        issue(server, main_services()[2])
        issue(server, main_services()[4])
        act(server, tokens[2], 2, "call-next")
        act(server, tokens[4], 4, "call-next")
        for call in calls_of(server)[:2]:
            r = server.api("GET", call["audio_url"].removeprefix("/api/v1"))
            assert r.status_code == 200
            out = tmp_path / f"{call['call_id']}.wav"
            out.write_bytes(r.content)
            stats = sox_stats(out)
            assert stats["length"] > 3.0 and stats["rms"] > 0.01
        assert "chime only" not in server.log_path.read_text()
    finally:
        server.stop()


def test_a_recall_has_its_own_wav(live_server):
    tokens = sign_in(live_server, [9])
    issue(live_server, main_services()[9])
    act(live_server, tokens[9], 9, "call-next")
    act(live_server, tokens[9], 9, "recall")
    recall, first = calls_of(live_server)[:2]
    assert recall["recall"] and not first["recall"] and recall["number"] == first["number"]
    assert recall["call_id"] != first["call_id"]
    bodies = {}
    for c in (first, recall):
        r = live_server.api("GET", c["audio_url"].removeprefix("/api/v1"))
        assert r.status_code == 200 and r.headers["Content-Type"] == "audio/wav"
        bodies[c["call_id"]] = r.content
    # «نداء ثانٍ» first: another WAV, longer by the prefix.
    assert bodies[first["call_id"]] != bodies[recall["call_id"]]
    assert len(bodies[recall["call_id"]]) > len(bodies[first["call_id"]]) + 22050   # + 0.5 s at 16 bits


def test_a_queued_variant_has_no_chime_and_the_short_form(live_server, tmp_path):
    tokens = sign_in(live_server, [5])
    issue(live_server, main_services()[5])
    act(live_server, tokens[5], 5, "call-next")
    call = calls_of(live_server)[0]
    url = call["audio_url"].removeprefix("/api/v1")
    full, queued = (live_server.api("GET", u) for u in (url, url + "?queued=1"))
    assert full.status_code == queued.status_code == 200
    assert queued.headers["Content-Type"] == "audio/wav"
    (tmp_path / "full.wav").write_bytes(full.content)
    (tmp_path / "queued.wav").write_bytes(queued.content)
    lengths = [_wav_info(tmp_path / n)[3] for n in ("full.wav", "queued.wav")]
    # "التذكرة دي واحد، تفضل إلى الشباك رقم خمسة" after the chime; "دي واحد، شباك خمسة" alone.
    assert lengths[1] < 2.8 and lengths[0] > lengths[1] + 2.0, lengths
    from audio.synth import chime_samples
    assert bytes(chime_samples()) in full.content and bytes(chime_samples()) not in queued.content
    cached = live_server.data_dir / "calls" / HALL / f"{call['call_id']}-q.wav"
    assert queued.content == cached.read_bytes()


def test_what_is_not_a_call_is_a_clear_404(live_server):
    tokens = sign_in(live_server, [1])
    issue(live_server, main_services()[1])
    act(live_server, tokens[1], 1, "call-next")
    call_id = calls_of(live_server)[0]["call_id"]
    cases = [
        f"/halls/{HALL}/calls/999999.wav",          # no such event
        f"/halls/{HALL}/calls/1.wav",               # an event that is not a call (sign-in / issued)
        f"/halls/nowhere/calls/{call_id}.wav",      # another hall
        f"/halls/{HALL}/calls/99999999999999999999999.wav",  # beyond any id (no 500 from the database)
        f"/halls/{HALL}/calls/0.wav",
        f"/halls/{HALL}/calls/abc.wav",
        f"/halls/{HALL}/calls/{call_id}.mp3",
    ]
    for path in cases:
        r = live_server.api("GET", path)
        assert r.status_code == 404, (path, r.status_code, r.text)
        assert r.json()["error"]["code"] == "not_found", path
        assert r.json()["error"]["message"]


@needs_sox
def test_without_speech_calls_still_sound_the_chime_and_supervisors_are_told(tmp_path):
    server = launch(tmp_path / "server", env={"HALL_TTS_ENGINE": "none"})
    try:
        supervisor = HallListener(server, "supervisor", server.login("supervisor"))
        try:
            tokens = sign_in(server, [3])
            issue(server, main_services()[3])
            act(server, tokens[3], 3, "call-next")
            call = calls_of(server)[0]
            r = server.api("GET", call["audio_url"].removeprefix("/api/v1"))
            assert r.status_code == 200 and r.headers["Content-Type"] == "audio/wav"
            out = tmp_path / "chime-only.wav"
            out.write_bytes(r.content)
            stats = sox_stats(out)
            assert 0.5 < stats["length"] < 1.2   # the chime and its tail, no voice
            assert stats["rms"] > 0.01
            failed = wait_for(lambda: [d for d in supervisor.of(ev.DEVICE_STATUS)
                                       if d["device"] == "server-tts" and d["status"] == "tts_failed"],
                              30, "a tts_failed device_status for supervisors")
            assert "chime" in failed[0]["detail"] and failed[0]["hall"] == HALL
        finally:
            supervisor.close()
        log = server.log_path.read_text()
        assert "tts_failed" in log and "chime only" in log   # loudly logged, not only shown
    finally:
        server.stop()


def test_with_no_board_on_calls_are_rendered_when_first_asked_for(live_server):
    tokens = sign_in(live_server, [5])
    issue(live_server, main_services()[5], 1)
    act(live_server, tokens[5], 5, "call-next")
    call = calls_of(live_server)[0]
    cached = live_server.data_dir / "calls" / HALL / f"{call['call_id']}.wav"
    assert not cached.exists()  # no board, no announcer: nothing spent on a voice nobody plays
    r = live_server.api("GET", call["audio_url"].removeprefix("/api/v1"))
    assert r.status_code == 200 and r.headers["Content-Type"] == "audio/wav"
    assert cached.exists()
    # a pre-render makes the queued (no chime) variant too; asked for, only the one asked is made
    assert not cached.with_name(f"{call['call_id']}-q.wav").exists()
