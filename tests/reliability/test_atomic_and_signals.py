"""Atomic outputs and MLflow run status under faults.

- A stage killed mid-write (SIGKILL) leaves the previous output intact; the next write sweeps the
  dead writer's temp file. SIGTERM/SIGINT mid-write remove the temp file at once and mark the
  MLflow run KILLED. (DVC then sees the old output hash and reruns the stage when its deps changed.)
- `stage_run`: success -> FINISHED, an exception -> FAILED, Ctrl-C and SIGTERM -> KILLED.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from conftest import compose_config
from hawkeye.files import remove_stale_temps, write_jsonl

from .helpers import (
    load_app,
    mlflow_runs,
    plant_previous_outputs,
    snapshot,
    start_driver,
    subprocess_env,
    wait_for,
)

curate_app = load_app("pipelines/curate.py")
OUTPUTS = ["train.jsonl", "val.jsonl", "metrics.json"]


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob(".*.tmp"))


def _run_and_signal(mode: str, marker: str, sig: int, tmp_path: Path, overrides: list[str], uri: str,
                    hydra_dir: str) -> int:
    log = tmp_path / f"{mode}.log"
    proc = start_driver(mode, [*overrides, hydra_dir], subprocess_env(uri), log)
    try:
        wait_for(lambda: marker in log.read_text(errors="replace"), proc, log)
        os.kill(proc.pid, sig)
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
def test_curate_sigkilled_mid_write_keeps_the_previous_output(
    prepared: Path, tmp_path: Path, smoke_overrides: list[str], mlflow_uri: str, hydra_dir: str
) -> None:
    out = tmp_path / "curated"
    before = plant_previous_outputs(out, OUTPUTS)
    rc = _run_and_signal("curate_slow_write", "WRITING", signal.SIGKILL, tmp_path, smoke_overrides, mlflow_uri,
                         hydra_dir)
    assert rc == -signal.SIGKILL
    left = _temps(out)
    assert len(left) == 1 and left[0].startswith(".train.jsonl.")  # the dead writer's partial temp file
    assert {k: v for k, v in snapshot(out).items() if not k.startswith(".")} == before  # old outputs intact

    # The rerun (what `dvc repro` does: the outputs' hashes are unchanged, the deps changed) writes
    # complete outputs and sweeps the dead writer's temp file.
    curate_app.main(compose_config(smoke_overrides))
    assert _temps(out) == []
    assert len((out / "train.jsonl").read_text().splitlines()) == 4  # curate.max_train_rows in smoke


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "marker", "sig"), [
    ("curate_slow_write", "WRITING", signal.SIGTERM),
    ("curate_slow_generate", "GENERATING", signal.SIGINT),
])
def test_curate_interrupted_is_marked_killed_and_leaves_no_temp_file(
    mode: str, marker: str, sig: int, prepared: Path, tmp_path: Path, smoke_overrides: list[str], mlflow_uri: str,
    hydra_dir: str,
) -> None:
    out = tmp_path / "curated"
    before = plant_previous_outputs(out, OUTPUTS)
    rc = _run_and_signal(mode, marker, sig, tmp_path, smoke_overrides, mlflow_uri, hydra_dir)
    assert rc != 0
    assert snapshot(out) == before  # intact, and no temp file left
    (run,) = mlflow_runs(mlflow_uri)
    assert run.info.status == "KILLED"


def test_stale_temp_of_a_dead_writer_is_swept_but_a_live_one_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "rows.jsonl"
    dead = tmp_path / ".rows.jsonl.999999999.abc.tmp"  # no such pid
    live = tmp_path / f".rows.jsonl.{os.getpid()}.def.tmp"
    other = tmp_path / ".other.jsonl.999999999.abc.tmp"
    for p in (dead, live, other):
        p.write_text("partial")
    write_jsonl(target, [{"a": 1}])
    assert not dead.exists() and live.exists() and other.exists()
    assert remove_stale_temps(tmp_path / "other.jsonl") == [other]


# ---- MLflow run status through stage_run ------------------------------------------------------------


@pytest.fixture()
def cfg(mlflow_uri: str):  # noqa: ANN201
    from hawkeye.config import validate

    return validate(compose_config(["experiment=smoke"]))


def _status(uri: str) -> list[str]:
    return [r.info.status for r in mlflow_runs(uri)]


def test_stage_run_finished_failed_killed(cfg, mlflow_uri: str) -> None:  # noqa: ANN001
    from hawkeye.tracking.mlflow_run import stage_run

    with stage_run(cfg, stage="test", run_name="ok") as run:
        ok_id = run.info.run_id
    with pytest.raises(ValueError), stage_run(cfg, stage="test", run_name="raises"):
        raise ValueError("boom")
    with pytest.raises(KeyboardInterrupt), stage_run(cfg, stage="test", run_name="ctrl-c"):
        raise KeyboardInterrupt
    by_name = {r.info.run_name: r.info.status for r in mlflow_runs(mlflow_uri)}
    assert by_name == {"ok": "FINISHED", "raises": "FAILED", "ctrl-c": "KILLED"}

    # Continuing a run keeps its id and does not log its params twice.
    with stage_run(cfg, stage="test", run_name="ignored", run_id=ok_id) as run:
        assert run.info.run_id == ok_id
    assert len(mlflow_runs(mlflow_uri)) == 3


def test_sigterm_through_the_process_handler_marks_the_run_killed(cfg, mlflow_uri: str) -> None:  # noqa: ANN001
    import hawkeye.process
    from hawkeye.tracking.mlflow_run import stage_run

    previous = signal.getsignal(signal.SIGTERM)
    try:
        hawkeye.process.install_sigterm_as_interrupt()
        with pytest.raises(KeyboardInterrupt, match="signal 15"), stage_run(cfg, stage="test", run_name="term"):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler interrupts the sleep at once
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert _status(mlflow_uri) == ["KILLED"]
