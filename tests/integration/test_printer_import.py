"""Importing the printer backends in a fresh process: python-escpos' side effects are contained."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_backends_leaves_logging_and_tmp_alone(tmp_path: Path) -> None:
    """python-escpos' import neither configures the root logger nor litters the temp folder."""
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "ESCPOS_CAPABILITIES_PICKLE_DIR"}
    env.update(HOME=str(home), TMPDIR=str(tmp), PYTHONPATH=str(ROOT))
    code = (
        "import logging, printer.backends as b\n"
        "assert not logging.getLogger().handlers, logging.getLogger().handlers\n"
        "print(b.ESCPOS_CACHE_DIR)\n"
    )
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()
    cache = home / ".cache" / "hall-escpos"
    assert out == str(cache)
    # the pickle, and the lock that lets one process at a time import escpos (printer/backends.py)
    assert [p.name for p in cache.iterdir()] and all(p.suffix == ".pickle" or p.name == "import.lock"
                                                     for p in cache.iterdir())
    assert list(tmp.iterdir()) == []
