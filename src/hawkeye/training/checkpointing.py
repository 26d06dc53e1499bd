"""Resume: which MLflow run the checkpoints belong to, and when a resume is refused.

Where things live is `hawkeye.runs`: the run's flat config in `${train_dir}/config.json`, Lightning's
`last.ckpt` (+ periodic ones) and the MLflow run id in `${train_dir}/checkpoints/`. `resume=true`
continues that run; it is refused when there is no checkpoint, or when the config differs (the
differing keys are listed). Keys that may legitimately change on resume: `resume` itself, `grpo.max_steps`
(train longer) and `tracking.sweep_id`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hawkeye.errors import ConfigError
from hawkeye.files import write_json
from hawkeye.runs import config_path, last_checkpoint, mlflow_run_path, read_config, read_run_id
from hawkeye.tracking.names import train_metric
from hawkeye.tracking.params import to_flat_params

RESUME_IGNORED = {"resume", "grpo.max_steps", "tracking.sweep_id"}


def prepare(cfg: DictConfig, train_dir: str | Path) -> str | None:
    """Before anything loads: the MLflow run id to continue (resume), or None for a fresh run.
    Nothing is deleted here: a fresh run clears stale checkpoints only once its inputs have loaded."""
    ckpt = last_checkpoint(train_dir)
    if not cfg.resume:
        return None
    run_id = read_run_id(train_dir)
    if not ckpt.exists() or run_id is None or not config_path(train_dir).is_file():
        raise ConfigError(f"resume=true but there is no checkpoint to resume: {ckpt}, "
                          f"{mlflow_run_path(train_dir)} and {config_path(train_dir)} must all exist")
    saved = read_config(train_dir)
    current = {k: _plain(v) for k, v in to_flat_params(cfg).items()}
    differing = sorted(
        k for k in set(saved) | set(current) if k not in RESUME_IGNORED and saved.get(k) != current.get(k)
    )
    if differing:
        details = ", ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in differing[:20])
        raise ConfigError(f"resume=true refused: the config differs from the checkpoint's in {len(differing)} "
                          f"key(s): {details}")
    return run_id


def write_run_info(cfg: DictConfig, train_dir: str | Path, run_id: str) -> None:
    """The run's flat config (what the run is: deterministic) and its MLflow run id (with the checkpoints)."""
    write_json(config_path(train_dir), {k: _plain(v) for k, v in to_flat_params(cfg).items()})
    write_json(mlflow_run_path(train_dir), {"run_id": run_id})


def last_logged_step(run_id: str, metric: str = train_metric("reward_mean")) -> int:
    """The last step already in the run's metric history (-1 if none): resumed steps ≤ it are not re-logged."""
    from mlflow.tracking import MlflowClient

    history = MlflowClient().get_metric_history(run_id, metric)
    return max((m.step for m in history), default=-1)


def _plain(v: Any) -> Any:
    return OmegaConf.to_container(v) if OmegaConf.is_config(v) else v
