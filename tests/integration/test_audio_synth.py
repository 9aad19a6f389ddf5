"""Real speech: espeak-ng and pyttsx3 WAVs for a call, the clip cache, the voice pack, degraded mode."""

import logging
import math
import re
import shutil
import subprocess
import threading
import wave
from array import array
from pathlib import Path

import pytest

from audio.phrases import Wording, call_parts
from audio.synth import ClipCache, EspeakEngine, NoEngine, Pyttsx3Engine, TTSUnavailable, make_engine, render_call
from audio.wavfile import read_wav, trim_silence

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (apt-get install espeak-ng)"
)
RATE = 22050


def read_samples(path: Path) -> array:
    """Read a 22050 Hz mono 16-bit WAV with the stdlib only (independent of audio.wavfile)."""
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, RATE)
        return array("h", wav.readframes(wav.getnframes()))


def rms(samples) -> float:
    return math.sqrt(sum(s * s for s in samples) / max(1, len(samples))) / 32767


def sox_rms(path: Path) -> float:
    out = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True, check=True)
    match = re.search(r"RMS\s+amplitude:\s+([0-9.]+)", out.stderr)
    assert match, out.stderr
    return float(match.group(1))


class CountingEngine:
    """Wrap a real engine and count how often it is asked to synthesise."""

    def __init__(self, inner):
        self.inner = inner
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def synthesize(self, text, lang, path):
        with self._lock:
            self.calls.append(text)
        self.inner.synthesize(text, lang, path)


class BrokenEngine:
    def synthesize(self, text, lang, path):
        raise RuntimeError("speech card on fire")


@needs_espeak
def test_arabic_call_is_real_speech(tmp_path):
    cache = ClipCache(tmp_path / "cache", EspeakEngine())
    call = render_call("A-023", 5, "ar", cache, tmp_path / "call.wav")
    assert not call.degraded
    samples = read_samples(call.path)
    assert rms(samples) > 0.01
    if shutil.which("sox"):
        assert sox_rms(call.path) > 0.01
    assert 2.0 <= call.duration_seconds <= 12.0
    assert call.duration_seconds == pytest.approx(len(samples) / RATE)

    keys = [key for key, _, _ in call.part_offsets]
    assert keys == ["chime"] + [p.key for p in call_parts("A-023", 5, "ar")]
    previous_end = 0.0
    for key, start, end in call.part_offsets:
        assert previous_end <= start < end <= call.duration_seconds, key
        previous_end = end
        segment = samples[int(start * RATE) : int(end * RATE)]
        assert rms(segment) > 0.01, f"part {key} is silent"


@needs_espeak
def test_english_call_is_real_speech(tmp_path):
    cache = ClipCache(tmp_path / "cache", EspeakEngine())
    call = render_call("B-468", 9, "en", cache, tmp_path / "call.wav")
    assert not call.degraded
    assert rms(read_samples(call.path)) > 0.01
    assert 2.0 <= call.duration_seconds <= 12.0


@needs_espeak
def test_clips_are_synthesised_once(tmp_path):
    engine = CountingEngine(EspeakEngine())
    cache = ClipCache(tmp_path / "cache", engine)
    first = render_call("A-023", 5, "ar", cache, tmp_path / "1.wav")
    assert len(engine.calls) == 5
    second = render_call("A-023", 5, "ar", cache, tmp_path / "2.wav")
    assert len(engine.calls) == 5
    assert read_samples(first.path) == read_samples(second.path)

    # A new call reuses the phrases, the letter and the window: only the new number is spoken.
    render_call("A-024", 5, "ar", cache, tmp_path / "3.wav")
    assert len(engine.calls) == 6

    # The cache lives on disk: a restarted announcer does not synthesise again.
    engine2 = CountingEngine(EspeakEngine())
    render_call("A-023", 5, "ar", ClipCache(tmp_path / "cache", engine2), tmp_path / "4.wav")
    assert engine2.calls == []


@needs_espeak
def test_changed_wording_is_synthesised_again(tmp_path):
    engine = CountingEngine(EspeakEngine())
    cache = ClipCache(tmp_path / "cache", engine)
    render_call("A-1", 2, "ar", cache, tmp_path / "1.wav")
    render_call("A-1", 2, "ar", cache, tmp_path / "2.wav", wording=Wording(ar_ticket="العَمِيلُ رَقْم"))
    assert engine.calls[-1] == "العَمِيلُ رَقْم"
    assert len(engine.calls) == 6


@needs_espeak
def test_concurrent_renders_synthesise_each_clip_once(tmp_path):
    engine = CountingEngine(EspeakEngine())
    cache = ClipCache(tmp_path / "cache", engine)
    results = []

    def worker(i):
        results.append(render_call("C-101", 3, "ar", cache, tmp_path / f"{i}.wav"))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 8 and not any(r.degraded for r in results)
    assert len(engine.calls) == 5
    assert len({bytes(read_samples(r.path)) for r in results}) == 1


def _write_tone(path: Path, freq: float, seconds: float, rate: int = RATE) -> array:
    samples = array(
        "h", (int(0.3 * 32767 * math.sin(2 * math.pi * freq * i / rate)) for i in range(int(rate * seconds)))
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())
    return samples


@needs_espeak
def test_voice_pack_recording_is_used(tmp_path):
    pack = tmp_path / "pack"
    tone = _write_tone(pack / "ar" / "phrase" / "ticket.wav", 523.25, 0.5)
    engine = CountingEngine(EspeakEngine())
    cache = ClipCache(tmp_path / "cache", engine, voice_pack=pack)
    call = render_call("A-023", 5, "ar", cache, tmp_path / "call.wav")
    assert not call.degraded
    assert "التَّذْكِرَةُ رَقْم" not in engine.calls
    assert len(engine.calls) == 4

    samples = read_samples(call.path)
    key, start, end = call.part_offsets[1]
    assert key == "ar/phrase/ticket"
    first = int(round(start * RATE))
    assert samples[first : first + len(tone)] == tone
    assert end - start == pytest.approx(0.5, abs=1 / RATE)


@needs_espeak
def test_voice_pack_in_another_format_is_converted(tmp_path):
    pack = tmp_path / "pack"
    _write_tone(pack / "ar" / "num" / "5.wav", 440.0, 0.8, rate=16000)
    cache = ClipCache(tmp_path / "cache", EspeakEngine(), voice_pack=pack)
    clip = cache.clip(call_parts("A-1", 5)[-1])
    assert len(read_samples(clip)) == pytest.approx(0.8 * RATE, abs=2)


def test_engine_none_degrades_to_chime_only(tmp_path, caplog):
    cache = ClipCache(tmp_path / "cache", make_engine("none"))
    with caplog.at_level(logging.ERROR, logger="audio.synth"):
        call = render_call("A-023", 5, "ar", cache, tmp_path / "call.wav")
    assert call.degraded
    assert [key for key, _, _ in call.part_offsets] == ["chime"]
    assert call.duration_seconds < 1.0
    assert rms(read_samples(call.path)) > 0.01
    assert any(r.levelno == logging.ERROR and "chime only" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "engine",
    [BrokenEngine(), EspeakEngine(binary="no-such-espeak-binary"), NoEngine()],
    ids=["broken", "missing-binary", "none"],
)
def test_any_tts_failure_degrades_and_never_raises(tmp_path, caplog, engine):
    with caplog.at_level(logging.ERROR, logger="audio.synth"):
        call = render_call("A-1", 1, "ar", ClipCache(tmp_path / "c", engine), tmp_path / "x.wav")
    assert call.degraded and call.path.exists()
    assert caplog.records


def test_missing_binary_is_unavailable(tmp_path):
    with pytest.raises(TTSUnavailable):
        EspeakEngine(binary="no-such-espeak-binary").synthesize("x", "en", tmp_path / "x.wav")


def test_make_engine_names():
    assert isinstance(make_engine("pyttsx3"), Pyttsx3Engine)
    assert isinstance(make_engine("espeak", rate=140), EspeakEngine)
    assert isinstance(make_engine("none"), NoEngine)
    with pytest.raises(ValueError):
        make_engine("festival")


@pytest.fixture
def pyttsx3_ok():
    try:
        import pyttsx3

        pyttsx3.init()
    except Exception as exc:  # noqa: BLE001 - any failure to start means this machine has no pyttsx3 backend
        pytest.skip(f"pyttsx3 cannot initialise here: {exc}")


@pytest.mark.parametrize("name", ["espeak", "pyttsx3"])
@pytest.mark.parametrize(("lang", "text"), [("ar", "التَّذْكِرَةُ رَقْم"), ("en", "Ticket number")])
def test_each_engine_writes_a_wav(tmp_path, request, capfd, name, lang, text):
    if name == "espeak" and shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    if name == "pyttsx3":
        request.getfixturevalue("pyttsx3_ok")
    engine = make_engine(name)
    out = tmp_path / "out.wav"
    engine.synthesize(text, lang, out)
    with wave.open(str(out)) as wav:
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
        samples = array("h", wav.readframes(wav.getnframes()))
        seconds = wav.getnframes() / wav.getframerate()
    assert 0.3 < seconds < 5
    assert rms(samples) > 0.01
    assert capfd.readouterr().out == ""  # the library prints nothing


def test_pyttsx3_call_renders(tmp_path, pyttsx3_ok, capfd):
    engine = CountingEngine(Pyttsx3Engine())
    call = render_call("A-023", 5, "ar", ClipCache(tmp_path / "cache", engine), tmp_path / "call.wav")
    assert not call.degraded
    assert len(engine.calls) == 5
    assert rms(read_samples(call.path)) > 0.01
    assert capfd.readouterr().out == ""


def test_pyttsx3_clips_are_complete_every_time(tmp_path, pyttsx3_ok):
    """Regression: pyttsx3's runAndWait could cancel espeak mid-clip and drop the last second."""
    engine = Pyttsx3Engine()
    long_text = "أَرْبَعُمِئَه وَثَمَانِيَه وَسِتُّونْ"
    lengths = []
    for i in range(10):
        engine.synthesize("إيه", "ar", tmp_path / f"short{i}.wav")
        engine.synthesize(long_text, "ar", tmp_path / f"long{i}.wav")
        lengths.append(len(trim_silence(read_wav(tmp_path / f"long{i}.wav"))) / RATE)
    assert max(lengths) - min(lengths) < 0.05, lengths
    if shutil.which("espeak-ng"):
        EspeakEngine().synthesize(long_text, "ar", tmp_path / "cli.wav")
        cli = len(trim_silence(read_wav(tmp_path / "cli.wav"))) / RATE
        assert min(lengths) == pytest.approx(cli, abs=0.1)
