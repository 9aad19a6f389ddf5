"""Text-to-speech port and engines, the clip cache, the chime, and rendering one call to a WAV."""

from __future__ import annotations

import functools
import logging
import math
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from audio.phrases import Part, Wording, call_parts
from audio.wavfile import FULL_SCALE, RATE, is_house_format, read_wav, silence, trim_silence, write_wav

logger = logging.getLogger(__name__)

# Words per minute for espeak-ng (and pyttsx3, which passes it on). Measured with the Arabic voice:
# at 150 a call was 6.6 s with its chime and the voice fell behind the board; at 210 the sentence
# «التذكرة دي اثنان، تفضل إلى الشباك رقم خمسة» is 3.8 s of speech, 19 syllables at about 5 a second
# (5.6 inside its longest phrase): the pace of read speech, not rushed. 150 -> 210 is 40% more on
# paper but only ~25% shorter clips.
DEFAULT_RATE_WPM = 210
CHIME_GAP_MS = 200  # let the chime ring out before the voice starts
GAP_MS = 40  # between the words of one sentence: the clips are trimmed, this joins them
COMMA_MS = 150  # the comma: after «نداء ثانٍ» and before «تفضل إلى الشباك» / «شباك»
# A queued call (no chime) starts after this silence; with the tail of the call before, the pause
# between two calls (~290 ms) stays longer than a comma inside one.
QUEUED_LEAD_MS = 130
TAIL_MS = 120
# Keep this much of the near-silence after a clip's last sound. espeak-ng's own files (-z) end at
# the sound; pyttsx3's end in a pause, where a longer margin only made its clips ~35 ms longer.
CLIP_TAIL_MS = 20
_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")


class TTSError(RuntimeError):
    """Synthesis failed."""


class TTSUnavailable(TTSError):
    """The TTS engine (binary, library or voice) is not available on this machine."""


@runtime_checkable
class TTSEngine(Protocol):
    """Port: turn text in a language into a WAV file."""

    def synthesize(self, text: str, lang: str, path: Path) -> None:
        """Write text spoken in lang as a WAV file at path."""
        ...


class EspeakEngine:
    """Drive the espeak-ng binary directly (one subprocess per clip; safe from any thread)."""

    def __init__(
        self,
        rate: int = DEFAULT_RATE_WPM,
        voices: dict[str, str] | None = None,
        binary: str = "espeak-ng",
        timeout: float = 30.0,
    ) -> None:
        """Configure speed (words per minute), voice per language, binary and time limit."""
        self.rate = rate
        self.voices = {"ar": "ar", "en": "en", **(voices or {})}
        self.binary = binary
        self.timeout = timeout

    @property
    def tag(self) -> str:
        """Identify engine settings, so cached clips from other settings are not reused."""
        return f"espeak-ng rate={self.rate} voices={sorted(self.voices.items())}"

    def synthesize(self, text: str, lang: str, path: Path) -> None:
        """Run `espeak-ng -v <voice> -s <rate> -w <path>` with the text on stdin."""
        exe = shutil.which(self.binary)
        if exe is None:
            raise TTSUnavailable(f"{self.binary} not found on PATH")
        voice = self.voices.get(lang, lang)
        # -b 1: input is UTF-8; -z: no final sentence pause (the renderer sets the gaps).
        cmd = [exe, "-v", voice, "-s", str(self.rate), "-b", "1", "-z", "-w", str(path), "--stdin"]
        try:
            proc = subprocess.run(
                cmd,
                input=text.encode("utf-8"),
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise TTSError(f"espeak-ng timed out after {self.timeout}s") from exc
        except OSError as exc:
            raise TTSUnavailable(f"cannot run {exe}: {exc}") from exc
        if proc.returncode != 0 or not Path(path).exists():
            stderr = proc.stderr.decode("utf-8", "replace").strip()
            raise TTSError(f"espeak-ng failed (exit {proc.returncode}, voice {voice}): {stderr}")


def _quiet_print(*args: object, **_kwargs: object) -> None:
    """Stand-in for print() inside pyttsx3's driver: log at DEBUG instead of writing to stdout."""
    logger.debug("pyttsx3: %s", " ".join(str(arg) for arg in args))


def _quieten_driver(engine: object) -> None:
    """Route the pyttsx3 driver module's print() calls ("Audio saved to ...") to the log."""
    # A module-level name shadows the builtin for that module only: no process-wide stdout swap.
    module = sys.modules.get(f"pyttsx3.drivers.{getattr(engine, 'driver_name', '')}")
    if module is not None and getattr(module, "print", None) is not _quiet_print:
        module.print = _quiet_print  # type: ignore[attr-defined]


class Pyttsx3Engine:
    """Drive espeak-ng through pyttsx3, a fresh pyttsx3 engine for each saved file."""

    # libespeak is initialised once per process and its synth callback is global: one at a time.
    _lock = threading.Lock()

    def __init__(
        self,
        rate: int = DEFAULT_RATE_WPM,
        voices: dict[str, str] | None = None,
        driver: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        """Configure speed, optional voice ids per language, pyttsx3 driver and time limit."""
        self.rate = rate
        self.voices = dict(voices or {})
        self.driver = driver
        self.timeout = timeout

    @property
    def tag(self) -> str:
        """Identify engine settings, so cached clips from other settings are not reused."""
        return f"pyttsx3 driver={self.driver} rate={self.rate} voices={sorted(self.voices.items())}"

    @staticmethod
    def _pick_voice(voices: list, lang: str) -> str:
        """Pick the voice id that best matches lang ("ar" -> "sem/ar", "en" -> "gmw/en")."""

        def score(voice: object) -> int:
            langs = [str(code).lower() for code in (getattr(voice, "languages", None) or [])]
            vid = str(getattr(voice, "id", "")).lower()
            if lang in langs:
                return 3
            if vid == lang or vid.endswith("/" + lang):
                return 2
            if any(code.startswith(lang + "-") for code in langs):
                return 1
            return 0

        best = max(voices, key=score, default=None)
        if best is None or score(best) == 0:
            raise TTSUnavailable(f"pyttsx3 has no voice for language {lang!r}")
        return str(best.id)

    def _run(self, text: str, lang: str, path: Path, result: dict) -> None:
        """Synthesise in a worker thread, storing any exception in result."""
        try:
            import pyttsx3  # imported late: a missing library only degrades sound
        except ImportError as exc:
            result["error"] = TTSUnavailable(f"pyttsx3 is not installed: {exc}")
            return
        try:
            with self._lock:
                try:
                    engine = pyttsx3.Engine(self.driver)
                except Exception as exc:  # any init failure means "no engine here"
                    raise TTSUnavailable(f"pyttsx3 cannot start: {exc}") from exc
                try:
                    _quieten_driver(engine)
                    voice = self.voices.get(lang) or self._pick_voice(
                        engine.getProperty("voices"), lang
                    )
                    engine.setProperty("voice", voice)
                    engine.setProperty("rate", self.rate)
                    engine.save_to_file(text, str(path))
                    # Not runAndWait(): in pyttsx3 2.99 it pumps its own endLoop before the
                    # synthesis starts, which can cancel espeak mid-utterance (clips lose their
                    # last second now and then) and returns ~10 ms later, before the WAV is
                    # complete, so espeak may call back into a freed driver (seen: segfault).
                    # The driver loop ends only when espeak reports the message done.
                    engine.startLoop()
                finally:
                    # Drop the engine while holding the lock: its finaliser resets the global
                    # espeak callback, which must not happen while another clip is being made.
                    del engine
        except Exception as exc:  # noqa: BLE001 - reported to the caller's thread
            result["error"] = exc

    def synthesize(self, text: str, lang: str, path: Path) -> None:
        """Save text spoken in lang to path, giving up after the time limit."""
        result: dict = {}
        worker = threading.Thread(
            target=self._run,
            args=(text, lang, Path(path), result),
            name="pyttsx3-synth",
            daemon=True,
        )
        worker.start()
        worker.join(self.timeout)
        if worker.is_alive():
            raise TTSError(f"pyttsx3 did not finish within {self.timeout}s")
        if "error" in result:
            error = result["error"]
            if isinstance(error, TTSError):
                raise error
            raise TTSError(f"pyttsx3 failed: {error}") from error
        if not Path(path).exists() or Path(path).stat().st_size <= 44:
            raise TTSError(f"pyttsx3 wrote no audio for {text!r}")


class NoEngine:
    """The "none" engine: sound is switched off, every call degrades to the chime."""

    tag = "none"

    def synthesize(self, text: str, lang: str, path: Path) -> None:
        """Always refuse."""
        raise TTSUnavailable("TTS engine is 'none'")


def make_engine(name: str = "pyttsx3", **opts: object) -> TTSEngine:
    """Build a TTS engine by config name: "pyttsx3" (default), "espeak" or "none"."""
    name = (name or "pyttsx3").strip().lower()
    if name == "pyttsx3":
        return Pyttsx3Engine(**opts)  # type: ignore[arg-type]
    if name in ("espeak", "espeak-ng"):
        return EspeakEngine(**opts)  # type: ignore[arg-type]
    if name == "none":
        return NoEngine()
    raise ValueError(f"unknown TTS engine {name!r}; expected pyttsx3, espeak or none")


class ClipCache:
    """Clips for call parts: a voice-pack recording if present, else synthesised once and kept."""

    def __init__(self, cache_dir: Path, engine: TTSEngine, voice_pack: Path | None = None) -> None:
        """Keep clips under cache_dir; prefer recordings at <voice_pack>/<key>.wav."""
        self.cache_dir = Path(cache_dir)
        self.engine = engine
        self.voice_pack = Path(voice_pack) if voice_pack else None
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._fresh: dict[str, str] = {}

    def _lock_for(self, key: str) -> threading.Lock:
        """Return the lock of one key, so two threads never synthesise the same clip."""
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _signature(self, part: Part) -> str:
        """Describe what a cached clip was made from; a different signature means re-synthesise."""
        tag = getattr(self.engine, "tag", type(self.engine).__name__)
        return f"{tag}\n{part.lang}\n{part.spoken}\n"

    def _pack_clip(self, part: Part) -> Path | None:
        """Return the voice pack's recording of a part, converted to the house format if needed."""
        if self.voice_pack is None:
            return None
        source = self.voice_pack / f"{part.key}.wav"
        if not source.is_file():
            return None
        if is_house_format(source):
            return source
        converted = self.cache_dir / "_pack" / f"{part.key}.wav"
        with self._lock_for("_pack/" + part.key):
            if not converted.exists() or converted.stat().st_mtime < source.stat().st_mtime:
                write_wav(converted, read_wav(source))
        return converted

    def clip(self, part: Part) -> Path:
        """Return a 22050 Hz mono 16-bit WAV for the part, synthesising it at most once."""
        if not _KEY_RE.match(part.key):
            raise ValueError(f"unsafe clip key: {part.key!r}")
        recorded = self._pack_clip(part)
        if recorded is not None:
            return recorded
        target = self.cache_dir / f"{part.key}.wav"
        sidecar = self.cache_dir / f"{part.key}.txt"
        signature = self._signature(part)
        with self._lock_for(part.key):
            if self._fresh.get(part.key) == signature and target.exists():
                return target
            if target.exists() and sidecar.exists() and sidecar.read_text("utf-8") == signature:
                self._fresh[part.key] = signature
                return target
            self._synthesise(part, target)
            self._write_sidecar(sidecar, signature)
            self._fresh[part.key] = signature
            logger.info("synthesised clip %s: %s", part.key, part.text)
            return target

    def _synthesise(self, part: Part, target: Path) -> None:
        """Synthesise into a temp file, normalise, trim and atomically move into place."""
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".synth-") as tmp:
            raw = Path(tmp) / "raw.wav"
            self.engine.synthesize(part.spoken, part.lang, raw)
            samples = trim_silence(read_wav(raw), tail_ms=CLIP_TAIL_MS)
            if not samples:
                raise TTSError(f"engine produced an empty clip for {part.key}")
            write_wav(target, samples)

    @staticmethod
    def _write_sidecar(path: Path, text: str) -> None:
        """Write the clip's signature atomically."""
        tmp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
        tmp.write_text(text, "utf-8")
        tmp.replace(path)


def chime_samples() -> array:
    """A soft two-tone chime (880 Hz then 660 Hz, about 0.6 s) at 22050 Hz mono 16-bit (a fresh copy)."""
    return array("h", _chime())


@functools.lru_cache(maxsize=1)
def _chime() -> array:
    """Compute the chime once: it is the same for every call (about 30 ms of CPU each time)."""
    out = array("h")
    for freq, seconds in ((880.0, 0.28), (660.0, 0.34)):
        count = int(RATE * seconds)
        attack = int(RATE * 0.012)
        release = int(RATE * 0.04)
        for i in range(count):
            t = i / RATE
            # Bell-like: quick fade in, exponential decay, a short fade out to reach zero cleanly.
            env = math.exp(-3.0 * t / seconds)
            if i < attack:
                env *= i / attack
            if i >= count - release:
                env *= (count - i) / release
            tone = math.sin(2 * math.pi * freq * t) + 0.25 * math.sin(4 * math.pi * freq * t)
            out.append(int(0.45 * FULL_SCALE * env * tone / 1.25))
    return out


def chime_wav(path: Path) -> Path:
    """Write the chime as a WAV file and return its path."""
    write_wav(Path(path), chime_samples())
    return Path(path)


@dataclass
class CallAudio:
    """One rendered call: the WAV, its length, where each part sits, whether voice is missing."""

    path: Path
    duration_seconds: float
    part_offsets: list[tuple[str, float, float]] = field(default_factory=list)
    degraded: bool = False


def render_call(
    number: str,
    window: int,
    lang: str,
    cache: ClipCache,
    out_path: Path,
    wording: Wording | None = None,
    gap_ms: int = GAP_MS,
    *,
    recall: int = 0,
    last: bool = False,
    queued: bool = False,
) -> CallAudio:
    """Join chime and spoken parts into one WAV; on any TTS failure write chime only (degraded).

    recall/last say which call of the ticket this is (see audio.phrases.call_parts). A queued call
    (one that waits behind another) has no chime and the short form: the voice catches up.
    """
    parts = call_parts(number, window, lang, wording, recall=recall, last=last, short=queued)
    clips: list[tuple[Part, array]] | None
    try:
        clips = [(part, read_wav(cache.clip(part))) for part in parts]
    except TTSUnavailable as exc:
        logger.error("TTS unavailable, call %s to window %s is chime only: %s", number, window, exc)
        clips = None
    except Exception:  # a TTS failure must never block or fail a call
        logger.error(
            "TTS failed, call %s to window %s is chime only", number, window, exc_info=True
        )
        clips = None

    out = array("h")
    offsets: list[tuple[str, float, float]] = []

    def add(key: str, samples: array) -> None:
        start = len(out) / RATE
        out.extend(samples)
        offsets.append((key, start, len(out) / RATE))

    if clips and queued:
        out.extend(silence(QUEUED_LEAD_MS))  # a breath after the call before, instead of the chime
    else:
        # Without speech the chime is all there is, queued or not: a call is never silent.
        add("chime", chime_samples())
        if clips:
            out.extend(silence(CHIME_GAP_MS))
    for index, (part, samples) in enumerate(clips or []):
        if index:
            out.extend(silence(COMMA_MS if part.comma else gap_ms))
        add(part.key, samples)
    out.extend(silence(TAIL_MS))
    write_wav(Path(out_path), out)
    return CallAudio(Path(out_path), len(out) / RATE, offsets, degraded=clips is None)
