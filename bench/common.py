"""Shared bits of the benchmarks: percentiles, a server to measure, its peak memory."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support import LiveServer, launch  # noqa: E402


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of the values."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def summary(label: str, ms: list[float]) -> str:
    return (f"{label}: n={len(ms)} p50={pct(ms, 50):.1f} ms p90={pct(ms, 90):.1f} ms "
            f"p99={pct(ms, 99):.1f} ms max={max(ms):.1f} ms")


def start_server(async_mode: str = "gevent", database_url: str | None = None,
                 env: dict[str, str] | None = None) -> LiveServer:
    """A fresh server (production default: gevent) on a temporary SQLite file or the given database."""
    tmp = Path(tempfile.mkdtemp(prefix="hall-bench-"))
    return launch(tmp, database_url=database_url, async_mode=async_mode, env=env)


def peak_rss_mib(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process, in MiB, from /proc."""
    cur = peak = 0.0
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return cur, peak


def pg_url() -> str | None:
    return os.environ.get("HALL_TEST_PG_URL")
