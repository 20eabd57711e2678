"""The multi-host test as a pytest test: `pytest cluster/tests` (never
collected by the default suite: `cluster/` is not in pytest.ini's
testpaths). It runs `python -m cluster` in a child process, which builds the
cluster, runs every scenario, writes `cluster/results/latest.md` and stops
everything; `.ci/run` runs `python -m cluster` itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The cluster takes about three minutes to build, run and tear down.
TIMEOUT_S = 480


@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
@pytest.mark.skipif(shutil.which("haproxy") is None, reason="apt-get install haproxy")
def test_every_scenario_passes_on_several_hosts():
    # when
    done = subprocess.run(
        [sys.executable, "-m", "cluster"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )

    # then
    report = ROOT / "cluster" / "results" / "latest.md"
    assert done.returncode == 0, (
        f"python -m cluster exited {done.returncode}; see {report}\n"
        f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
