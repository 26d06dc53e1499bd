"""`pipelines/regimes.py` end to end on a tiny warm start: every regime built and gated, a regime that
misses its gate reported with its cells not run, every other cell trained over two seeds, every trained
A read through every B, and the table, the grid figure and the MLflow runs written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from mlflow import MlflowClient

from stages import run_script

pytestmark = pytest.mark.slow


def _run(script: str, overrides: list[str], env: dict[str, str]) -> str:
    return run_script(script, overrides, env, timeout_s=900)


@pytest.mark.timeout(1500)
def test_the_map_runs_end_to_end_and_skips_a_regime_that_misses_its_gate(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "OMP_NUM_THREADS": "1"}
    paths = [f"paths.models_dir={tmp_path / 'models'}", f"paths.prepared_dir={tmp_path / 'prepared'}",
             f"hydra.run.dir={tmp_path / 'hydra'}"]
    tiny_data = ["data.train_size=300", "data.val_size=30", "data.test_size=30", "eval.margin=null"]
    _run("pipelines/prepare.py", ["experiment=testbed", *paths, *tiny_data], env)
    # A tiny warm start 1 (what the Quick start's dvc repro writes, at a few steps)
    _run("pipelines/warmstart.py", ["experiment=testbed", *paths, *tiny_data, "warmstart.seeds=[1]",
                                    "warmstart.a.steps=3", "warmstart.b.steps=3", "warmstart.tokenizer_rows=200",
                                    f"paths.warmstart_dir={tmp_path / 'ws'}"], env)
    # Untrained models answer nothing right: every bound is opened, except one the copy regime must miss.
    bounds = {"a.low": ("a_greedy", "a_direct_ops1", "a_skip_ops3"), "a.easy": ("a_greedy", "a_direct_ops1", "a_direct_ops3", "a_skip_ops3"),
              "b.copy": ("direct_boxed", "critical_boxed", "critical_bare"),
              "b.one_op": ("critical_bare", "missing1_bare", "missing2_bare"),
              "b.two_op": ("critical_bare", "missing1_bare", "missing2_bare")}
    open_checks = [f"regimes.{regime}.checks.{m}=[0.0,1.0]" for regime, ms in bounds.items() for m in ms]
    open_checks += [f"~regimes.a.{a}.checks.a_skip_right_ops1" for a in ("low", "easy")]  # no skip: no share of them
    out = _run("pipelines/regimes.py", [
        "experiment=regimes", *paths, *tiny_data, *open_checks, "regimes.b.copy.checks.missing1_bare=[1.0,1.0]",
        "regimes.b_alone_max=1.0", "regimes.finetune.a_steps=2", "regimes.finetune.b_steps=2",
        "regimes.gate_rows=6", "regimes.eval_rows=6", "grpo.max_steps=3", "grpo.group_size=2",
        "curate.max_train_rows=8", "rollout.max_new_tokens=24", "rollout.responder_max_new_tokens=12",
        "regimes.flat_window=1", f"paths.warmstart_dir={tmp_path / 'build'}",
        f"paths.curated_dir={tmp_path / 'curated'}", f"paths.train_dir={tmp_path / 'train'}",
        f"paths.eval_dir={tmp_path / 'eval'}", f"paths.reports_dir={tmp_path / 'reports'}"], env)
    assert "B regime copy: MISSED: missing1_bare=" in out

    reports = tmp_path / "reports"
    doc = json.loads((reports / "regimes.json").read_text())
    assert doc["skipped"] == ["easy__copy", "low__copy"]
    assert {(c["a"], c["b"]) for c in doc["cells"]} == {(a, b) for a in ("low", "easy") for b in ("one_op", "two_op")}
    for c in doc["cells"]:
        for arm in ("with_b", "without_b"):
            assert c[arm]["training"]["runs"] == 2
            assert 0 <= c[arm]["collapse_b"]["low"] <= c[arm]["collapse_b"]["high"] <= 1
        assert c["verdict"] == "cannot tell"  # one warm start: the rule withholds every verdict
    md = (reports / "regimes.md").read_text()
    assert "| low | one_op | with B |" in md and "Cells not run" in md and "`low__copy`" in md
    assert (reports / "regimes.png").stat().st_size > 1000
    scores = json.loads((tmp_path / "eval" / "scores.json").read_text())["1"]
    assert set(scores) == {"base/low", "base/easy", *(f"{a}__{b}/seed{s}" for a in ("low", "easy")
                                                      for b in ("one_op", "two_op", "no_b") for s in (1, 2))}
    assert set(scores["low__no_b/seed1"]["through"]) == {"one_op", "two_op"}  # every passing B reads every A

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("hawkeye-regimes")
    tags = {r.data.tags.get("arm") for r in client.search_runs([exp.experiment_id])}
    assert {"low__one_op", "easy__no_b"} <= tags
