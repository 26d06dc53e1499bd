"""Checkpoints and resume: where they live, which MLflow run they belong to, and when a resume is refused.

`${train_dir}/checkpoints/` holds Lightning's `last.ckpt` (+ periodic ones) and `run.json`: the
MLflow run id and the resolved config of the run that wrote them. `resume=true` continues that
run; it is refused when there is no checkpoint, or when the config differs (the differing keys
are listed). Keys that may legitimately change on resume: `resume` itself, `grpo.max_steps`
(train longer) and `tracking.sweep_id`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hawkeye.errors import ConfigError
from hawkeye.files import write_json
from hawkeye.tracking.names import train_metric
from hawkeye.tracking.params import to_flat_params

RESUME_IGNORED = {"resume", "grpo.max_steps", "tracking.sweep_id"}


def checkpoint_dir(train_dir: str | Path) -> Path:
    return Path(train_dir) / "checkpoints"


def last_checkpoint(train_dir: str | Path) -> Path:
    return checkpoint_dir(train_dir) / "last.ckpt"


def prepare(cfg: DictConfig, train_dir: str | Path) -> str | None:
    """Before anything loads: the MLflow run id to continue (resume), or None for a fresh run.
    Nothing is deleted here: a fresh run clears stale checkpoints only once its inputs have loaded."""
    ckpt = last_checkpoint(train_dir)
    info_path = checkpoint_dir(train_dir) / "run.json"
    if not cfg.resume:
        return None
    if not ckpt.exists() or not info_path.is_file():
        raise ConfigError(f"resume=true but there is no checkpoint to resume: {ckpt} (and run.json) not found")
    info = json.loads(info_path.read_text())
    saved = info["config"]
    current = {k: _plain(v) for k, v in to_flat_params(cfg).items()}
    differing = sorted(
        k for k in set(saved) | set(current) if k not in RESUME_IGNORED and saved.get(k) != current.get(k)
    )
    if differing:
        details = ", ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in differing[:20])
        raise ConfigError(f"resume=true refused: the config differs from the checkpoint's in {len(differing)} "
                          f"key(s): {details}")
    return str(info["run_id"])


def write_run_info(cfg: DictConfig, train_dir: str | Path, run_id: str) -> None:
    flat = {k: _plain(v) for k, v in to_flat_params(cfg).items()}
    write_json(checkpoint_dir(train_dir) / "run.json", {"run_id": run_id, "config": flat})


def last_logged_step(run_id: str, metric: str = train_metric("reward_mean")) -> int:
    """The last step already in the run's metric history (-1 if none): resumed steps ≤ it are not re-logged."""
    from mlflow.tracking import MlflowClient

    history = MlflowClient().get_metric_history(run_id, metric)
    return max((m.step for m in history), default=-1)


def _plain(v: Any) -> Any:
    return OmegaConf.to_container(v) if OmegaConf.is_config(v) else v
