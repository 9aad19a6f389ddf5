"""The call player: one worker thread plays calls strictly in order, one at a time, none dropped."""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from audio.sinks import AudioSink

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Item:
    """One queued call."""

    path: Path
    label: str


_STOP = object()


class CallPlayer:
    """Play queued call WAVs through a sink, first in first out: two windows never talk at once."""

    def __init__(self, sink: AudioSink) -> None:
        """Start the worker thread for sink."""
        self.sink = sink
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._pending = 0
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="call-player", daemon=True)
        self._thread.start()

    def enqueue(self, wav_path: Path, label: str = "") -> None:
        """Queue a call; returns at once (the queue is unbounded, so calls are never dropped)."""
        with self._cond:
            if self._closed:
                raise RuntimeError("CallPlayer is closed")
            self._pending += 1
            self._queue.put(_Item(Path(wav_path), label))

    @property
    def pending(self) -> int:
        """Number of calls queued or playing."""
        with self._cond:
            return self._pending

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every queued call has played; return False if timeout passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float | None = None) -> None:
        """Play what is queued, then stop the worker."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("call player still busy after %.1fs at close", timeout or 0.0)

    def _run(self) -> None:
        """Take calls one by one and play each to the end; a failing sink is logged, never fatal."""
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            item = cast(_Item, item)
            try:
                self.sink.play(item.path, item.label)
            except Exception:  # one broken call must not silence the rest
                logger.exception("could not play call %s (%s)", item.label, item.path)
            finally:
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()
