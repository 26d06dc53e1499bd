"""The `warmstart` stage: tokenizer, Model A and Model B of the testbed trained from scratch, then the gate.

One warm start per replicate (`warmstart.seeds`, `hawkeye.replicates`): each draws its own tokenizer
sample, A and B with their own initialisation and data order. Every model trains in a process of its
own on one core, two at a time (they are independent until the gate); each pair is written as standard
HF folders (safetensors, tokenizer, chat template) at its replicate's `policy.name_or_path` and
`responder.name_or_path`, and the gate measures every pair on the validation split (`data.val_split`):
the test split is touched only by the final evaluation.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hawkeye.errors import ConfigError, DataError
from hawkeye.files import read_jsonl, write_json
from hawkeye.generation import make_backend
from hawkeye.paths import resolve
from hawkeye.prompts import DIRECT_INSTRUCTION, REASONING_INSTRUCTION, RESPONDER_INSTRUCTION
from hawkeye.replicates import label, replicates, sft_seed, warm_starts
from hawkeye.responder.reads import ANSWER_PLACEHOLDER
from hawkeye.tracking import names
from hawkeye.training.arms import arm_config, reading_rules, trains_with_b
from hawkeye.warmstart import examples, gate, sft
from hawkeye.warmstart.tokenizer import train_tokenizer

GATE = "gate.json"  # the gate of every warm start, in the experiment's `paths.warmstart_dir`


def load_split(cfg: Any, split: str) -> list[dict[str, Any]]:
    """A prepared testbed split; rows must carry their labelled `segments`."""
    from hawkeye.data.schema import validate_rows

    path = resolve(cfg.paths.prepared_dir) / f"{split}.jsonl"
    rows = [dict(r) for r in validate_rows(read_jsonl(path), path)]
    for i, r in enumerate(rows, start=1):
        if "segments" not in r:
            raise DataError(f"{path}:{i}: the warm start needs testbed rows with 'segments' (data=testbed)")
    return rows


def output_dirs(cfg: Any) -> dict[str, Path]:
    return {"a": resolve(cfg.policy.name_or_path), "b": resolve(cfg.responder.name_or_path)}


def warmstart_dir(cfg: Any) -> Path:
    """`paths.warmstart_dir`, resolved: a replicate's holds its resume checkpoints, the whole
    experiment's the gate's results (`gate_path`)."""
    return resolve(cfg.paths.warmstart_dir)


def tokenizer_corpus(rows: list[dict[str, Any]]) -> list[str]:
    """The task's text plus every prompt the pipeline renders, so nothing encodes into stray bytes."""
    texts = [f"{r['question']} {examples.a_target(r)}" for r in rows]
    return texts + [REASONING_INSTRUCTION, DIRECT_INSTRUCTION, RESPONDER_INSTRUCTION, ANSWER_PLACEHOLDER,
                    "Question: Reasoning: user assistant"]


def _train_role(role: str, ws: int | None, cfg_dict: dict[str, Any], rows: list[dict[str, Any]], tok_dir: str,
                out_dir: str) -> list[float]:
    """One model, in its own process on one core (top level: spawn pickles it by name)."""
    import torch

    from hawkeye.models.load import load_tokenizer
    from hawkeye.training.fit import save_policy

    cfg = OmegaConf.create(cfg_dict)
    torch.set_num_threads(int(cfg.warmstart[role].threads))
    # force: a pool process trains several models in turn, each labelled with its own warm start and role
    logging.basicConfig(level=logging.INFO, format=f"[warmstart {label(ws)} {role}] %(message)s", force=True)
    w = cfg.warmstart
    tok = load_tokenizer(tok_dir)
    tok.padding_side = "right"  # training batches pad on the right
    seed = sft_seed(int(cfg.seed), ws, role)
    model = sft.build_model(w[role], tok, seed)
    direct, views = float(w.direct_fraction), {k: float(v) for k, v in w.b_views.items()}

    def make(rng: random.Random) -> examples.Example:
        row = rng.choice(rows)
        return examples.a_example(row, tok, rng, direct) if role == "a" else examples.b_example(row, tok, rng, views)
    losses = sft.train(model, tok, make, w[role], seed, warmstart_dir(cfg) / "checkpoints" / role,
                       int(w.checkpoint_every_n_steps))
    tok.padding_side = "left"
    save_policy(model, tok, Path(out_dir))
    return losses


def train_models(cfg: DictConfig, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Every replicate's tokenizer, then every A and B, two processes at a time; a replicate's folders
    replace the old ones only when all models are done."""
    w = cfg.warmstart
    models_dir = resolve(cfg.paths.models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".warmstart.", dir=models_dir))
    try:
        jobs = []
        for ws, rcfg in replicates(cfg):
            sample = random.Random(sft_seed(int(cfg.seed), ws, "tokenizer")).sample(rows, min(len(rows), int(w.tokenizer_rows)))
            tok_dir = tmp / label(ws) / "tokenizer"
            train_tokenizer(tokenizer_corpus(sample), int(w.vocab_size), tok_dir)
            cfg_dict = OmegaConf.to_container(rcfg, resolve=True)
            jobs += [(ws, role, cfg_dict, tok_dir, output_dirs(rcfg)[role]) for role in ("b", "a")]  # B is longer
        start = time.perf_counter()
        with ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn")) as pool:
            futures = {(ws, role): pool.submit(_train_role, role, ws, d, rows, str(tok), str(tok.parent / role))
                       for ws, role, d, tok, _ in jobs}
            losses = {key: f.result() for key, f in futures.items()}
        for _ws, role, _, tok, out in jobs:
            if out.exists():
                shutil.rmtree(out)
            out.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tok.parent / role, out)
        return {"losses": losses, "train_time_s": time.perf_counter() - start}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_gate(cfg: DictConfig, val_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The gate's metrics, their per-operation breakdown and its checks, on the validation rows."""
    n = int(cfg.warmstart.gate.max_rows)
    rows = val_rows[:n] if n else val_rows
    # The rollouts' backend (rollout.backend): HF for the testbed's tiny models; vLLM for real weights,
    # where HF's padded batches of ~150-token CoTs cost several times vLLM's continuous batching.
    backends = {role: make_backend(node, cfg.rollout, cfg.paths.models_dir, int(cfg.seed))
                for role, node in (("a", cfg.policy), ("b", cfg.responder))}
    rules = reading_rules(cfg)
    try:
        per_row = gate.measure(backends["a"], backends["b"], rows, cfg, rules)
    finally:
        for backend in backends.values():
            backend.close()
    metrics, by_ops = gate.summarize(per_row, rows)
    arms = {}
    for arm in cfg.arms.run:
        c = arm_config(cfg, arm)
        arms[arm] = {"lambda": float(c["lambda"]), "alpha": float(c.alpha),
                     "rule": str(c.reward.answer_leak) if trains_with_b(c) else None}
    return {"rows": len(rows), "rules": rules, "gate": metrics, "by_ops": by_ops,
            "settings_rule": gate.rule_settings(per_row, float(cfg.warmstart.gate.short_alpha)),
            "landscape": {"arms": arms, "reward": gate.landscape(per_row, rows, arms)},
            "checks": gate.checks(metrics, cfg.warmstart.gate, rules)}


def run(cfg: DictConfig) -> dict[str, Any]:
    """Train every replicate's tokenizer, A and B; log the loss curves to the active MLflow run."""
    import mlflow

    if not warm_starts(cfg)[0]:
        raise ConfigError("config key 'warmstart.seeds' is empty: the warm start needs at least one seed")
    trained = train_models(cfg, load_split(cfg, cfg.data.train_split))
    for (ws, role), losses in trained["losses"].items():
        for step in range(0, len(losses), 10):  # every 10th step: enough for the curve
            mlflow.log_metric(names.metric_name(names.WARMSTART, label(ws), f"{role}_loss"), losses[step], step=step)
    params = {role: sum(p.numel() for p in _params(replicates(cfg)[0][1], role)) for role in ("a", "b")}
    mlflow.log_metrics({names.metric_name(names.WARMSTART, "train_time_s"): trained["train_time_s"],
                        **{names.metric_name(names.WARMSTART, f"{role}_params"): float(n) for role, n in params.items()}})
    return {"train_time_s": trained["train_time_s"], "params": params, "warm_starts": warm_starts(cfg)}


def gate_one(cfg: DictConfig, val_rows: list[dict[str, Any]]) -> tuple[dict[str, Any], list[Any]]:
    """One replicate's gate summary (for gate.json) and its checks."""
    measured = run_gate(cfg, val_rows)
    results = measured.pop("checks")
    summary = {
        **measured,
        "checks": {c.metric: {"value": c.value, "threshold": c.threshold, "kind": c.kind, "passed": c.passed}
                   for c in results},
        "passed": all(c.passed for c in results),
        "params": {role: sum(p.numel() for p in _params(cfg, role)) for role in ("a", "b")},
    }
    return summary, results


def gate_stage(cfg: DictConfig) -> dict[str, Any]:
    """Measure the gate of every warm start on the validation split, write `<warmstart_dir>/gate.json`
    ({"warm_starts": {ws<k>: summary}}), log it to the active MLflow run; raise GateError naming the warm
    start and the metric on a miss (unless `warmstart.gate.enforce=false`)."""
    import mlflow

    if not cfg.data.get("val_split"):
        raise ConfigError("config key 'data.val_split' is null: the gate runs on a validation split")
    val_rows = load_split(cfg, cfg.data.val_split)
    per_ws, checks = {}, {}
    for ws, rcfg in replicates(cfg):
        per_ws[label(ws)], checks[label(ws)] = gate_one(rcfg, val_rows)
        print(f"[gate] {label(ws)}: {'passed' if per_ws[label(ws)]['passed'] else 'MISSED'}", flush=True)
    summary = {"split": str(cfg.data.val_split), "warm_starts": per_ws,
               "passed": all(s["passed"] for s in per_ws.values())}
    write_json(gate_path(cfg), summary)
    for ws, s in per_ws.items():
        mlflow.log_metrics({names.metric_name(names.GATE, ws, k): v for k, v in s["gate"].items()})
        mlflow.log_metrics({names.metric_name(names.GATE, ws, k, ops): v for k, per in s["by_ops"].items()
                            for ops, v in per.items()})
    mlflow.log_metric(names.metric_name(names.GATE, "passed"), float(summary["passed"]))
    if cfg.warmstart.gate.enforce:
        for ws, results in checks.items():
            try:
                gate.enforce(results)
            except gate.GateError as e:
                raise gate.GateError(f"warm start {ws}: {e}") from e
    return summary


def gate_file(cfg: Any) -> str:
    """The gate's results as configured (relative to the repository unless `paths.warmstart_dir` is
    absolute), for the report to name: one file for every warm start."""
    return f"{cfg.paths.warmstart_dir}/{GATE}"


def gate_path(cfg: Any) -> Path:
    return warmstart_dir(cfg) / GATE


def _params(cfg: DictConfig, role: str) -> Any:
    from safetensors import safe_open

    path = output_dirs(cfg)[role] / "model.safetensors"
    with safe_open(str(path), "pt") as f:
        for key in f.keys():  # noqa: SIM118 - safe_open is not a mapping
            yield f.get_tensor(key)
