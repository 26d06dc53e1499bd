"""Two processes on CPU (gloo): DDP and FSDP2 through the real `src/train.py`, on tiny models.

Each run goes through `tests/distributed/probe_train.py`, which records what every rank did (see its
docstring): EM is 1 on rank 0's samples and 0 on rank 1's, so a logged EM of 0.5 is the mean over both
ranks' rollouts, and 1.0 would be rank 0's alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hawkeye.files import write_jsonl
from hawkeye.paths import REPO_ROOT
from hawkeye.tracking.names import train_metric

PROBE = REPO_ROOT / "tests" / "distributed" / "probe_train.py"


def _curated(tmp_path: Path, n: int = 8) -> None:
    rows = [
        {"id": f"q{i}", "source": "test", "question": f"Question {i}: Tom has {i} apples and buys {i + 2} more?",
         "answer": str(2 * i + 2), "reference_cot": "", "cot_orig": "", "cot_orig_tokens": 20 + i,
         "orig_correct": True, "cot_refined": "", "cot_refined_tokens": 5, "refine_rejected": False, "flags": []}
        for i in range(n)
    ]
    write_jsonl(tmp_path / "curated" / "train.jsonl", rows)


def _run_two_ranks(tmp_path: Path, smoke_overrides: list[str], mlflow_uri: str, strategy: str) -> list[list[dict]]:
    _curated(tmp_path)
    probe_dir = tmp_path / "probe"
    probe_dir.mkdir()
    env = {**os.environ, "HAWKEYE_PROBE_DIR": str(probe_dir), "MLFLOW_TRACKING_URI": mlflow_uri,
           "PYTHONPATH": f"{REPO_ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK", "MASTER_PORT"):  # a fresh launch, whatever ran before
        env.pop(key, None)
    # Exactly the documented command, plus where to write and 2 steps.
    cmd = [sys.executable, str(PROBE), *smoke_overrides, f"trainer={strategy}", "trainer.accelerator=cpu",
           "trainer.devices=2", "grpo.max_steps=2", "tracking.log_samples=64"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-6000:]
    ranks = [[json.loads(line) for line in (probe_dir / f"rank{r}.jsonl").read_text().splitlines()] for r in (0, 1)]
    assert [r["step"] for r in ranks[0]] == [r["step"] for r in ranks[1]] == [0, 1]
    return ranks


def _check_ranks_and_the_one_run(ranks: list[list[dict]], tmp_path: Path, mlflow_uri: str) -> None:
    from mlflow.tracking import MlflowClient

    for a, b in zip(*ranks, strict=True):
        assert a["world"] == b["world"] == 2
        assert a["questions"] and set(a["questions"]).isdisjoint(b["questions"])  # distinct shares
        assert a["weights"] == b["weights"]  # the same policy on both ranks after the step
        assert a["metrics"]["em"] == b["metrics"]["em"] == pytest.approx(0.5)  # mean over both ranks
        both = a["cot_tokens"] + b["cot_tokens"]
        assert a["metrics"]["cot_tokens_mean"] == pytest.approx(sum(both) / len(both))
    assert ranks[0][0]["weights"] != ranks[0][1]["weights"]  # the policy really changed between steps

    # This test's own store, named explicitly: an earlier test in this process may have set mlflow's
    # global tracking URI, which would win over $MLFLOW_TRACKING_URI.
    client = MlflowClient(tracking_uri=mlflow_uri)
    (run,) = client.search_runs([client.get_experiment_by_name("hawkeye-smoke").experiment_id])
    assert run.info.status == "FINISHED"
    history = {k: sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, train_metric(k)))
               for k in ("em", "cot_tokens_mean")}
    assert history["em"] == [(0, 0.5), (1, 0.5)]
    assert [v for _, v in history["cot_tokens_mean"]] == pytest.approx(
        [r["metrics"]["cot_tokens_mean"] for r in ranks[0]])
    assert (tmp_path / "train" / "final" / "model.safetensors").is_file()
    assert (tmp_path / "train" / "checkpoints" / "last.ckpt").exists()


@pytest.mark.slow
def test_ddp_two_processes_share_questions_sync_weights_and_log_one_run(
    tmp_path: Path, smoke_overrides: list[str], mlflow_uri: str
) -> None:
    ranks = _run_two_ranks(tmp_path, smoke_overrides, mlflow_uri, "ddp")
    _check_ranks_and_the_one_run(ranks, tmp_path, mlflow_uri)
    # trainer=ddp brings the GPU precision: bf16 autocast over fp32 master weights
    assert {(r["precision"], tuple(r["param_dtypes"]), r["sharded"]) for rank in ranks for r in rank} == {
        ("bf16-mixed", ("torch.float32",), False)}


@pytest.mark.slow
def test_fsdp2_two_processes_train_sharded_fp32_master_weights(
    tmp_path: Path, smoke_overrides: list[str], mlflow_uri: str
) -> None:
    ranks = _run_two_ranks(tmp_path, smoke_overrides, mlflow_uri, "fsdp")
    _check_ranks_and_the_one_run(ranks, tmp_path, mlflow_uri)
    # sharded by FSDP2, with fp32 shards (the master weights) and bf16 compute
    assert {(r["precision"], tuple(r["param_dtypes"]), r["sharded"]) for rank in ranks for r in rank} == {
        ("bf16-mixed", ("torch.float32",), True)}
    from hawkeye.models.load import load_causal_lm

    final = load_causal_lm(str(tmp_path / "train" / "final"))  # the gathered full weights, as an HF folder
    assert sum(p.numel() for p in final.parameters()) > 0
