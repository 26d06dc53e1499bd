"""Running a pipeline entry point from a test, as a user runs it: a subprocess in its own process group.

On timeout the whole group is killed, not only the entry point: a stage's pool workers (the warm start
fine-tunes A and B in worker processes) outlived a killed stage before, and went on taking the cores of
every test after it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hawkeye.paths import REPO_ROOT


def run_script(script: str | Path, args: list[str], env: dict[str, str], timeout_s: float) -> str:
    """Run `script` (relative to the repository root) with `args`; its stdout. Fails the test naming the
    script, with the output's tail, on a non-zero exit or past `timeout_s`."""
    proc = subprocess.Popen([sys.executable, str(REPO_ROOT / script), *args], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the group: the entry point and every process it started
        out, err = proc.communicate()
        pytest.fail(f"{script} ran past {timeout_s:g} s (its process group was killed):\n{out[-3000:]}\n{err[-3000:]}")
    assert proc.returncode == 0, f"{script} failed:\n{out[-3000:]}\n{err[-5000:]}"
    return out
