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

from audio import synth
from audio.phrases import Wording, call_parts
from audio.synth import (
    ClipCache,
    EspeakEngine,
    NoEngine,
    Pyttsx3Engine,
    TTSUnavailable,
    chime_samples,
    make_engine,
    render_call,
)
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
    assert "التَّذْكِرَة" not in engine.calls
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


# ----- the call's forms: first call, recall, queued (short, no chime); the speaking rate ---------------
# The burst of the issue "The first hour": nine windows call within seconds. Each window's main
# service in the default hall (tickets A, A, B, H, D, E, S, U, F).
BURST = [("A-001", 1), ("A-002", 2), ("B-001", 3), ("H-001", 4), ("D-001", 5), ("E-001", 6),
         ("S-001", 7), ("U-001", 8), ("F-001", 9)]


@pytest.fixture(params=["espeak", "pyttsx3"])
def real_engine(request):
    """Each real engine at its default rate (pyttsx3 drives the same espeak-ng voice in process)."""
    if request.param == "espeak" and shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    if request.param == "pyttsx3":
        request.getfixturevalue("pyttsx3_ok")
    return make_engine(request.param)


def _find(haystack: array, needle: array) -> int:
    """Where needle's samples sit inside haystack (-1 if they do not)."""
    at = bytes(haystack).find(bytes(needle))
    while at >= 0 and at % 2:
        at = bytes(haystack).find(bytes(needle), at + 1)
    return at // 2 if at >= 0 else -1


def test_the_default_rate_is_faster_but_not_rushed():
    assert synth.DEFAULT_RATE_WPM == 210
    assert EspeakEngine().rate == Pyttsx3Engine().rate == 210


def test_a_call_is_shorter_than_the_old_one_and_real_speech(tmp_path, real_engine):
    cache = ClipCache(tmp_path / "cache", real_engine)
    call = render_call("D-002", 5, "ar", cache, tmp_path / "call.wav")
    assert not call.degraded
    # "التذكرة دي اثنان، تفضل إلى الشباك رقم خمسة" after the chime; the old sentence was 6.7 s.
    assert 4.0 < call.duration_seconds < 5.6, call.duration_seconds
    speech = sum(end - start for key, start, end in call.part_offsets if key != "chime")
    # 19 syllables: about 5 a second, the pace of read speech (150 wpm was 3.9, 230 would be 5.7).
    assert 4.4 < 19 / speech < 5.6, speech
    samples = read_samples(call.path)
    assert samples[: len(chime_samples())] == chime_samples()
    if shutil.which("sox"):
        assert sox_rms(call.path) > 0.01


def test_a_queued_call_has_no_chime_and_the_short_form(tmp_path, real_engine):
    cache = ClipCache(tmp_path / "cache", real_engine)
    full = render_call("D-002", 5, "ar", cache, tmp_path / "full.wav")
    queued = render_call("D-002", 5, "ar", cache, tmp_path / "queued.wav", queued=True)
    assert not queued.degraded
    assert [k for k, _, _ in queued.part_offsets] == [p.key for p in call_parts("D-002", 5, short=True)]
    samples = read_samples(queued.path)
    assert _find(samples, chime_samples()) == -1
    assert rms(samples[: int(RATE * synth.QUEUED_LEAD_MS / 1000)]) == 0      # a breath, then the voice
    assert 1.6 < queued.duration_seconds < 2.8 < full.duration_seconds - 2.0
    for key, start, end in queued.part_offsets:
        assert rms(samples[int(start * RATE):int(end * RATE)]) > 0.01, key


def test_a_recall_sounds_different_from_the_first_call(tmp_path, real_engine):
    cache = ClipCache(tmp_path / "cache", real_engine)
    first = render_call("D-002", 5, "ar", cache, tmp_path / "first.wav")
    second = render_call("D-002", 5, "ar", cache, tmp_path / "second.wav", recall=1)
    last = render_call("D-002", 5, "ar", cache, tmp_path / "last.wav", recall=2, last=True)
    keys = [[k for k, _, _ in c.part_offsets] for c in (first, second, last)]
    assert keys[1] == ["chime", "ar/phrase/second-call"] + keys[0][1:]
    assert keys[2] == ["chime", "ar/phrase/last-call"] + keys[0][1:]
    one, two, three = (read_samples(c.path) for c in (first, second, last))
    assert len({bytes(one), bytes(two), bytes(three)}) == 3
    for recall in (second, last):
        _, start, end = recall.part_offsets[1]
        assert rms(read_samples(recall.path)[int(start * RATE):int(end * RATE)]) > 0.01
        # the prefix, a comma's pause, then the same sentence
        assert recall.duration_seconds - first.duration_seconds == pytest.approx(
            end - start + synth.COMMA_MS / 1000, abs=0.002)
    # After the prefix the recall is sample for sample the first call's sentence.
    _, sentence_start, _ = first.part_offsets[1]
    sentence = one[int(round(sentence_start * RATE)):]
    assert _find(two, sentence) > 0 and _find(three, sentence) > 0
    # Queued, a recall keeps its prefix.
    queued = render_call("D-002", 5, "ar", cache, tmp_path / "q.wav", recall=1, queued=True)
    assert [k for k, _, _ in queued.part_offsets][:2] == ["ar/phrase/second-call", "ar/letter/D"]


def test_without_speech_a_queued_call_is_still_the_chime(tmp_path):
    call = render_call("A-1", 1, "ar", ClipCache(tmp_path / "c", NoEngine()), tmp_path / "x.wav", queued=True)
    assert call.degraded and [k for k, _, _ in call.part_offsets] == ["chime"]


def test_a_burst_of_nine_fits_in_25_seconds_of_audio(tmp_path, real_engine):
    """The first call in full with its chime, the eight that wait behind it in the short form."""
    cache = ClipCache(tmp_path / "cache", real_engine)
    calls = [render_call(n, w, "ar", cache, tmp_path / f"{i}.wav", queued=i > 0) for i, (n, w) in enumerate(BURST)]
    assert not any(c.degraded for c in calls)
    total = sum(len(read_samples(c.path)) for c in calls) / RATE
    assert total <= 25.0, [round(c.duration_seconds, 2) for c in calls]
    assert max(c.duration_seconds for c in calls[1:]) < 2.8
