"""The text-to-speech port (audio.synth.TTSEngine): every engine installed here, one contract.

Engines are built by make_engine from their config name (HALL_TTS_ENGINE). A real engine (pyttsx3,
espeak) turns a phrase into a valid WAV with sound, Arabic and English, and fails with TTSError
(TTSUnavailable when the engine or voice is missing). The `none` engine always raises
TTSUnavailable: its documented degradation is a call announced with the chime only. Either way
render_call gives a valid WAV, so a call is never silent and never fails.
"""
from __future__ import annotations

import functools
import math
import shutil
import subprocess
import sys
import wave
from array import array
from pathlib import Path
from typing import Any

import pytest

from audio.phrases import call_parts
from audio.synth import ClipCache, TTSEngine, TTSError, TTSUnavailable, make_engine, render_call

PHRASES = [("ar", "التَّذْكِرَةُ رَقْم"), ("en", "Ticket number")]


@functools.cache
def _pyttsx3_missing() -> str | None:
    """Why pyttsx3 cannot speak here (None: it can); asked once, when a pyttsx3 test first runs."""
    try:
        import pyttsx3
        pyttsx3.init()
    except Exception as exc:  # noqa: BLE001 - any failure to start means no pyttsx3 backend here
        return f"pyttsx3 cannot initialise here: {exc}"
    return None


@pytest.fixture(params=["pyttsx3", "espeak", "none"])
def engine_name(request) -> str:
    if request.param == "pyttsx3" and _pyttsx3_missing():
        pytest.skip(_pyttsx3_missing())
    if request.param == "espeak" and shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    return request.param


def read_wav(path: Path) -> tuple[Any, array]:
    """Parse with the stdlib alone: a WAV any player can open, 16-bit PCM."""
    with wave.open(str(path)) as w:
        params = w.getparams()
        frames = w.readframes(w.getnframes())
    assert params.sampwidth == 2 and params.comptype == "NONE"
    samples = array("h", frames)
    if sys.byteorder == "big":
        samples.byteswap()
    return params, samples


def rms(samples: array) -> float:
    return math.sqrt(sum(s * s for s in samples) / max(1, len(samples))) / 32767


def test_the_factory_builds_a_tts_engine(engine_name):
    engine = make_engine(engine_name)
    assert isinstance(engine, TTSEngine)
    assert isinstance(getattr(engine, "tag", ""), str) and engine.tag, "clips are cached under the engine's tag"


@pytest.mark.parametrize("lang,text", PHRASES, ids=[p[0] for p in PHRASES])
def test_a_phrase_becomes_a_wav_with_sound(tmp_path, capfd, engine_name, lang, text):
    engine = make_engine(engine_name)
    out = tmp_path / "phrase.wav"
    if engine_name == "none":
        with pytest.raises(TTSUnavailable):
            engine.synthesize(text, lang, out)
        assert not out.exists()
        return
    engine.synthesize(text, lang, out)
    params, samples = read_wav(out)
    seconds = params.nframes / params.framerate
    assert params.nchannels == 1 and 8000 <= params.framerate <= 48000
    assert 0.3 < seconds < 5, seconds
    assert rms(samples) > 0.01, "speech, not silence"
    assert max(abs(s) for s in samples) < 32767, "not clipped"
    assert capfd.readouterr().out == "", "the engine prints nothing"


def test_an_unknown_voice_raises_tts_error(tmp_path, engine_name):
    engine = make_engine(engine_name)
    with pytest.raises(TTSError):
        engine.synthesize("hello", "xx-nolang", tmp_path / "x.wav")


def test_a_call_renders_with_voice_or_degrades_to_the_chime(tmp_path, engine_name):
    cache = ClipCache(tmp_path / "cache", make_engine(engine_name))
    call = render_call("A-023", 5, "ar", cache, tmp_path / "call.wav")
    params, samples = read_wav(call.path)
    assert params.nchannels == 1 and params.framerate == 22050
    assert call.duration_seconds == pytest.approx(params.nframes / params.framerate)
    keys = [key for key, _, _ in call.part_offsets]
    if engine_name == "none":
        assert call.degraded and keys == ["chime"], "documented degradation: the chime only"
        assert call.duration_seconds < 1.0
    else:
        assert not call.degraded
        assert keys == ["chime"] + [p.key for p in call_parts("A-023", 5, "ar")]
    for key, start, end in call.part_offsets:
        assert rms(samples[int(start * 22050):int(end * 22050)]) > 0.01, f"part {key} is silent"


def test_an_engine_keeps_working_after_a_failed_clip(tmp_path, engine_name):
    """One clip that cannot be written (here: its folder is gone) must not break the next ones."""
    if engine_name == "none":
        pytest.skip("the none engine never writes")
    if engine_name == "pyttsx3":
        pytest.skip("tried in a child process: test_pyttsx3_keeps_working_after_a_failed_clip")
    engine = make_engine(engine_name)
    with pytest.raises(TTSError):
        engine.synthesize("hello", "en", tmp_path / "gone" / "x.wav")
    engine.synthesize("hello", "en", tmp_path / "y.wav")
    assert rms(read_wav(tmp_path / "y.wav")[1]) > 0.01


# pyttsx3's failure is tried in a child process: it leaves the engine's class lock held by a stuck
# thread, which would stall every later pyttsx3 test in this process.
_CHILD = """
import sys
from pathlib import Path
from audio.synth import Pyttsx3Engine, TTSError
tmp = Path(sys.argv[1])
engine = Pyttsx3Engine(timeout=5)
try:
    engine.synthesize("hello", "en", tmp / "gone" / "x.wav")
except TTSError as exc:
    print("first:", type(exc).__name__, exc)
engine.synthesize("hello", "en", tmp / "y.wav")
print("second: ok")
"""


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=(
    "pyttsx3: a clip that cannot be written leaves the driver loop running forever (espeak's callback "
    "raises), holding Pyttsx3Engine._lock: that clip times out, and so does every later one in the "
    "process; the hall's speech stays chime-only until a restart"))
def test_pyttsx3_keeps_working_after_a_failed_clip(tmp_path):
    if _pyttsx3_missing():
        pytest.skip(_pyttsx3_missing())
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path)], cwd=root, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and "second: ok" in proc.stdout, proc.stdout + proc.stderr[-2000:]
