"""The server's call renderer on a real database and real speech: after-commit pre-rendering,
stale files from an older database, pruning, the burst backlog, and speech failing and coming back."""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import replace

import pytest

from audio import web
from audio.wavfile import read_wav, rms, wav_duration
from hall_server.application import Actor

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def _clerk(app, window: int) -> Actor:
    from hall_server.application.auth import Auth
    uid = Auth(app.engine).add_user(f"clerk{window}", "password1", "clerk")
    actor = Actor("user", f"clerk{window}", "clerk", user_id=uid)
    app.set_window_state("kfs", window, "sign_in", actor)
    return actor


@pytest.fixture
def hall(make_app):
    return make_app()


def _renderer(settings, hall, spawn=None, engine="espeak"):
    reports: list[tuple[str, str, str]] = []
    r = web.CallRenderer(replace(settings, tts_engine=engine), hall.views.call,
                         spawn or (lambda fn: fn()), lambda *a: reports.append(a), sleep=lambda s: None)
    return r, reports


@needs_espeak
def test_each_committed_call_is_rendered_once_with_its_own_wording(settings, hall):
    renderer, reports = _renderer(settings, hall)
    hall.bus.subscribe(renderer.after_commit)
    clerk = _clerk(hall, 5)
    hall.issue_ticket("kfs", "cleaning_fee_payment")
    hall.call_next("kfs", 5, clerk)
    call = hall.board("kfs")["calls"][0]
    path = renderer.path_for("kfs", call["call_id"])
    assert path.exists()                          # rendered by the after-commit handler
    samples = read_wav(path)
    assert wav_duration(path) > 3.0 and rms(samples) > 0.01
    mtime = path.stat().st_mtime_ns
    assert renderer.ensure(renderer.lookup("kfs", call["call_id"])) == path
    assert path.stat().st_mtime_ns == mtime       # the second ask is served from disk
    assert reports == []


@needs_espeak
def test_a_file_left_by_an_older_database_is_never_served(settings, hall):
    renderer, _ = _renderer(settings, hall)
    clerk = _clerk(hall, 9)
    hall.issue_ticket("kfs", "file_documents")
    hall.call_next("kfs", 9, clerk)
    call_id = hall.board("kfs")["calls"][0]["call_id"]
    path = renderer.path_for("kfs", call_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF old")                  # same call id, another day's database
    path.with_suffix(".txt").write_text("Z-999\t3\tar\tx\n", "utf-8")
    renderer.ensure(renderer.lookup("kfs", call_id))
    assert wav_duration(path) > 3.0
    assert path.with_suffix(".txt").read_text("utf-8").startswith("F-001\t9\t")


@needs_espeak
def test_old_call_wavs_are_pruned_and_come_back_on_demand(settings, hall):
    renderer, _ = _renderer(settings, hall)
    clerk = _clerk(hall, 1)
    hall.issue_ticket("kfs", "building_permit")
    hall.call_next("kfs", 1, clerk)
    call = renderer.lookup("kfs", hall.board("kfs")["calls"][0]["call_id"])
    path = renderer.ensure(call)
    old = time.time() - 25 * 3600
    os.utime(path, (old, old))
    assert renderer.prune(now=time.time()) >= 1 and not path.exists()
    assert renderer.prune(now=time.time()) == 0    # not again within PRUNE_EVERY_SECONDS
    assert renderer.ensure(call).exists()


def test_a_burst_pre_renders_at_most_the_backlog(settings, hall):
    started: list = []
    renderer, _ = _renderer(settings, hall, spawn=started.append, engine="none")
    hall.bus.subscribe(renderer.after_commit)
    clerk = _clerk(hall, 9)
    for _ in range(web.MAX_BACKLOG + 5):
        hall.issue_ticket("kfs", "general_inquiry")
    for i in range(web.MAX_BACKLOG + 5):
        if i:
            hall.start("kfs", 9, clerk)
        hall.call_next("kfs", 9, clerk)
    assert len(started) == 1                        # one background task drains them in order
    assert len(renderer._todo) == web.MAX_BACKLOG
    ids = [c.call_id for c in renderer._todo]
    assert ids == sorted(ids)
    skipped = hall.board("kfs")["calls"][0]["call_id"]   # not pre-rendered, still served on demand
    assert renderer.ensure(renderer.lookup("kfs", skipped)).exists()


def test_supervisors_hear_when_speech_fails_and_when_it_is_back(settings, hall):
    renderer, reports = _renderer(settings, hall, engine="none")
    clerk = _clerk(hall, 3)
    for _ in range(3):
        hall.issue_ticket("kfs", "occupancy_licence_issue")
    hall.call_next("kfs", 3, clerk)
    first = renderer.lookup("kfs", hall.board("kfs")["calls"][0]["call_id"])
    assert wav_duration(renderer.ensure(first)) < 1.2           # the chime alone
    hall.recall("kfs", 3, clerk)
    renderer.ensure(renderer.lookup("kfs", hall.board("kfs")["calls"][0]["call_id"]))
    assert [(h, s) for h, s, _ in reports] == [("kfs", "tts_failed")]   # once, not per call
    assert "none" in reports[0][2] and "chime" in reports[0][2]

    class Back:
        tag = "back"

        def synthesize(self, text, lang, path):
            from audio.synth import EspeakEngine
            EspeakEngine().synthesize(text, lang, path)

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    renderer.tts.inner = Back()                     # the engine is repaired
    hall.start("kfs", 3, clerk)
    hall.call_next("kfs", 3, clerk)
    renderer.ensure(renderer.lookup("kfs", hall.board("kfs")["calls"][0]["call_id"]))
    assert [s for _, s, _ in reports] == ["tts_failed", "online"]


@needs_espeak
def test_a_recall_is_rendered_with_its_prefix_and_every_call_has_a_queued_variant(settings, hall):
    renderer, _ = _renderer(settings, hall)
    hall.bus.subscribe(renderer.after_commit)
    clerk = _clerk(hall, 5)
    hall.issue_ticket("kfs", "cleaning_fee_payment")
    hall.call_next("kfs", 5, clerk)
    hall.recall("kfs", 5, clerk)     # recall 1 of 2: «نداء ثانٍ»
    hall.recall("kfs", 5, clerk)     # recall 2 of 2, the next one is a no-show: «نداء أخير»
    first, second, last = sorted(c["call_id"] for c in hall.board("kfs")["calls"])
    paths = {i: renderer.path_for("kfs", i) for i in (first, second, last)}
    sidecars = {i: p.with_suffix(".txt").read_text("utf-8") for i, p in paths.items()}
    assert sidecars[first].endswith("recall=0\n")
    assert sidecars[second].endswith("recall=1\n") and sidecars[last].endswith("recall=2 last\n")
    sizes = {i: wav_duration(p) for i, p in paths.items()}
    assert sizes[first] < sizes[second] and sizes[first] < sizes[last]     # the prefix
    assert len({p.read_bytes() for p in paths.values()}) == 3
    for i in (first, second, last):  # pre-rendered for a board that plays it behind another
        queued = renderer.path_for("kfs", i, queued=True)
        assert queued.exists() and wav_duration(queued) < sizes[i] - 2.0
        assert renderer.ensure(renderer.lookup("kfs", i, queued=True)) == queued

    # A restarted server (no memory of the calls) serves the recall it rendered, not a first call.
    again, _ = _renderer(settings, hall)
    mtime = paths[last].stat().st_mtime_ns
    ref = again.lookup("kfs", last)
    assert ref.recall == 2 and again.ensure(ref) == paths[last]
    assert paths[last].stat().st_mtime_ns == mtime
