"""Train the supervised baselines: base A fine-tuned on shorter CoTs, one run per baseline and seed.

Each run continues training the base A (`policy.name_or_path`) with the warm start's Lightning SFT
loop (`hawkeye.warmstart.sft`: loss on the target tokens only, AdamW with warm-up and cosine decay,
step s trains on the batch drawn from (seed, s)), so a run killed mid-way resumes from its
`last.ckpt` and ends where an uninterrupted one would. The seed draws the batches; the starting
weights are the same base A in every run. Runs go `baselines.jobs` at a time, one core each, each
with its own MLflow run (stage `baselines`, tag `arm` = the baseline) holding its loss curve.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hawkeye import runs
from hawkeye.baselines import targets
from hawkeye.baselines.runs import INPUTS, baselines_dir, curated_train_path, inputs, read_inputs
from hawkeye.errors import ConfigError, DataError
from hawkeye.files import write_json
from hawkeye.runs import read_config
from hawkeye.tracking import names
from hawkeye.tracking.params import to_flat_params
from hawkeye.training.arms import arm_config
from hawkeye.training.data import load_train_rows

LOSS = names.metric_name(names.BASELINES, "loss")


def load_pairs(cfg: Any) -> dict[str, list[tuple[str, str]]]:
    """(question, target) pairs of every baseline that runs; fails naming the file (missing, bad row)
    before any model loads."""
    path = curated_train_path(cfg)
    rows = [dict(r) for r in load_train_rows(path)]
    return {kind: targets.targets(kind, rows, path) for kind in cfg.baselines.run}


def output_dir(cfg: Any) -> Path:
    root = baselines_dir(cfg)
    if root is None:
        raise ConfigError("config key 'paths.baselines_dir' is null: the baselines need a folder to write to")
    return root


def run_dir(cfg: Any, kind: str, seed: int) -> Path:
    return runs.arm_dir(output_dir(cfg), kind, seed)


def run_config(cfg: Any, kind: str, seed: int) -> DictConfig:
    """The config a baseline run records: trained without B, and read by B under the default arm's rule."""
    leak = str(arm_config(cfg, cfg.arms.default).reward.answer_leak)
    return OmegaConf.merge(cfg, {"seed": seed, "tracking": {"arm": kind}, "reward": {"answer_leak": leak},
                                 "responder": {"name": "none", "name_or_path": None}})


def sft_settings(cfg: Any) -> DictConfig:
    """The loop's settings; the base A and the data are part of them, so a checkpoint of another base
    A or other rows is never resumed (`sft.train` resumes only when its settings are unchanged)."""
    b = cfg.baselines
    return OmegaConf.create({"steps": int(b.steps), "batch_size": int(b.batch_size), "lr": float(b.lr),
                             "warmup_steps": int(b.warmup_steps), **inputs(cfg)})


def finished(cfg: Any, kind: str, seed: int) -> bool:
    """The run's folder holds this very run: the same config, trained from the same base A and rows."""
    out = run_dir(cfg, kind, seed)
    try:
        return (read_config(out) == to_flat_params(run_config(cfg, kind, seed))
                and read_inputs(out) == inputs(cfg))
    except DataError:
        return False


def train_one(cfg_dict: dict[str, Any], kind: str, seed: int, pairs: list[tuple[str, str]]) -> float:
    """One baseline run; returns its wall seconds."""
    import torch

    from hawkeye.models.load import load_model_and_tokenizer
    from hawkeye.tracking.mlflow_run import stage_run
    from hawkeye.training.fit import save_policy
    from hawkeye.warmstart import sft

    start = time.perf_counter()
    cfg = run_config(OmegaConf.create(cfg_dict), kind, seed)
    torch.set_num_threads(max(1, int(cfg.trainer.num_threads)))
    out = run_dir(cfg, kind, seed)
    with stage_run(cfg, stage="baselines", run_name=f"baseline {kind} seed {seed}",
                   data_files=[curated_train_path(cfg)], tags={"run_dir": str(out)}):
        import mlflow

        model, tok, _ = load_model_and_tokenizer(cfg.policy, cfg.paths.models_dir)
        model.config.use_cache = False
        model.train()  # loaded in eval mode; Lightning keeps a module's mode
        settings = sft_settings(cfg)
        losses = sft.train(model, tok, targets.example_maker(pairs, tok), settings, seed,
                           runs.checkpoint_dir(out), int(cfg.baselines.checkpoint_every_n_steps))
        first = int(settings.steps) - len(losses)  # > 0 when it resumed from a checkpoint
        mlflow.set_tag("resumed_from_step", str(first))
        for i, loss in enumerate(losses):
            mlflow.log_metric(LOSS, loss, step=first + i)
        save_policy(model, tok, runs.final_dir(out))
        write_json(out / INPUTS, dict(inputs(cfg)))
        write_json(runs.metrics_path(out), {"method": "sft", "baseline": kind, "train_rows": len(pairs),
                                          "steps": int(settings.steps)})
        write_json(runs.config_path(out), to_flat_params(cfg))  # last: the evaluation finds a run by it
    return time.perf_counter() - start


def _in_worker(cfg_dict: dict[str, Any], kind: str, seed: int, pairs: list[tuple[str, str]]) -> float:
    """`train_one` in a pool worker (top level: spawn pickles it by name); a worker runs several jobs,
    so each sets its own log prefix."""
    logging.basicConfig(level=logging.INFO, format=f"[baselines {kind} seed {seed}] %(message)s", force=True)
    return train_one(cfg_dict, kind, seed, pairs)


def run_baselines(cfg: DictConfig) -> dict[str, dict[int, float]]:
    """Train every (baseline, seed); return {baseline: {seed: seconds}}. Bad input fails first, naming
    the file; a failed run is raised once the runs in flight finish."""
    output_dir(cfg)
    pairs = load_pairs(cfg)
    jobs = [(kind, int(seed)) for kind in cfg.baselines.run for seed in cfg.baselines.seeds]
    cfg_dict = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(cfg_dict, dict)
    cfg_dict = {**cfg_dict, "trainer": {**cfg_dict["trainer"], "num_threads": 1}}  # one core per run
    done = [(kind, seed) for kind, seed in jobs if finished(OmegaConf.create(cfg_dict), kind, seed)]
    for kind, seed in done:
        print(f"[baselines] {kind} seed {seed}: already trained ({run_dir(cfg, kind, seed)})", flush=True)
    jobs = [j for j in jobs if j not in done]
    timings: dict[str, dict[int, float]] = {}
    if int(cfg.baselines.jobs) == 1:
        for kind, seed in jobs:
            timings.setdefault(kind, {})[seed] = train_one(cfg_dict, kind, seed, pairs[kind])
        return timings
    with ProcessPoolExecutor(max_workers=int(cfg.baselines.jobs), mp_context=get_context("spawn")) as pool:
        futures = {(kind, seed): pool.submit(_in_worker, cfg_dict, kind, seed, pairs[kind]) for kind, seed in jobs}
        for (kind, seed), future in futures.items():
            timings.setdefault(kind, {})[seed] = future.result()
    return timings
