"""A training run SIGKILLed after a checkpoint, then resumed with `resume=true`, ends exactly where an
uninterrupted run with the same seed ends, in the same MLflow run, with every step logged once.

Both runs are real `python src/train.py experiment=smoke ...` processes (started through driver.py,
with real CoT token counts: the tiny models' CoTs vary in length, so the advantages are not 0).
"""

from __future__ import annotations

import csv
import json
import signal
from pathlib import Path

import pytest
import torch

from hawkeye.tracking.names import train_metric

from .helpers import curated_row, kill_at_a_checkpoint, mlflow_runs, start_driver, subprocess_env, write_lines

STEPS = 6


def _overrides(tmp_path: Path, models_dir: Path, train_dir: Path) -> list[str]:
    return ["experiment=smoke", f"paths.models_dir={models_dir}", f"paths.curated_dir={tmp_path / 'curated'}",
            f"paths.train_dir={train_dir}", f"grpo.max_steps={STEPS}", "trainer.checkpoint_every_n_steps=2",
            "grpo.group_size=3", f"hydra.run.dir={train_dir.parent / ('hydra-' + train_dir.name)}"]


def _curve(train_dir: Path) -> list[dict[str, float]]:
    with (train_dir / "collapse_curve.tsv").open() as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh, delimiter="\t")]


def _metrics(train_dir: Path) -> dict:
    """metrics.json without wall-clock timings (the only fields that legitimately differ)."""
    doc = json.loads((train_dir / "metrics.json").read_text())
    for key in ("first", "final"):
        doc[key] = {k: v for k, v in doc[key].items() if not k.endswith("_time_s")}
    return doc


@pytest.mark.slow
def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path: Path, tiny_models_dir: Path) -> None:
    write_lines(tmp_path / "curated" / "train.jsonl", [curated_row(i) for i in range(6)])
    full_dir, killed_dir = tmp_path / "full", tmp_path / "killed"
    full_uri, killed_uri = f"sqlite:///{tmp_path / 'full.db'}", f"sqlite:///{tmp_path / 'killed.db'}"

    # The uninterrupted reference and the run to be killed, side by side.
    full = start_driver("train", _overrides(tmp_path, tiny_models_dir, full_dir), subprocess_env(full_uri),
                        tmp_path / "full.log")
    killed = start_driver("train", _overrides(tmp_path, tiny_models_dir, killed_dir),
                          subprocess_env(killed_uri), tmp_path / "killed.log")
    try:
        killed_at = kill_at_a_checkpoint(killed, killed_dir / "checkpoints" / "last.ckpt", tmp_path / "killed.log")
        assert killed_at < STEPS, "the run finished before it could be killed"
        assert killed.returncode == -signal.SIGKILL
        assert killed_at in (2, 4)
        (run,) = mlflow_runs(killed_uri)
        assert run.info.status == "RUNNING"  # a SIGKILLed process cannot end its run

        resumed = start_driver("train", [*_overrides(tmp_path, tiny_models_dir, killed_dir), "resume=true"],
                               subprocess_env(killed_uri), tmp_path / "resumed.log")
        assert resumed.wait(timeout=400) == 0, (tmp_path / "resumed.log").read_text()[-3000:]
        assert full.wait(timeout=400) == 0, (tmp_path / "full.log").read_text()[-3000:]
    finally:
        for p in (full, killed):
            if p.poll() is None:
                p.kill()

    # The same numbers as the uninterrupted run (to 1e-6), step by step.
    curve_full, curve_killed = _curve(full_dir), _curve(killed_dir)
    assert [r["step"] for r in curve_killed] == list(range(STEPS))
    for a, b in zip(curve_full, curve_killed, strict=True):
        assert b == pytest.approx(a, abs=1e-6, nan_ok=True)  # NaN: no ground truth, collapse not judged
    m_full, m_killed = _metrics(full_dir), _metrics(killed_dir)
    assert m_killed["steps"] == STEPS
    for key in ("first", "final"):
        assert m_killed[key] == pytest.approx(m_full[key], abs=1e-6, nan_ok=True), key
    assert m_killed["target_cot_tokens"] == pytest.approx(m_full["target_cot_tokens"])
    w_full = torch.load(full_dir / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    w_killed = torch.load(killed_dir / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    assert all(torch.allclose(w_full[k], w_killed[k], atol=1e-6) for k in w_full)
    assert any(r["reward_mean"] != curve_full[0]["reward_mean"] for r in curve_full)  # not a trivial run

    # One train run, continued (same run id), finished, and each step logged exactly once.
    from mlflow.tracking import MlflowClient

    (run,) = mlflow_runs(killed_uri)
    assert run.info.status == "FINISHED"
    client = MlflowClient(tracking_uri=killed_uri)
    for key in map(train_metric, ("reward_mean", "loss", "cot_tokens_mean", "em")):
        steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, key))
        assert steps == list(range(STEPS)), (key, steps)
        full_run = mlflow_runs(full_uri)[0]
        h_full = sorted((m.step, m.value) for m in MlflowClient(tracking_uri=full_uri).get_metric_history(
            full_run.info.run_id, key))
        h_killed = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, key))
        assert [v for _, v in h_killed] == pytest.approx([v for _, v in h_full], abs=1e-6), key
