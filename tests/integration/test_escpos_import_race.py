"""python-escpos writes its capabilities pickle in place on first import; processes starting together
on a fresh machine (server workers, a server and its print agent) must not read it half written."""
from __future__ import annotations

import os
import subprocess
import sys

from tests.support import ROOT


def test_processes_importing_the_printer_backends_together_all_start(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}  # a fresh ~/.cache: no pickle yet
    env.pop("ESCPOS_CAPABILITIES_PICKLE_DIR", None)
    procs = [subprocess.Popen([sys.executable, "-c", "import printer.backends"], env=env, cwd=str(ROOT),
                              stderr=subprocess.PIPE, text=True) for _ in range(8)]
    failed = [err[-300:] for p in procs for err in [p.communicate(timeout=120)[1]] if p.returncode != 0]
    assert not failed, failed  # before the import lock: 7 of 8 died with EOFError in escpos.capabilities
    assert (tmp_path / ".cache" / "hall-escpos" / f"{sys.version.split()[0]}.capabilities.pickle").stat().st_size > 0
