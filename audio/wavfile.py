"""Stdlib WAV helpers: read any PCM WAV into the house format (22050 Hz mono 16-bit), write it."""

from __future__ import annotations

import math
import os
import sys
import tempfile
import wave
from array import array
from pathlib import Path

RATE = 22050
SAMPLE_WIDTH = 2
CHANNELS = 1
FULL_SCALE = 32767


def _decode(frames: bytes, width: int) -> array:
    """Decode little-endian PCM frames of 1..4 bytes per sample into signed 16-bit samples."""
    if width == 2:
        samples = array("h", frames)
        if sys.byteorder == "big":
            samples.byteswap()
        return samples
    if width == 1:
        # 8-bit WAV is unsigned, centred on 128.
        return array("h", ((b - 128) << 8 for b in frames))
    if width in (3, 4):
        # Keep the two most significant bytes of each little-endian sample.
        out = array("h", bytes(len(frames) // width * 2))
        for i in range(len(out)):
            hi = frames[i * width + width - 1]
            lo = frames[i * width + width - 2]
            value = (hi << 8) | lo
            out[i] = value - 65536 if value >= 32768 else value
        return out
    raise ValueError(f"unsupported sample width: {width} bytes")


def _mix_down(samples: array, channels: int) -> array:
    """Average interleaved channels into one."""
    if channels == 1:
        return samples
    count = len(samples) // channels
    return array(
        "h",
        (sum(samples[i * channels : (i + 1) * channels]) // channels for i in range(count)),
    )


def resample_linear(samples: array, src_rate: int, dst_rate: int = RATE) -> array:
    """Resample 16-bit mono samples by linear interpolation (good enough for speech clips)."""
    if src_rate == dst_rate or not samples:
        return array("h", samples)
    count = max(1, int(round(len(samples) * dst_rate / src_rate)))
    step = src_rate / dst_rate
    last = len(samples) - 1
    out = array("h", bytes(count * 2))
    for i in range(count):
        pos = i * step
        j = int(pos)
        if j >= last:
            out[i] = samples[last]
            continue
        frac = pos - j
        out[i] = int(round(samples[j] + (samples[j + 1] - samples[j]) * frac))
    return out


def read_wav(path: Path) -> array:
    """Read a PCM WAV file and return its samples in the house format (22050 Hz mono 16-bit)."""
    with wave.open(str(path), "rb") as wav:
        channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
        frames = wav.readframes(wav.getnframes())
    samples = _mix_down(_decode(frames, width), channels)
    return resample_linear(samples, rate, RATE)


def is_house_format(path: Path) -> bool:
    """Tell whether a WAV file is already 22050 Hz mono 16-bit."""
    with wave.open(str(path), "rb") as wav:
        return (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (
            CHANNELS,
            SAMPLE_WIDTH,
            RATE,
        )


def write_wav(path: Path, samples: array) -> None:
    """Write samples as a house-format WAV atomically (temp file in the folder, then os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = array("h", samples)
    if sys.byteorder == "big":
        data.byteswap()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as raw, wave.open(raw, "wb") as wav:
            wav.setnchannels(CHANNELS)
            wav.setsampwidth(SAMPLE_WIDTH)
            wav.setframerate(RATE)
            wav.writeframes(data.tobytes())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def wav_duration(path: Path) -> float:
    """Return a WAV file's duration in seconds from its header."""
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / float(wav.getframerate())


def silence(ms: int) -> array:
    """Return ms milliseconds of digital silence."""
    return array("h", bytes(int(RATE * ms / 1000) * 2))


def rms(samples: array) -> float:
    """Root mean square of 16-bit samples, as a fraction of full scale (0..1)."""
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples)) / FULL_SCALE


def trim_silence(
    samples: array, threshold: float = 0.01, lead_ms: int = 20, tail_ms: int = 40
) -> array:
    """Cut leading and trailing near-silence, keeping a margin so soft consonants survive."""
    limit = int(threshold * FULL_SCALE)
    start = next((i for i, s in enumerate(samples) if abs(s) > limit), None)
    if start is None:
        return array("h", samples)
    end = len(samples) - next(i for i, s in enumerate(reversed(samples)) if abs(s) > limit)
    start = max(0, start - RATE * lead_ms // 1000)
    end = min(len(samples), end + RATE * tail_ms // 1000)
    return samples[start:end]
