"""Warm-start replicates: the one home of what a replicate is and where its files live.

A warm start is a random draw like a GRPO seed, and a larger one: the tokenizer, Model A and Model B
trained from scratch with their own initialisation and data order. Floating point differs between CPU
models, so the same seed draws different models on different machines; a conclusion that holds for one
warm start may not hold for another. So the testbed draws `warmstart.seeds` (one replicate each) and
runs everything downstream of the warm start once per replicate: the gate, A's own `c_orig` (curate),
GRPO in every arm and seed, the supervised baselines and the evaluation. Intervals then nest
questions in GRPO seeds in warm starts (`hawkeye.evaluation.nested`).

Replicate k's files (k = the warm-start seed):

    models/warmstarts/ws<k>/<policy name>, .../ws<k>/<responder name>   the warm-started A and B
    runs/warmstart/ws<k>/checkpoints/{a,b}                           their resume state
    data/curated/ws<k>/                                              c_orig and its refinement
    runs/train/ws<k>/<arm>/seed<s>/                                  GRPO runs (`hawkeye.runs`)
    runs/baselines/ws<k>/<baseline>/seed<s>/                         supervised baselines

An experiment without warm start (`warmstart.seeds: []`, e.g. real pretrained weights) has one replicate,
`None`, whose config is the config as given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

MODELS_SUBDIR = "warmstarts"


def warm_starts(cfg: Any) -> list[int | None]:
    """The replicates of this config: its warm-start seeds, or [None] when it has no warm start."""
    seeds = list(cfg.warmstart.get("seeds") or [])
    return [int(s) for s in seeds] or [None]


def label(ws: int | None) -> str:
    """A replicate's folder and tag: `ws<k>` (`none` without warm start)."""
    return "none" if ws is None else f"ws{ws}"


ROLES = ("a", "b", "tokenizer")


def sft_seed(base_seed: int, ws: int | None, role: str) -> int:
    """The seed of one random draw of a warm start (A's or B's initialisation and data order, the tokenizer's
    sample): distinct per replicate and role."""
    return int(base_seed) + 1000 * int(ws or 0) + ROLES.index(role)


def models_root(cfg: Any) -> Path:
    """The folder of every replicate's warm-started models (one DVC output)."""
    return Path(str(cfg.paths.models_dir)) / MODELS_SUBDIR


def _model_path(cfg: Any, node: Any, ws: int) -> str | None:
    path = node.get("name_or_path")
    return None if path is None else str(models_root(cfg) / label(ws) / Path(str(path)).name)


def _sub(path: Any, ws: int) -> str | None:
    return None if path is None else str(Path(str(path)) / label(ws))


def replicate_config(cfg: Any, ws: int | None) -> Any:
    """`cfg` as replicate `ws` sees it: its models, curated data, runs and tag (the config itself for None)."""
    if ws is None:
        return cfg
    p = cfg.paths
    overrides = {
        "policy": {"name_or_path": _model_path(cfg, cfg.policy, ws)},
        "responder": {"name_or_path": _model_path(cfg, cfg.responder, ws)},
        "paths": {"curated_dir": _sub(p.curated_dir, ws), "train_dir": _sub(p.train_dir, ws),
                  "baselines_dir": _sub(p.get("baselines_dir"), ws),
                  "warmstart_dir": _sub(p.warmstart_dir, ws)},
        "tracking": {"warm_start": ws},
    }
    out = OmegaConf.merge(cfg, overrides)
    OmegaConf.set_readonly(out, OmegaConf.is_readonly(cfg))
    return out


def first(cfg: Any) -> Any:
    """The replicate a single consumer uses (`hawkeye.serve`, the timed models of the evaluation): the first
    warm start, unless `cfg` already is a replicate's config or has no warm start."""
    if cfg.tracking.get("warm_start") is not None:
        return cfg
    return replicate_config(cfg, warm_starts(cfg)[0])


def standalone_run(cfg: Any) -> Any:
    """A training run started by hand or by a sweep (`src/train.py`), outside the train stage's loop over
    warm starts: it trains the first warm start's A against its own c_orig, read by its own B, and writes
    where it was told (`paths.train_dir` as given)."""
    out = first(cfg)
    if out is cfg:
        return cfg
    return OmegaConf.merge(out, {"paths": {"train_dir": cfg.paths.train_dir}})


def replicates(cfg: Any) -> list[tuple[int | None, Any]]:
    """(warm start, its config) for every replicate, in order."""
    return [(ws, replicate_config(cfg, ws)) for ws in warm_starts(cfg)]
