"""scripts/setup.sh on a machine that has everything: the second run installs nothing.

The first run may install what is missing (for real). The second runs with a PATH whose first
folder holds stand-ins for apt-get and npm (they record that they were called), with PIP_LOG set
(every pip command appends to that log), and with an fc-list that prints the machine's real font
list followed by more than a pipe's buffer of other fonts: a check written `fc-list | grep -q`
then fails under `set -o pipefail` every time (fc-list dies of SIGPIPE when grep stops early),
as it did on machines with many fonts.
"""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.slow  # two runs of the setup script; the first may install

RECORDER = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
exit 0
"""
BIG_FC_LIST = """#!/bin/sh
"{real}" "$@"
i=0
while [ $i -lt 3000 ]; do
  echo "/usr/share/fonts/truetype/padding/Padding$i.ttf: Padding Sans $i:style=Regular"
  i=$((i + 1))
done
"""


def _script(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def _dist_info() -> list[tuple[str, int, int]]:
    """The project's installed metadata: pip install -e recreates it on every run."""
    found = sorted((ROOT / ".venv" / "lib").glob("python*/site-packages/hall_queue-*.dist-info"))
    return [(str(p), p.stat().st_ino, p.stat().st_mtime_ns) for p in found]


def test_second_run_installs_nothing(tmp_path):
    first = subprocess.run(["bash", "scripts/setup.sh"], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert first.returncode == 0, first.stdout + first.stderr
    assert _dist_info(), "the first run leaves the project installed in .venv"

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.log"
    for name in ("apt-get", "apt", "npm", "pip", "pip3"):
        _script(bin_dir / name, RECORDER.format(log=calls))
    real_fc_list = shutil.which("fc-list")
    if real_fc_list:
        _script(bin_dir / "fc-list", BIG_FC_LIST.format(real=real_fc_list))
    pip_log = tmp_path / "pip.log"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "PIP_LOG": str(pip_log)}
    # the stand-ins are what the script finds
    found = subprocess.run(["bash", "-c", "command -v apt-get npm"], env=env, capture_output=True, text=True)
    assert found.stdout.split() == [str(bin_dir / "apt-get"), str(bin_dir / "npm")]

    before = _dist_info()
    second = subprocess.run(["bash", "scripts/setup.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr
    assert not calls.exists(), f"the second run called: {calls.read_text()}"
    assert not pip_log.exists(), "the second run ran pip"
    assert _dist_info() == before, "the second run reinstalled the project"
    assert second.stdout == "setup: ready\n"
    assert second.stderr == ""  # no "missing system packages" warning either
