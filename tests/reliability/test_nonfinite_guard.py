"""A NaN/Inf reward or loss stops training with the step number, before the bad update reaches the
weights; the last checkpoint (the last good state) and the per-step files up to it are kept."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch

from conftest import compose_config

from .helpers import curated_row, load_app, mlflow_runs, write_lines

train_app = load_app("src/train.py")


def _train_and_expect_stop(tmp_path: Path, overrides: list[str], match: str) -> None:
    from hawkeye.training.module import NonFiniteError

    write_lines(tmp_path / "curated" / "train.jsonl", [curated_row(i) for i in range(6)])
    with pytest.raises(NonFiniteError, match=match):
        train_app.main(compose_config([*overrides, "grpo.max_steps=4"]))


def _assert_last_good_state_kept(tmp_path: Path, uri: str, bad_step: int) -> None:
    train = tmp_path / "train"
    ckpt = torch.load(train / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == bad_step  # written after step bad_step-1, the last good one
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values())
    summary = json.loads((train / "metrics.json").read_text())
    assert summary["steps"] == bad_step and summary["final"]["step"] == bad_step - 1
    # every figure of the last good step is finite, but those that need ground truth these rows lack (NaN by design)
    needs_ground_truth = {"collapsed_share", "critical_tokens_mean"}
    assert all(math.isfinite(v) for k, v in summary["final"].items() if k not in needs_ground_truth)
    assert not (train / "final").exists()  # no "trained" model from a diverged run
    (run,) = mlflow_runs(uri)
    assert run.info.status == "FAILED"


def test_nan_reward_stops_at_its_step(
    tmp_path: Path, smoke_overrides: list[str], mlflow_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hawkeye.training.module as module
    from hawkeye.reward.reward import compute_reward

    calls = {"n": 0}

    def nan_from_step_2(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls["n"] += 1
        r = compute_reward(*args, **kwargs)
        # smoke: N=2 questions x G=2 CoTs = 4 rewards per step; step 2 starts at call 9
        return dataclasses.replace(r, reward=float("nan")) if calls["n"] == 10 else r

    monkeypatch.setattr(module, "compute_reward", nan_from_step_2)
    _train_and_expect_stop(tmp_path, smoke_overrides, r"step 2: non-finite reward_mean=nan")
    _assert_last_good_state_kept(tmp_path, mlflow_uri, bad_step=2)


def test_inf_loss_stops_at_its_step(
    tmp_path: Path, smoke_overrides: list[str], mlflow_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hawkeye.training.module as module
    from hawkeye.training.loss import grpo_loss

    calls = {"n": 0}

    def inf_at_step_1(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls["n"] += 1  # one call per step (micro_batch_size=0: the whole step at once)
        out = grpo_loss(*args, **kwargs)
        return dataclasses.replace(out, loss=out.loss * float("inf")) if calls["n"] == 2 else out

    monkeypatch.setattr(module, "grpo_loss", inf_at_step_1)
    _train_and_expect_stop(tmp_path, smoke_overrides, r"step 1: non-finite loss=(-?inf|nan)")
    _assert_last_good_state_kept(tmp_path, mlflow_uri, bad_step=1)
