"""The tests' own stage runner (`tests/stages.py`): a stage that runs past its timeout is killed with
every process it started, so no worker of it outlives the test."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from stages import run_script


def test_a_stage_past_its_timeout_is_killed_with_its_workers(tmp_path: Path) -> None:
    pids = tmp_path / "worker.pid"
    script = tmp_path / "stage.py"  # a stage whose worker process never ends, nor does the stage
    script.write_text(f"import subprocess, sys, time\n"
                      f"w = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
                      f"open({str(pids)!r}, 'w').write(str(w.pid))\n"
                      f"time.sleep(300)\n")
    with pytest.raises(pytest.fail.Exception, match="ran past 5 s"):
        run_script(script, [], dict(os.environ), timeout_s=5)
    status = Path(f"/proc/{int(pids.read_text())}/status")
    time.sleep(0.5)
    # Gone with its stage, or dead and waiting to be reaped (a zombie: killed, not running).
    assert not status.exists() or "State:\tZ" in status.read_text()
