"""The whole chain at smoke scale, as DVC runs it: every stage logs its MLflow run, training learns
something (non-zero advantages, weights that move), and a second run with the same seed reproduces
the curated data byte for byte and the training metrics and final weights to 1e-6."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from mlflow import MlflowClient
from safetensors.torch import load_file

from hawkeye.files import sha256_file
from hawkeye.models.load import resolve_model_path
from hawkeye.tracking.names import train_metric
from stages import run_script

pytestmark = pytest.mark.slow


def run_stage(script: str, overrides: list[str], env: dict[str, str]) -> None:
    run_script(script, overrides, env, timeout_s=600)


def chain(root: Path, models_dir: Path, env: dict[str, str], stages: list[str]) -> list[str]:
    overrides = [
        "experiment=smoke",
        f"paths.models_dir={models_dir}",
        f"paths.prepared_dir={root / 'prepared'}",
        f"paths.curated_dir={root / 'curated'}",
        f"paths.train_dir={root / 'train'}",
        f"paths.eval_dir={root / 'eval'}",
        f"paths.reports_dir={root / 'reports'}",
        f"hydra.run.dir={root / 'hydra'}",
        "eval.latency=false",       # the vLLM server lifecycle has its own test
    ]
    scripts = {"prepare": "pipelines/prepare.py", "curate": "pipelines/curate.py", "train": "src/train.py",
               "evaluate": "pipelines/evaluate.py", "report": "pipelines/report.py"}
    for stage in stages:
        run_stage(scripts[stage], overrides, env)
    return overrides


def test_smoke_chain_logs_every_stage_and_reproduces(tmp_path: Path, tiny_models_dir: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "OMP_NUM_THREADS": "1"}
    # Both chains run in the same folder, then move aside: a reproduction is run where the first ran
    # (a clone's folder), and the paths the configs record are the same.
    work, a, b = tmp_path / "work", tmp_path / "a", tmp_path / "b"
    chain(work, tiny_models_dir, env, ["prepare", "curate", "train", "evaluate", "report"])
    work.rename(a)

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("hawkeye-smoke")
    # The MLflow UI opens this experiment on its runs (not the GenAI traces view).
    assert exp.tags.get("mlflow.experimentKind") == "custom_model_development"
    runs = client.search_runs([exp.experiment_id])
    by_stage: dict[str, list] = {}
    for r in runs:
        by_stage.setdefault(r.data.tags["stage"], []).append(r)
    for stage in ("prepare", "curate", "train", "evaluate", "report"):
        assert stage in by_stage, f"no MLflow run for stage {stage}"
        for r in by_stage[stage]:
            assert r.info.status == "FINISHED"
            assert r.data.metrics, f"stage {stage} logged no metrics"
            for tag in ("git_sha", "dvc_stage", "sweep_id", "data_hash"):
                assert tag in r.data.tags
    train = by_stage["train"][0]
    assert {"train/cot_tokens_mean", "train/em", "train/reward_mean"} <= set(train.data.metrics)
    assert all(k.startswith(("train/", "train_diag/")) for k in train.data.metrics), sorted(train.data.metrics)
    # It learned something: the curated CoTs vary, some rollout groups had a reward spread, and the
    # policy's weights moved away from the tiny model it started from.
    curated = [json.loads(line) for line in (a / "curated" / "train.jsonl").read_text().splitlines()]
    assert len({r["cot_orig"] for r in curated}) > 1 and any("truncated" not in r["flags"] for r in curated)
    advantages = [m.value for m in client.get_metric_history(train.info.run_id, train_metric("advantage_abs_mean"))]
    assert len(advantages) == 3 and max(advantages) > 0
    start = load_file(Path(resolve_model_path("tiny:qwen2?seed=0", str(tiny_models_dir))) / "model.safetensors")
    final_a = load_file(a / "train" / "final" / "model.safetensors")
    assert start.keys() == final_a.keys()
    assert max(float((final_a[k] - start[k]).abs().max()) for k in start) > 1e-4
    assert any(k.startswith("eval/") for r in by_stage["evaluate"] for k in r.data.metrics)
    for fig in ("summary.md", "pareto.png", "collapse.png"):
        assert (a / "reports" / fig).stat().st_size > 0

    # Reproducibility: same seed -> identical curated data and the same training metrics. The second
    # chain logs to a store of its own, as a fresh clone does (the report reads every run in its store).
    env_b = {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow_b.db'}"}
    chain(work, tiny_models_dir, env_b, ["prepare", "curate", "train", "evaluate", "report"])
    work.rename(b)
    # Every output meant to be deterministic is the same byte for byte: no wall time, no absolute path,
    # no run id. What may differ is named: logs, resume state and the MLflow id (with the checkpoints),
    # and the latency outputs (timings).
    volatile = ("checkpoints", "latency.json", "latency.md", "server_logs", "train.log", "timings.json")
    outputs = sorted(f.relative_to(a) for d in ("prepared", "curated", "train", "eval", "reports")
                     for f in (a / d).rglob("*") if f.is_file() and not set(f.relative_to(a).parts) & set(volatile))
    assert len(outputs) > 10 and Path("train/config.json") in outputs and Path("reports/summary.md") in outputs
    differ = [str(f) for f in outputs if (a / f).read_bytes() != (b / f).read_bytes()]
    assert not differ, f"outputs that a reproduction does not write the same: {differ}"
    assert sha256_file(a / "curated" / "train.jsonl") == sha256_file(b / "curated" / "train.jsonl")
    assert sorted(f.name for f in (a / "curated").glob("*.jsonl")) == ["train.jsonl"]  # smoke: no validation split
    ma = json.loads((a / "train" / "metrics.json").read_text())
    mb = json.loads((b / "train" / "metrics.json").read_text())
    for key, value in ma["final"].items():
        if key.endswith("time_s"):
            continue
        assert mb["final"][key] == pytest.approx(value, abs=1e-6, nan_ok=True), key  # NaN: no ground truth
    assert (a / "train" / "collapse_curve.tsv").read_text() == (b / "train" / "collapse_curve.tsv").read_text()
    final_b = load_file(b / "train" / "final" / "model.safetensors")
    assert all(torch.allclose(final_a[k], final_b[k], atol=1e-6) for k in final_a)
