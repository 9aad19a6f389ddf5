"""The quality bar: ruff and mypy (configured in pyproject.toml) pass on the tree.

Marked `quality`: `pytest -m quality` runs just these. They run in the whole suite and in the fast
tier (`bash scripts/test.sh --fast`). Each tool runs from the interpreter running the tests (the
venv), so the versions are the ones setup.cfg's test extras install.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.quality


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=240)


def test_ruff_check_passes() -> None:
    out = _run("ruff", "check", ".", "--no-fix", "--output-format", "concise")
    if out.returncode != 0:
        pytest.fail(f"ruff check . found problems:\n{out.stdout}{out.stderr}", pytrace=False)


def test_mypy_passes() -> None:
    out = _run("mypy")  # the packages and per-module strictness are in [tool.mypy]
    if out.returncode != 0:
        pytest.fail(f"mypy found problems:\n{out.stdout}{out.stderr}", pytrace=False)
