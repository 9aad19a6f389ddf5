"""WAV helpers and the chime: format conversion, resampling, trimming, atomic writes."""

import math
import wave
from array import array

from audio.synth import chime_samples, chime_wav
from audio.wavfile import RATE, read_wav, resample_linear, rms, trim_silence, write_wav


def _tone(freq, seconds, rate, amp=0.5):
    return array("h", (int(amp * 32767 * math.sin(2 * math.pi * freq * i / rate)) for i in range(int(rate * seconds))))


def _zero_crossings_per_second(samples):
    crossings = sum(1 for a, b in zip(samples, samples[1:]) if (a < 0) != (b < 0))
    return crossings / (len(samples) / RATE)


def test_write_then_read_round_trip(tmp_path):
    tone = _tone(440, 0.25, RATE)
    path = tmp_path / "sub" / "tone.wav"
    write_wav(path, tone)
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, RATE)
    assert read_wav(path) == tone
    assert [p.name for p in path.parent.iterdir()] == ["tone.wav"]  # no temp file left behind


def test_stereo_16k_is_normalised_to_house_format(tmp_path):
    mono = _tone(500, 0.5, 16000)
    stereo = array("h")
    for s in mono:
        stereo.extend((s, s))
    path = tmp_path / "stereo16k.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(stereo.tobytes())
    samples = read_wav(path)
    assert abs(len(samples) - RATE * 0.5) <= 1
    # Same pitch after resampling: a 500 Hz tone crosses zero about 1000 times a second.
    assert abs(_zero_crossings_per_second(samples) - 1000) < 20


def test_8bit_input_is_read(tmp_path):
    path = tmp_path / "u8.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(RATE)
        wav.writeframes(bytes([128, 255, 128, 0]))
    assert list(read_wav(path)) == [0, 127 << 8, 0, -128 << 8]


def test_resample_identity_and_length():
    tone = _tone(300, 0.1, 11025)
    assert resample_linear(tone, 11025, 11025) == tone
    assert len(resample_linear(tone, 11025, 22050)) == 2 * len(tone)


def test_trim_silence_keeps_a_margin():
    body = _tone(440, 0.2, RATE)
    padded = array("h", bytes(RATE)) + body + array("h", bytes(RATE))  # 0.5 s silence each side
    trimmed = trim_silence(padded)
    assert len(body) < len(trimmed) < len(body) + RATE * 0.1
    assert trim_silence(array("h", bytes(100))) == array("h", bytes(100))


def test_chime_is_two_tones_with_soft_edges(tmp_path):
    samples = chime_samples()
    assert 0.5 <= len(samples) / RATE <= 0.7
    assert abs(samples[0]) < 300 and abs(samples[-1]) < 300
    assert rms(samples) > 0.05
    first, second = samples[: len(samples) // 3], samples[-len(samples) // 3 :]
    # Fundamental crossings: 880 Hz -> ~1760/s, 660 Hz -> ~1320/s (the soft 2nd harmonic adds none).
    assert abs(_zero_crossings_per_second(first) - 1760) < 60
    assert abs(_zero_crossings_per_second(second) - 1320) < 60
    path = chime_wav(tmp_path / "chime.wav")
    assert read_wav(path) == samples
