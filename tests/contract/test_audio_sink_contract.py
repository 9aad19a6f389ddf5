"""The audio sink port (audio.sinks.AudioSink): every sink that runs here, one contract.

Sinks are built by make_sink from their config name (the hall's [audio] sink, hall-announcer --sink):
a folder (file), nowhere (null), and command-line players (aplay, and sox's `play` as a `command`
sink) on ALSA's null device, so they really open, decode and play the WAV without a sound card.
play() returns once the call has played and raises when it cannot; behind a CallPlayer, calls play
in order, one at a time, and a call that fails never silences the next.
"""
from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from audio.player import CallPlayer
from audio.sinks import AudioSink, CommandSink, FileSink, NullSink, make_sink
from audio.synth import chime_samples, chime_wav
from audio.wavfile import silence, wav_duration, write_wav


@dataclass
class Target:
    """A sink, what it played (labels in order, when observable), and a sink that cannot play."""

    sink: AudioSink
    played: Callable[[], list[str]] | None
    broken: Callable[[], AudioSink] | None


def _file(tmp_path: Path, monkeypatch) -> Iterator[Target]:
    folder = tmp_path / "speaker"
    sink = make_sink("file", folder=folder, speed=1.0)

    def played() -> list[str]:
        log = folder / "played.log"
        return [line.split("\t")[2] for line in log.read_text("utf-8").splitlines()] if log.exists() else []

    def broken() -> AudioSink:
        gone = tmp_path / "gone"
        s = make_sink("file", folder=gone, speed=0)
        shutil.rmtree(gone)
        gone.write_text("a file where the speaker folder was")
        return s

    yield Target(sink, played, broken)


def _null(tmp_path: Path, monkeypatch) -> Iterator[Target]:
    yield Target(make_sink("null"), None, None)


def _works(cmd: list[str], wav: Path) -> bool:
    try:
        return subprocess.run([*cmd, str(wav)], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _aplay(tmp_path: Path, monkeypatch) -> Iterator[Target]:
    probe = chime_wav(tmp_path / "probe.wav")
    if shutil.which("aplay") is None or not _works(["aplay", "-q", "-D", "null"], probe):
        pytest.skip("aplay (alsa-utils) cannot play on ALSA's null device here")
    sink = make_sink("aplay", args=["-q", "-D", "null"])
    yield Target(sink, None, lambda: make_sink("aplay", args=["-q", "-D", "no_such_device"]))


def _command(tmp_path: Path, monkeypatch) -> Iterator[Target]:
    # sox's `play` through ALSA's null device: AUDIODRIVER/AUDIODEV are sox's own settings.
    monkeypatch.setenv("AUDIODRIVER", "alsa")
    monkeypatch.setenv("AUDIODEV", "null")
    probe = chime_wav(tmp_path / "probe.wav")
    if shutil.which("play") is None or not _works(["play", "-q"], probe):
        pytest.skip("sox's play cannot play on ALSA's null device here")
    sink = make_sink("command", command="play", args=["-q"])

    def broken() -> AudioSink:
        return make_sink("command", command="no-such-player-binary")

    yield Target(sink, None, broken)


BACKENDS = {"file": (_file, FileSink), "null": (_null, NullSink), "aplay": (_aplay, CommandSink),
            "command": (_command, CommandSink)}


@pytest.fixture(params=sorted(BACKENDS))
def target(request, tmp_path, monkeypatch) -> Iterator[Target]:
    make, _ = BACKENDS[request.param]
    yield from make(tmp_path, monkeypatch)


def _call(folder: Path, name: str, pad_ms: int = 0) -> Path:
    """A call-like WAV: the real chime, a little silence so calls differ in length."""
    path = folder / f"{name}.wav"
    write_wav(path, chime_samples() + silence(pad_ms))
    return path


def test_the_factory_builds_the_sink_the_config_names(request, target):
    backend = request.node.callspec.params["target"]
    assert isinstance(target.sink, BACKENDS[backend][1])
    assert isinstance(target.sink, AudioSink)


def test_a_call_plays_to_the_end(tmp_path, target):
    wav = _call(tmp_path, "call")
    started = time.monotonic()
    assert target.sink.play(wav, "A-023 -> 5") is None
    elapsed = time.monotonic() - started
    if isinstance(target.sink, FileSink):
        # The file sink models a speaker: it returns when the call would have finished playing.
        assert elapsed >= wav_duration(wav) * 0.95
        copies = sorted(target.sink.folder.glob("*.wav"))
        assert len(copies) == 1 and copies[0].read_bytes() == wav.read_bytes()
    if target.played is not None:
        assert target.played() == ["A-023 -> 5"]


def test_a_sink_that_cannot_play_raises(tmp_path, target):
    if target.broken is None:
        pytest.skip("the null sink discards every call: it cannot fail")
    with pytest.raises((OSError, RuntimeError)):
        target.broken().play(_call(tmp_path, "call"), "A-001 -> 1")


def test_a_file_that_is_not_a_wav_raises(tmp_path, target):
    if isinstance(target.sink, NullSink):
        pytest.skip("the null sink never reads the file")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav file at all")
    with pytest.raises(Exception):  # noqa: B017 - wave.Error, OSError or the player's RuntimeError
        target.sink.play(bad, "A-002 -> 2")


def test_calls_play_in_order_one_at_a_time_and_a_failure_never_silences_the_next(tmp_path, target, caplog):
    player = CallPlayer(target.sink)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav")
    labels = [f"A-{i:03d} -> {i}" for i in range(1, 5)]
    calls: list[tuple[Path, str]] = [(_call(tmp_path, f"c{i}", 40 * i), label) for i, label in enumerate(labels)]
    if not isinstance(target.sink, NullSink):
        calls.insert(1, (bad, "broken"))
    for path, label in calls:
        player.enqueue(path, label)
    try:
        assert player.drain(timeout=30), "every queued call is played (or tried)"
        assert player.pending == 0
    finally:
        player.close(timeout=5)
    if target.played is not None:
        assert target.played() == labels, "in the order queued; the broken call is skipped"
    if isinstance(target.sink, FileSink):
        rows = [line.split("\t") for line in (target.sink.folder / "played.log").read_text("utf-8").splitlines()]
        spans: list[tuple[float, float]] = [(float(r[3]), float(r[4])) for r in rows]
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:])), "never overlapping"
    if not isinstance(target.sink, NullSink):
        assert any("could not play call broken" in r.getMessage() for r in caplog.records)


def test_unknown_sink_names_are_refused():
    with pytest.raises(ValueError, match="unknown audio sink"):
        make_sink("bluetooth")
