"""Wait estimates: how long a citizen will wait, from position, service times and open windows."""
from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean
from typing import Sequence

MIN_SAMPLES = 3


def service_minutes(recent_durations_s: Sequence[float], expected_minutes: float) -> float:
    """Typical minutes at the window: the mean of recent service times, or the catalog's value.

    With few recent samples the catalog's expected time is blended in, so one quick ticket in
    the morning does not promise everyone a two-minute wait.
    """
    if not recent_durations_s:
        return float(expected_minutes)
    observed = fmean(recent_durations_s) / 60.0
    n = len(recent_durations_s)
    if n >= MIN_SAMPLES * 3:
        return observed
    weight = n / (MIN_SAMPLES * 3)
    return weight * observed + (1 - weight) * expected_minutes


@dataclass(frozen=True)
class WaitInputs:
    """What the v1 estimator knows about one service."""

    people_ahead: int
    minutes_per_ticket: float
    open_windows: int


def estimate_wait_seconds(inputs: WaitInputs) -> int | None:
    """Estimate v1: people ahead times service time, shared by the open windows serving it.

    None means no open window serves the service now, so no honest estimate exists.
    """
    if inputs.open_windows <= 0:
        return None
    if inputs.people_ahead <= 0:
        return 0
    return round(inputs.people_ahead * inputs.minutes_per_ticket * 60 / inputs.open_windows)
