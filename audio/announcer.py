"""`hall-announcer`: speaks a hall's calls on its speakers, strictly in order, one at a time.

It joins the hall over Socket.IO as role `announcer` and, for every `ticket_called`, renders the
call's WAV locally from the clip cache (so the server is never in the audio path; `--fetch`
downloads the server's `audio_url` instead) and queues it on a CallPlayer. A recall is a new call
and plays again, prefixed «نداء ثانٍ» (or «نداء أخير» when the next recall is a no-show). A call
that has to wait behind another is rendered without the chime and in the short form, so a burst
of calls is spoken back to back and the voice catches up with the board. If speech fails, the
call still plays with the chime only, the error is logged and reported to supervisors
(`report_status` tts_failed). Calls are deduplicated by call_id, so a reconnect never replays a
call; calls made while it was disconnected that are still recent are announced from the fresh
snapshot.

    hall-announcer --server http://hall:8080 --hall kfs --token-file /etc/hall/announcer.token

The token can also come from HALL_ANNOUNCER_TOKEN (it should not sit on a command line that `ps`
shows). Stop it with SIGINT or SIGTERM.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import queue
import shutil
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from audio.phrases import LANGS, RecallTracker, Wording, is_last_call
from audio.player import CallPlayer
from audio.synth import ClipCache, chime_wav, make_engine, render_call
from hall_server import events as ev

log = logging.getLogger(__name__)

SINKS = ("aplay", "paplay", "file", "null")
ENGINES = ("pyttsx3", "espeak", "none")
DEFAULT_CATCH_UP = 120.0  # seconds: a call missed while disconnected is still worth announcing
_SEEN_LIMIT = 2000


# ----- the hall's voice settings ([audio] in the hall file) ---------------------------------------
@dataclass(frozen=True)
class HallVoice:
    """How a hall's calls are spoken: language, wording, default sink, how long call WAVs are kept.

    recall_limit comes from the hall's [queue]: the recall that reaches it is announced as the last.
    """

    lang: str = "ar"
    wording: Wording = Wording()
    sink: str = "aplay"
    keep_call_wavs_hours: int = 24
    recall_limit: int = 2


def hall_voice(hall: Any) -> HallVoice:
    """Read and check a hall's [audio] table; a wrong value is a ConfigError naming file and key."""
    from config import ConfigError
    table: Mapping[str, Any] = getattr(hall, "audio", {}) or {}
    source = getattr(hall, "source", "") or "hall file"

    def fail(key: str, expected: str, got: Any) -> ConfigError:
        return ConfigError(f"{source}: audio.{key}: expected {expected}, got {got!r}")

    lang = table.get("lang", "ar")
    if lang not in LANGS:
        raise fail("lang", "one of " + ", ".join(LANGS), lang)
    sink = table.get("sink", "aplay")
    if sink not in SINKS:
        raise fail("sink", "one of " + ", ".join(SINKS), sink)
    keep = table.get("keep_call_wavs_hours", 24)
    if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= 24 * 30:
        raise fail("keep_call_wavs_hours", "a whole number of hours from 1 to 720", keep)
    words = table.get("wording", {})
    if not isinstance(words, dict):
        raise fail("wording", "a table", words)
    allowed = set(Wording.__dataclass_fields__)
    for key, value in words.items():
        if key not in allowed:
            raise fail(f"wording.{key}", "one of " + ", ".join(sorted(allowed)), key)
        if not isinstance(value, str) or not value.strip():
            raise fail(f"wording.{key}", "a non-empty string", value)
    recall_limit = getattr(getattr(hall, "queue", None), "recall_limit", HallVoice.recall_limit)
    return HallVoice(lang=lang, wording=Wording(**words), sink=sink, keep_call_wavs_hours=keep,
                     recall_limit=recall_limit)


class ErrorRecordingEngine:
    """Wrap a TTS engine to remember its last error: the detail supervisors are shown."""

    def __init__(self, inner: Any) -> None:
        """Wrap inner, keeping its cache tag so cached clips stay valid."""
        self.inner, self.last_error = inner, ""
        self.tag = getattr(inner, "tag", type(inner).__name__)

    def synthesize(self, text: str, lang: str, path: Path) -> None:
        """Delegate, keeping the failure message."""
        try:
            self.inner.synthesize(text, lang, path)
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            raise


# ----- the announcer ---------------------------------------------------------------------------
class Announcer:
    """A Socket.IO client of one hall that turns `ticket_called` events into played WAVs, in order."""

    def __init__(self, server: str, hall: str, token: str, player: CallPlayer, work_dir: Path, *,
                 cache: ClipCache | None = None, lang: str = "ar", wording: Wording | None = None,
                 fetch: bool = False, catch_up_seconds: float = DEFAULT_CATCH_UP,
                 recall_limit: int = HallVoice.recall_limit) -> None:
        """Render with cache (or fetch from server when fetch is set) and play through player."""
        if not fetch and cache is None:
            raise ValueError("give a ClipCache, or fetch=True to download the server's WAVs")
        self.server = server.rstrip("/")
        self.hall, self.token = hall, token
        self.player = player
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.cache, self.lang, self.wording = cache, lang, wording
        self.recall_limit = recall_limit
        self.recalls = RecallTracker()  # which call of its ticket each call is (recall prefix)
        self.fetch = fetch
        self.catch_up = catch_up_seconds
        self.fatal: str | None = None  # why the server refused us (bad token, unknown hall)
        self.joined = threading.Event()
        self.stopped = threading.Event()
        self._lock = threading.Lock()
        self._seq: int | None = None  # last seq applied; None until a snapshot arrives
        self._buffer: list[tuple[str, Any]] = []
        self._seen: set[int] = set()
        self._watermark: int | None = None  # newest call_id of the first snapshot: never replayed
        self._jobs: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._status = ("online", "")
        self._renders = 0
        self._worker = threading.Thread(target=self._render_loop, name="announcer-render", daemon=True)
        import socketio  # late: `--help` and the config helpers need no socket library
        self.sio = socketio.Client(reconnection=True, reconnection_attempts=0, reconnection_delay=1,
                                   reconnection_delay_max=5, logger=False, engineio_logger=False)
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on(ev.SNAPSHOT, self._on_snapshot)
        self.sio.on("*", self._on_event)

    # ----- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start rendering and connect (retrying until the server answers); returns at once."""
        self._worker.start()
        threading.Thread(target=self._connect, name="announcer-connect", daemon=True).start()

    def _connect(self) -> None:
        while not self.stopped.is_set():
            try:
                self.sio.connect(self.server, transports=["websocket"], wait_timeout=10)
                return  # from here python-socketio reconnects by itself
            except Exception as exc:  # noqa: BLE001 - the server may be down or restarting: retry
                log.warning("cannot reach %s (%s); retrying", self.server, exc)
                self.stopped.wait(2.0)

    def stop(self, drain_seconds: float = 0.0) -> None:
        """Disconnect, finish what is queued (up to drain_seconds) and stop the workers."""
        self.stopped.set()
        with contextlib.suppress(Exception):  # already gone
            self.sio.disconnect()
        self._jobs.put(None)
        if self._worker.is_alive():
            self._worker.join(max(drain_seconds, 1.0))
        self.player.close(timeout=drain_seconds)

    # ----- socket callbacks (never render here: they run on the socket's thread) ---------------
    def _on_connect(self) -> None:
        log.info("connected to %s", self.server)
        self._join()

    def _join(self) -> None:
        with self._lock:
            self._seq, self._buffer = None, []
        self.sio.emit(ev.JOIN, {"hall": self.hall, "role": "announcer", "auth": self.token},
                      callback=self._on_join_ack)

    def _on_join_ack(self, ack: Any) -> None:
        if isinstance(ack, dict) and ack.get("ok"):
            log.info("joined hall %s as announcer (seq %s)", self.hall, ack.get("seq"))
            status, detail = self._status
            if status != "online":  # a fresh join shows online: repeat what is still wrong
                self._report(status, detail)
            return
        error = (ack or {}).get("error", {}) if isinstance(ack, dict) else {}
        self.fatal = f"{error.get('code', 'refused')}: {error.get('message', ack)}"
        log.error("the server refused the announcer: %s", self.fatal)
        self.stopped.set()
        threading.Thread(target=self.sio.disconnect, daemon=True).start()

    def _on_disconnect(self, *_args: Any) -> None:
        with self._lock:
            self._seq, self._buffer = None, []
        self.joined.clear()
        if not self.stopped.is_set():
            log.warning("disconnected from %s; reconnecting", self.server)

    def _on_snapshot(self, snap: Any) -> None:
        if not isinstance(snap, dict):
            return
        calls = sorted(((snap.get("board") or {}).get("calls") or []), key=lambda c: c["call_id"])
        with self._lock:
            self._seq = snap.get("seq")
            pending, self._buffer = self._buffer, []
            for c in calls:  # count the recalls of tickets called before we joined
                self._observe(c)
            if self._watermark is None:
                # First join: the board's last calls were announced before we started.
                self._watermark = max((c["call_id"] for c in calls), default=0)
                self._seen.update(c["call_id"] for c in calls)
            else:
                for c in calls:  # missed while away (reconnect or seq gap): still recent ones only
                    if c["call_id"] > self._watermark and self._recent(c):
                        self._take(c)
                    else:
                        self._seen.add(c["call_id"])
        self.joined.set()
        for name, data in pending:
            if isinstance(data, dict) and isinstance(data.get("seq"), int) and data["seq"] > (self._seq or 0):
                self._on_event(name, data)

    def _on_event(self, name: str, data: Any = None) -> None:
        resync = False
        with self._lock:
            if self._seq is None:
                self._buffer.append((name, data))
                return
            seq = data.get("seq") if isinstance(data, dict) else None
            if isinstance(seq, int):
                if seq > self._seq + 1:
                    resync = True  # missed an event: the snapshot has the truth
                elif seq < self._seq:
                    return
                else:
                    self._seq = seq
            if not resync and name == ev.TICKET_CALLED and isinstance(data, dict):
                self._take(data)
        if resync:
            log.info("seq gap (have %s, got %s): fetching a snapshot", self._seq, seq)
            self._join()

    def _recent(self, call: dict[str, Any]) -> bool:
        try:
            at = datetime.fromisoformat(call["at"])
        except (KeyError, TypeError, ValueError):
            return False
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        return (datetime.now(UTC) - at).total_seconds() <= self.catch_up

    def _observe(self, call: Any) -> int | None:
        """Which call of its ticket this is (0 first, k the k-th recall); None if malformed."""
        if not isinstance(call, dict) or not isinstance(call.get("call_id"), int) \
                or not isinstance(call.get("number"), str):
            return None
        return self.recalls.observe(self.hall, call["call_id"], call["number"], bool(call.get("recall")),
                                    call.get("recall_count"))

    def _take(self, call: dict[str, Any]) -> None:
        """Queue a call once (caller holds the lock)."""
        call_id = call.get("call_id")
        if not isinstance(call_id, int) or call_id in self._seen:
            return
        if not isinstance(call.get("number"), str) or not isinstance(call.get("window"), int):
            log.warning("ignoring a malformed call: %r", call)
            return
        recall = self._observe(call) or 0
        self._seen.add(call_id)
        if len(self._seen) > _SEEN_LIMIT:  # ids only grow: forget the oldest half
            for old in sorted(self._seen)[: _SEEN_LIMIT // 2]:
                self._seen.discard(old)
            self._watermark = max(self._watermark or 0, min(self._seen))
        self._jobs.put({**call, "_recall": recall, "_last": is_last_call(recall, self.recall_limit)})

    # ----- rendering and playing (one worker: order in == order out) -----------------------------
    def _render_loop(self) -> None:
        while True:
            call = self._jobs.get()
            if call is None:
                return
            # Something is playing or waiting: this call follows it without a chime, in short.
            queued = self.player.pending > 0
            try:
                path = self._render(call, queued)
            except Exception:  # never drop a call: fall back to the chime
                log.exception("could not prepare call %s; playing the chime only", call.get("call_id"))
                path = chime_wav(self.work_dir / f"{call.get('call_id')}-chime.wav")
            self.player.enqueue(path, call_label(call, queued))
            self._renders += 1
            if self._renders % 50 == 0:
                self._prune()

    def _render(self, call: dict[str, Any], queued: bool = False) -> Path:
        target = self.work_dir / f"{call['call_id']}{'-q' if queued else ''}.wav"
        if self.fetch:
            return self._download(call, target, queued)
        assert self.cache is not None
        rendered = render_call(str(call["number"]), int(call["window"]), self.lang, self.cache, target,
                               self.wording, recall=call.get("_recall", 0), last=call.get("_last", False),
                               queued=queued)
        if rendered.degraded:
            detail = getattr(self.cache.engine, "last_error", "") or "text-to-speech failed"
            self._set_status("tts_failed", f"calls are announced with the chime only: {detail}")
        else:
            self._set_status("online", "speech is back")
        return rendered.path

    def _download(self, call: dict[str, Any], target: Path, queued: bool = False) -> Path:
        import requests
        url = self.server + str(call.get("audio_url", "")) + ("?queued=1" if queued else "")
        try:
            r = requests.get(url, timeout=15)
            r.raise_for_status()
        except requests.RequestException as exc:
            log.error("cannot fetch %s (%s); playing the chime only", url, exc)
            self._set_status("fetch_failed", f"cannot download call audio: {exc}")
            return chime_wav(target)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(r.content)
        tmp.replace(target)
        self._set_status("online", "call audio downloads again")
        return target

    def _set_status(self, status: str, detail: str) -> None:
        """Report a change of health (not every call)."""
        if self._status[0] == status:
            return
        if status != "online":
            log.error("%s: %s", status, detail)
        self._status = (status, detail)
        self._report(status, detail)

    def _report(self, status: str, detail: str) -> None:
        try:
            self.sio.emit(ev.REPORT_STATUS, {"status": status, "detail": detail})
        except Exception:  # noqa: BLE001 - offline: repeated after the next join
            log.warning("could not report status %s (offline); will repeat after reconnecting", status)

    def _prune(self, keep_seconds: float = 3600.0) -> None:
        """Remove call WAVs played long ago (the sink keeps its own copies)."""
        cutoff = time.time() - keep_seconds
        for path in self.work_dir.glob("*.wav"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except FileNotFoundError:
                continue


def call_label(call: dict[str, Any], queued: bool = False) -> str:
    """How a played call is named in logs: "12 A-001 -> 3 (recall 2, last) [queued]"."""
    label = f"{call['call_id']} {call['number']} -> {call['window']}"
    recall = call.get("_recall") or (1 if call.get("recall") else 0)
    if recall:
        label += f" (recall {recall}{', last' if call.get('_last') else ''})"
    return label + (" [queued]" if queued else "")


# ----- the console script --------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The command line of `hall-announcer`."""
    p = argparse.ArgumentParser(prog="hall-announcer", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", default="http://127.0.0.1:8080", help="hall server URL")
    p.add_argument("--hall", help="hall code (default: the first configured hall)")
    p.add_argument("--token", help="announcer device token (prefer --token-file or HALL_ANNOUNCER_TOKEN)")
    p.add_argument("--token-file", type=Path, help="file holding the announcer device token")
    p.add_argument("--sink", choices=SINKS, help="where calls play (default: the hall's [audio] sink)")
    p.add_argument("--sink-dir", type=Path, help="folder of the file sink (default: <data_dir>/announcer/played)")
    p.add_argument("--sink-speed", type=float, default=1.0,
                   help="file sink only: wait this fraction of each WAV's length (1 = real time)")
    p.add_argument("--lang", choices=LANGS, help="spoken language (default: the hall's [audio] lang)")
    p.add_argument("--engine", choices=ENGINES, help="TTS engine (default: HALL_TTS_ENGINE or pyttsx3)")
    p.add_argument("--fetch", action="store_true",
                   help="download each call's WAV from the server instead of rendering locally")
    p.add_argument("--cache-dir", type=Path, help="clip cache (default: <data_dir>/announcer-cache)")
    p.add_argument("--catch-up", type=float, default=DEFAULT_CATCH_UP,
                   help="after a reconnect, announce missed calls at most this many seconds old")
    p.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING (default: HALL_LOG_LEVEL or INFO)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `hall-announcer` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=(args.log_level or os.environ.get("HALL_LOG_LEVEL") or "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from audio.sinks import make_sink
    from config import ConfigError, load_settings
    try:
        settings = load_settings()
        known = {h.code: h for h in settings.halls}
        hall = args.hall or settings.halls[0].code
        voice = hall_voice(known[hall]) if hall in known else HallVoice()
    except ConfigError as exc:
        print(f"hall-announcer: config error: {exc}", file=sys.stderr)
        return 2
    if hall not in known:
        log.warning("hall %s has no local hall file: speaking with the default [audio] settings", hall)
    token = args.token or os.environ.get("HALL_ANNOUNCER_TOKEN")
    if args.token_file:
        try:
            token = args.token_file.read_text().strip()
        except OSError as exc:
            print(f"hall-announcer: cannot read the token file: {exc}", file=sys.stderr)
            return 2
    if not token:
        print("hall-announcer: an announcer device token is required (--token-file, HALL_ANNOUNCER_TOKEN "
              "or --token); make one with `hall-server device add announcer-1 --hall <code> --role announcer`",
              file=sys.stderr)
        return 2
    sink_name = args.sink or voice.sink
    if sink_name in ("aplay", "paplay") and shutil.which(sink_name) is None:
        print(f"hall-announcer: {sink_name} is not installed (apt-get install "
              f"{'alsa-utils' if sink_name == 'aplay' else 'pulseaudio-utils'}), or choose --sink",
              file=sys.stderr)
        return 2
    base = settings.data_dir
    if sink_name == "file":
        sink = make_sink("file", folder=args.sink_dir or base / "announcer" / "played", speed=args.sink_speed)
    else:
        sink = make_sink(sink_name)
    cache = None
    if not args.fetch:
        engine = ErrorRecordingEngine(make_engine(args.engine or settings.tts_engine))
        cache = ClipCache(args.cache_dir or base / "announcer-cache", engine, settings.voice_pack)
    player = CallPlayer(sink)
    announcer = Announcer(args.server, hall, token, player, base / "announcer" / "calls", cache=cache,
                          lang=args.lang or voice.lang, wording=voice.wording, fetch=args.fetch,
                          catch_up_seconds=args.catch_up, recall_limit=voice.recall_limit)

    def _stop(signum: int, _frame: Any) -> None:
        log.info("signal %s: stopping", signum)
        announcer.stopped.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    log.info("announcing hall %s from %s through %s (%s)", hall, args.server, sink_name,
             "fetching server audio" if args.fetch else f"engine {args.engine or settings.tts_engine}")
    announcer.start()
    while not announcer.stopped.wait(1.0):
        pass
    announcer.stop(drain_seconds=5.0)
    if announcer.fatal:
        print(f"hall-announcer: the server refused to let us join: {announcer.fatal}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
