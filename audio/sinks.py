"""Audio sinks: where a call's WAV is played (speakers through a command, a folder, nowhere)."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from audio.wavfile import wav_duration

logger = logging.getLogger(__name__)

_SEQ_RE = re.compile(r"^(\d{6})-.*\.wav$")


@runtime_checkable
class AudioSink(Protocol):
    """Port: play one WAV file, returning only when it has finished."""

    def play(self, path: Path, label: str = "") -> None:
        """Play the WAV at path to the end; label names the call in logs."""
        ...


class CommandSink:
    """Play through a command-line player such as aplay (ALSA) or paplay (PulseAudio/PipeWire)."""

    def __init__(
        self, command: str = "aplay", args: list[str] | None = None, slack: float = 10.0
    ) -> None:
        """Use command (with extra args); allow the WAV's duration plus slack seconds to finish."""
        self.command = command
        self.args = list(args) if args is not None else (["-q"] if command == "aplay" else [])
        self.slack = slack

    def play(self, path: Path, label: str = "") -> None:
        """Run the player on the file and wait for it; raise if it is missing or fails."""
        exe = shutil.which(self.command)
        if exe is None:
            raise FileNotFoundError(f"audio player {self.command!r} not found on PATH")
        timeout = wav_duration(path) + self.slack
        proc = subprocess.run(
            [exe, *self.args, str(path)], capture_output=True, timeout=timeout, check=False
        )
        if proc.returncode != 0:
            stderr = proc.stderr.decode("utf-8", "replace").strip()
            raise RuntimeError(
                f"{self.command} exited {proc.returncode} playing {label or path}: {stderr}"
            )


class FileSink:
    """Model a speaker with a folder: keep a copy of every call and log when it played."""

    def __init__(self, folder: Path, speed: float = 1.0) -> None:
        """Write into folder; "play" for the WAV's duration times speed (0 = do not wait)."""
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.speed = speed
        self.log_path = self.folder / "played.log"
        self._lock = threading.Lock()
        existing = [int(m.group(1)) for p in self.folder.iterdir() if (m := _SEQ_RE.match(p.name))]
        self._seq = max(existing, default=0)

    def play(self, path: Path, label: str = "") -> None:
        """Copy the WAV in as <seq:06d>-<timestamp>.wav, wait its scaled duration, log it."""
        with self._lock:
            self._seq += 1
            seq = self._seq
        stamp = datetime.now().strftime("%Y%m%dT%H%M%S%f")
        target = self.folder / f"{seq:06d}-{stamp}.wav"
        shutil.copyfile(path, target)
        duration = wav_duration(target)
        start_mono, start_wall = time.monotonic(), time.time()
        if self.speed > 0:
            time.sleep(duration * self.speed)
        end_mono, end_wall = time.monotonic(), time.time()
        # Tab-separated: seq, file, label, start/end monotonic, start/end wall clock, duration.
        line = "\t".join(
            [
                f"{seq:06d}",
                target.name,
                label.replace("\t", " ").replace("\n", " "),
                f"{start_mono:.6f}",
                f"{end_mono:.6f}",
                f"{start_wall:.6f}",
                f"{end_wall:.6f}",
                f"{duration:.3f}",
            ]
        )
        with self._lock, self.log_path.open("a", encoding="utf-8") as log:
            log.write(line + "\n")


class NullSink:
    """Play nothing, at once: for servers without speakers and for tests."""

    def play(self, path: Path, label: str = "") -> None:
        """Discard the call."""
        logger.debug("null sink dropped %s (%s)", label, path)


def make_sink(name: str, **opts: object) -> AudioSink:
    """Build a sink by config name: "aplay", "paplay", "command", "file" or "none"/"null"."""
    name = (name or "none").strip().lower()
    if name in ("aplay", "paplay"):
        return CommandSink(command=name, **opts)  # type: ignore[arg-type]
    if name == "command":
        return CommandSink(**opts)  # type: ignore[arg-type]
    if name == "file":
        return FileSink(**opts)  # type: ignore[arg-type]
    if name in ("none", "null"):
        return NullSink()
    raise ValueError(f"unknown audio sink {name!r}; expected aplay, paplay, command, file or none")
