"""The train stage's runner (`training.arms.run_arms`) stops cleanly: a failed run lets no queued run
start, and a stop (SIGTERM, as a scheduler pre-empts) ends the runs in flight with it.

Before, a SIGTERM left the runner waiting on its pool, which went on starting the queued runs: killing
`make regimes` meant killing every `train.py` it had started, by hand, one after the other."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import CONF_DIR, compose_config
from hawkeye.config import validate
from hawkeye.paths import REPO_ROOT


def test_a_failed_run_lets_no_queued_run_start(tmp_path: Path) -> None:
    from hawkeye.training.arms import ArmError, run_arms

    cfg = validate(compose_config(["experiment=testbed", "arms.seeds=[5,6]", "arms.run=[no_b]", "arms.jobs=1",
                                   f"paths.train_dir={tmp_path}", f"paths.curated_dir={tmp_path / 'none'}"]))
    with pytest.raises(ArmError, match="arm no_b seed 5 failed"):
        run_arms(cfg)
    assert (tmp_path / "no_b" / "seed5" / "train.log").exists()
    assert not (tmp_path / "no_b" / "seed6").exists()  # queued behind the failure: never started


# Runs `run_arms` with every run replaced by a sleeper that records its pid, as an entry point does
# (SIGTERM read as Ctrl-C).
RUNNER = textwrap.dedent("""
    import sys
    from hydra import compose, initialize_config_dir
    from hawkeye.config import validate
    from hawkeye.process import install_sigterm_as_interrupt
    from hawkeye.training import arms

    conf_dir, train_dir, marks = sys.argv[1:4]
    sleeper = f"import os, time; open({marks!r}, 'a').write(f'{{os.getpid()}}\\\\n'); time.sleep(300)"
    arms.train_command = lambda config_dir, overrides: [sys.executable, "-c", sleeper]
    install_sigterm_as_interrupt()
    with initialize_config_dir(config_dir=conf_dir, version_base="1.3"):
        cfg = validate(compose(config_name="config", overrides=[
            "experiment=testbed", "arms.seeds=[1,2,3]", "arms.run=[no_b]", "arms.jobs=1",
            f"paths.train_dir={train_dir}"]))
    arms.run_arms(cfg)
""")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigterm_ends_the_runs_in_flight_and_starts_no_other(tmp_path: Path) -> None:
    marks = tmp_path / "started.txt"
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, str(CONF_DIR), str(tmp_path / "train"), str(marks)],
                            cwd=REPO_ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (marks.exists() and marks.read_text().strip()):
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "the first run never started"
            time.sleep(0.2)
        first = int(marks.read_text().split()[0])
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)  # the runner stops: it does not wait on its queue
        assert proc.returncode != 0, out
        time.sleep(1)
        assert not _alive(first), "the run in flight outlived the runner"
        assert marks.read_text().split() == [str(first)], "a queued run started after the stop"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in (marks.read_text().split() if marks.exists() else []):
            if _alive(int(pid)):
                os.kill(int(pid), signal.SIGKILL)
