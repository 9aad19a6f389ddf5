"""The call player: a burst of calls from many windows plays in order, never overlapping."""

import threading
from pathlib import Path

import pytest

from audio.player import CallPlayer
from audio.sinks import CommandSink, FileSink, NullSink, make_sink
from audio.synth import chime_samples
from audio.wavfile import silence, write_wav


def _call_wav(folder: Path, i: int) -> Path:
    """A chime followed by a little silence that differs per call, so durations differ."""
    path = folder / f"call-{i:02d}.wav"
    write_wav(path, chime_samples() + silence(50 * (i % 5)))
    return path


def _played(folder: Path) -> list[dict]:
    rows = []
    for line in (folder / "played.log").read_text("utf-8").splitlines():
        seq, name, label, start, end, wall_start, wall_end, duration = line.split("\t")
        rows.append(
            {
                "seq": int(seq), "name": name, "label": label, "start": float(start),
                "end": float(end), "wall_start": float(wall_start), "wall_end": float(wall_end),
                "duration": float(duration),
            }
        )
    return rows


def test_burst_from_nine_windows_plays_all_in_order_without_overlap(tmp_path):
    wavs = [_call_wav(tmp_path, i) for i in range(20)]
    out = tmp_path / "speaker"
    player = CallPlayer(FileSink(out, speed=0.02))
    enqueued: list[str] = []
    order_lock = threading.Lock()
    start = threading.Barrier(9)

    def window(w: int) -> None:
        start.wait()
        for i in range(w, 20, 9):  # windows 1..9 share the 20 calls
            label = f"A-{i:03d}@{w + 1}"
            # Record and enqueue together so the recorded order is the queue's order.
            with order_lock:
                enqueued.append(label)
                player.enqueue(wavs[i], label)

    threads = [threading.Thread(target=window, args=(w,)) for w in range(9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert len(enqueued) == 20
    assert player.drain(timeout=30)
    player.close(timeout=5)

    rows = _played(out)
    assert [r["label"] for r in rows] == enqueued
    assert [r["seq"] for r in rows] == list(range(1, 21))
    assert sorted(p.name for p in out.glob("*.wav")) == [r["name"] for r in rows]
    by_start = sorted(rows, key=lambda r: r["start"])
    assert by_start == rows
    for before, after in zip(by_start, by_start[1:]):
        assert after["start"] >= before["end"], (before["label"], after["label"])
        assert after["wall_start"] >= before["wall_end"] - 0.001
    for r in rows:
        assert r["end"] - r["start"] >= r["duration"] * 0.02 * 0.9


class GateSink:
    """A sink that holds the first call until released, recording what it played."""

    def __init__(self):
        self.release = threading.Event()
        self.played: list[str] = []

    def play(self, path, label=""):
        self.release.wait(10)
        self.played.append(label)


def test_enqueue_never_blocks_while_a_call_is_playing(tmp_path):
    sink = GateSink()
    player = CallPlayer(sink)
    wav = _call_wav(tmp_path, 0)
    producer = threading.Thread(target=lambda: [player.enqueue(wav, str(i)) for i in range(50)])
    producer.start()
    producer.join(5)
    assert not producer.is_alive()
    assert player.pending == 50
    sink.release.set()
    assert player.drain(timeout=10)
    assert sink.played == [str(i) for i in range(50)]
    player.close()


class FlakySink:
    def __init__(self):
        self.played = []

    def play(self, path, label=""):
        if label == "bad":
            raise OSError("speaker unplugged")
        self.played.append(label)


def test_a_failing_call_does_not_stop_the_others(tmp_path, caplog):
    sink = FlakySink()
    player = CallPlayer(sink)
    wav = _call_wav(tmp_path, 0)
    for label in ["a", "bad", "b"]:
        player.enqueue(wav, label)
    assert player.drain(timeout=10)
    player.close()
    assert sink.played == ["a", "b"]
    assert any("bad" in r.getMessage() for r in caplog.records)


def test_closed_player_refuses_new_calls(tmp_path):
    player = CallPlayer(NullSink())
    player.close()
    with pytest.raises(RuntimeError):
        player.enqueue(_call_wav(tmp_path, 0), "late")


def test_file_sink_continues_numbering(tmp_path):
    wav = _call_wav(tmp_path, 1)
    FileSink(tmp_path / "out", speed=0).play(wav, "one")
    FileSink(tmp_path / "out", speed=0).play(wav, "two")
    assert [r["seq"] for r in _played(tmp_path / "out")] == [1, 2]


def test_command_sink(tmp_path):
    wav = _call_wav(tmp_path, 1)
    CommandSink("true").play(wav, "ok")  # a player that accepts the file and exits 0
    with pytest.raises(RuntimeError):
        CommandSink("false").play(wav, "fails")
    with pytest.raises(FileNotFoundError):
        CommandSink("no-such-player").play(wav, "missing")


def test_make_sink_names(tmp_path):
    assert isinstance(make_sink("aplay"), CommandSink)
    assert make_sink("paplay").command == "paplay"
    assert isinstance(make_sink("file", folder=tmp_path, speed=0.5), FileSink)
    assert isinstance(make_sink("none"), NullSink)
    with pytest.raises(ValueError):
        make_sink("bluetooth")
