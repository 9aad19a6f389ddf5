"""Each call's joined WAV (chime + voice) at its `audio_url`, pre-rendered right after the call commits.

Boards fetch `/api/v1/halls/<hall>/calls/<call_id>.wav`. The after-commit handler queues every
("announce", payload) of a command for a background render, so by the time a board asks, the file
is usually on disk; a request for a call not yet rendered (or pruned) renders it on demand.
`?queued=1` is the same call for a board that plays it right after another: no chime, the short
form («دي اثنان، شباك خمسة»), so a burst is spoken back to back. A recall carries its prefix
(«نداء ثانٍ», «نداء أخير») in both.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, request, send_file

from audio.announcer import ErrorRecordingEngine, HallVoice, hall_voice
from audio.phrases import RecallTracker, is_last_call
from audio.synth import ClipCache, make_engine, render_call
from config import Settings
from hall_server.application import NotFound, Outcome

log = logging.getLogger(__name__)
bp = Blueprint("audio", __name__, url_prefix="/api/v1")

TTS_DEVICE = "server-tts"  # the name supervisors see in device_status for the server's speech
MAX_ID = 2**31 - 1  # ticket_events.id is an INTEGER column: bigger ids cannot exist
# The application's call lookup: (number, window), or (number, window, recall count) when it tells.
FindCall = Callable[[str, int], "tuple[str, int] | tuple[str, int, int] | None"]
PRUNE_EVERY_SECONDS = 600.0
# The render starts a moment after the commit, so the call's pushes and the clerk's HTTP answer go
# out first rather than share the CPU with it (see make_offload for gevent).
RENDER_DELAY_SECONDS = 0.05
# Pre-render at most this many calls ahead (a burst of 20 calls is ~2.5 minutes of speech): beyond
# it, boards are minutes behind anyway and get those WAVs rendered when they ask, while the server
# under a load test is not made to speak thousands of calls nobody will hear.
MAX_BACKLOG = 20


@dataclass(frozen=True)
class CallRef:
    """What a call's WAV is made from (looked up in ticket_events)."""

    hall: str
    call_id: int
    number: str
    window: int
    recall: int = 0  # 0 a first call, k the k-th recall
    queued: bool = False  # the variant without chime, in the short form

    def signature(self, voice: HallVoice) -> str:
        """Describe the WAV's content, so a file left by an older database is never served."""
        last = is_last_call(self.recall, voice.recall_limit)
        return (f"{self.number}\t{self.window}\t{voice.lang}\t{voice.wording!r}\t"
                f"recall={self.recall}{' last' if last else ''}\n")


def make_offload(async_mode: str, engine_name: str) -> Callable[..., Any]:
    """How a render runs: in the caller, or in a native thread where the event loop would stall.

    Under gevent a render would hold the event loop while it computes (measured: 45-100 ms of
    stall per call, so every push and request waits). With pyttsx3 (libespeak inside the process)
    the render runs in one native thread of gevent's pool instead: one thread, so the clip cache
    and libespeak are only ever used from it. The espeak-ng binary cannot be waited for from a
    native thread under gevent (child watchers live on the main loop), so it, eventlet and the
    threading mode run the render where it is called.
    """
    if async_mode != "gevent" or engine_name != "pyttsx3":
        return lambda fn, *args: fn(*args)
    pool: list[Any] = []

    def offload(fn: Callable[..., Any], *args: Any) -> Any:
        if not pool:  # made on first use, on the running hub
            from gevent.threadpool import ThreadPool
            pool.append(ThreadPool(1))
        return pool[0].apply(fn, args)

    return offload


class CallRenderer:
    """Render, cache and prune the joined WAV of each call; one render per call at a time."""

    def __init__(self, settings: Settings, find_call: FindCall, spawn: Callable[..., Any],
                 report: Callable[[str, str, str], None], sleep: Callable[[float], Any] = time.sleep,
                 listening: Callable[[str], bool] | None = None) -> None:
        """Keep WAVs under data_dir/calls, clips under data_dir/audio-cache; spawn runs background work.

        `listening(hall)`: whether anything here plays the hall's calls (a board, an announcer);
        without one the WAV is rendered when first asked for, not after every call.
        """
        self.settings = settings
        self.listening = listening
        self.find_call = find_call  # (hall, call id) -> (number, window) of a call, or None
        self.spawn = spawn
        self.sleep = sleep  # cooperative under gevent/eventlet (socketio.sleep)
        self.report = report  # (hall, status, detail) -> tell supervisors
        name = (settings.tts_engine or "pyttsx3").strip().lower()
        self.engine_name = name
        self.offload = make_offload(settings.async_mode, name)
        try:
            inner = make_engine(name)
        except ValueError:
            log.error("unknown TTS engine %r (HALL_TTS_ENGINE): calls go out with the chime only", name)
            inner = make_engine("none")
        self.tts = ErrorRecordingEngine(inner)
        self.cache = ClipCache(settings.data_dir / "audio-cache", self.tts, settings.voice_pack)
        self.root = settings.data_dir / "calls"
        self.voices = {h.code: hall_voice(h) for h in settings.halls}
        self.recalls = RecallTracker()  # recall counts of the calls committed in this process
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, int], threading.Lock] = {}
        self._todo: deque[CallRef] = deque()
        self._worker_running = False
        self._tts_failed: dict[str, bool] = {}
        self._last_prune = 0.0

    # ----- paths and lookups ------------------------------------------------------------------
    def path_for(self, hall: str, call_id: int, queued: bool = False) -> Path:
        """Where a call's WAV is cached (the queued variant beside it)."""
        return self.root / hall / f"{call_id}{'-q' if queued else ''}.wav"

    def lookup(self, hall: str, call_id: int, queued: bool = False) -> CallRef:
        """The call with this id in this hall (a `called` or `recalled` event), or NotFound."""
        if hall not in self.voices:
            raise NotFound(f"no hall with code {hall!r}")
        if not 1 <= call_id <= MAX_ID:
            raise NotFound(f"no call {call_id} in hall {hall}")
        found = self.find_call(hall, call_id)
        if found is None:
            raise NotFound(f"no call {call_id} in hall {hall}")
        number, window = found[0], found[1]
        recall = self.recalls.get(hall, call_id)
        if recall is None:
            recall = found[2] if len(found) > 2 else self._rendered_recall(hall, call_id, number, window)
        return CallRef(hall, call_id, number, window, recall, queued)

    def _rendered_recall(self, hall: str, call_id: int, number: str, window: int) -> int:
        """The recall count a WAV of this call was rendered with (after a restart); 0 if none was."""
        for queued in (False, True):
            try:
                fields = self.path_for(hall, call_id, queued).with_suffix(".txt").read_text("utf-8").split("\t")
            except OSError:
                continue
            if fields[:2] == [number, str(window)] and fields[-1].startswith("recall="):
                return int(fields[-1].removeprefix("recall=").split()[0])
        return 0

    # ----- rendering --------------------------------------------------------------------------
    def _lock_for(self, key: tuple[str, int]) -> threading.Lock:
        with self._guard:
            if len(self._locks) > 512:  # forget idle locks of long-finished calls
                for k in [k for k, lk in self._locks.items() if not lk.locked()][:256]:
                    del self._locks[k]
            return self._locks.setdefault(key, threading.Lock())

    def ensure(self, call: CallRef) -> Path:
        """The call's WAV, rendering it now unless a matching one is cached."""
        voice = self.voices[call.hall]
        path = self.path_for(call.hall, call.call_id, call.queued)
        sidecar = path.with_suffix(".txt")
        signature = call.signature(voice)
        with self._lock_for((call.hall, call.call_id)):
            if path.exists() and sidecar.exists() and sidecar.read_text("utf-8") == signature:
                return path
            started = time.perf_counter()
            rendered = self.offload(self._render, call, voice, path)
            tmp = sidecar.with_name(f".{sidecar.name}.{threading.get_ident()}.tmp")
            tmp.write_text(signature, "utf-8")
            tmp.replace(sidecar)
            log.info("rendered call %s (%s to window %s%s%s) in %.0f ms%s", call.call_id, call.number,
                     call.window, f", recall {call.recall}" if call.recall else "",
                     ", queued" if call.queued else "", (time.perf_counter() - started) * 1000,
                     " - chime only" if rendered.degraded else "")
        self._note_health(call.hall, rendered.degraded)
        return path

    def _render(self, call: CallRef, voice: HallVoice, path: Path) -> Any:
        """Render one call's WAV (run through offload)."""
        return render_call(call.number, call.window, voice.lang, self.cache, path, voice.wording,
                           recall=call.recall, last=is_last_call(call.recall, voice.recall_limit),
                           queued=call.queued)

    def _note_health(self, hall: str, degraded: bool) -> None:
        """Tell supervisors when speech fails, and again when it is back (changes only)."""
        with self._guard:
            was = self._tts_failed.get(hall, False)
            self._tts_failed[hall] = degraded
        if degraded and not was:
            detail = (f"text-to-speech ({self.engine_name}) failed; calls are announced "
                      f"with the chime only. {self.tts.last_error}").strip()
            self.report(hall, "tts_failed", detail)
        elif was and not degraded:
            self.report(hall, "online", "speech is back")

    # ----- background pre-rendering -----------------------------------------------------------
    def after_commit(self, outcome: Outcome) -> None:
        """Notifier handler: queue each announced call of a committed command for rendering."""
        hall = outcome.hall or ""
        calls = [CallRef(hall, p["call_id"], p["number"], p["window"],
                         self.recalls.observe(hall, p["call_id"], p["number"], bool(p.get("recall")),
                                              p.get("recall_count")))
                 for kind, p in outcome.after if kind == "announce"]
        if not calls or outcome.hall not in self.voices:
            return
        if self.listening is not None and not self.listening(hall):
            return  # nobody to play it now: the route renders it if a board asks later
        with self._guard:
            room = MAX_BACKLOG - len(self._todo)
            if room < len(calls):
                log.info("pre-render backlog full: %d call(s) will render when first asked for",
                         len(calls) - max(room, 0))
            self._todo.extend(calls[:max(room, 0)])
            if self._worker_running or not self._todo:
                return
            self._worker_running = True
        try:
            self.spawn(self._drain)
        except Exception:  # no background task: calls render when first asked for
            log.exception("cannot start the pre-render task")
            with self._guard:
                self._worker_running = False

    def _drain(self) -> None:
        """Render queued calls in call order (the first call's audio is ready first)."""
        self.sleep(RENDER_DELAY_SECONDS)
        while True:
            with self._guard:
                if not self._todo:
                    self._worker_running = False
                    return
                call = self._todo.popleft()
            try:
                self.ensure(call)
                self.ensure(replace(call, queued=True))  # what a board playing it after another asks for
                self.prune()
            except Exception:  # a failed pre-render is retried on the first request
                log.exception("pre-rendering call %s failed", call.call_id)
            self.sleep(0)  # between two renders of a burst, let requests and pushes through

    def prune(self, now: float | None = None) -> int:
        """Delete call WAVs older than the hall's keep time (they re-render on demand); count them."""
        now = time.time() if now is None else now
        if now - self._last_prune < PRUNE_EVERY_SECONDS:
            return 0
        self._last_prune = now
        removed = 0
        for hall, voice in self.voices.items():
            folder = self.root / hall
            if not folder.is_dir():
                continue
            cutoff = now - voice.keep_call_wavs_hours * 3600
            with os.scandir(folder) as it:
                for entry in it:
                    try:
                        if entry.is_file() and entry.stat().st_mtime < cutoff:
                            os.unlink(entry.path)
                            removed += 1
                    except FileNotFoundError:  # a concurrent prune or re-render got there first
                        continue
        if removed:
            log.info("pruned %d old call audio files", removed)
        return removed


def renderer() -> CallRenderer:
    """The running server's call renderer."""
    from hall_server.current import runtime
    return runtime().audio


@bp.get("/halls/<hall>/calls/<int:call_id>.wav")
def call_wav(hall: str, call_id: int):
    """One call's chime and spoken sentence as a WAV (public: it says what the board shows)."""
    r = renderer()
    path = r.ensure(r.lookup(hall, call_id, queued=request.args.get("queued") in ("1", "true")))
    return send_file(path, mimetype="audio/wav", conditional=True, max_age=3600)


def init_app(app: Flask) -> None:
    """Register the WAV route (the renderer is built and subscribed by the composition root)."""
    app.register_blueprint(bp)
