"""The run-folder layout of training, and run discovery: the one home of both.

A training run writes `${train_dir}/`:
- `final/`: the trained Model A as an HF folder;
- `config.json`: the run's resolved config, flat (dotted keys): what a run *is* (its arm, seed,
  whether it trained with B, how B read the CoT), read back by evaluation and the report;
- `metrics.json`, `collapse_curve.tsv`: the per-step curve (no wall times: they go to MLflow only);
- `checkpoints/`: Lightning's `last.ckpt` and `mlflow_run.json` (the MLflow run id), what `resume=true`
  needs. Resume state, not a result: DVC does not hash it (`.dvcignore`), nor the run's `train.log`.

The `train` stage writes one such folder per arm and seed at `<train_dir>/<arm>/seed<k>/` (`arm_dir`).
Arms are found by globbing, never by name, so evaluation reads A's CoT the way that run was trained.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hawkeye.errors import DataError, ModelError

CONFIG = "config.json"
FINAL = "final"
CHECKPOINTS = "checkpoints"
MLFLOW_RUN = "mlflow_run.json"
METRICS = "metrics.json"
CURVE = "collapse_curve.tsv"
TRAIN_LOG = "train.log"


def arm_dir(train_dir: str | Path, arm: str, seed: int) -> Path:
    """The run folder of one arm and seed under `train_dir` (the train stage's, or the baselines')."""
    return Path(train_dir) / arm / f"seed{seed}"


def metrics_path(train_dir: str | Path) -> Path:
    return Path(train_dir) / METRICS


def curve_path(train_dir: str | Path) -> Path:
    return Path(train_dir) / CURVE


def final_dir(train_dir: str | Path) -> Path:
    return Path(train_dir) / FINAL


def config_path(train_dir: str | Path) -> Path:
    return Path(train_dir) / CONFIG


def checkpoint_dir(train_dir: str | Path) -> Path:
    return Path(train_dir) / CHECKPOINTS


def last_checkpoint(train_dir: str | Path) -> Path:
    return checkpoint_dir(train_dir) / "last.ckpt"


def mlflow_run_path(train_dir: str | Path) -> Path:
    return checkpoint_dir(train_dir) / MLFLOW_RUN


@dataclass(frozen=True)
class TrainedRun:
    arm: str
    seed: int
    run_dir: Path          # the run's train_dir (the layout above)
    answer_leak: str       # how B read A's CoT in training (reward.answer_leak); evaluation does the same
    responder: str         # responder.name; "none" for the no-B arm
    lam: float | None = None
    alpha: float | None = None
    run_id: str | None = None
    # "arm" (found by globbing), "single" (train_dir/final), "path" (eval.policy_checkpoint),
    # "baseline" (a supervised baseline: `hawkeye.baselines`)
    source: str = "arm"
    model_dir: Path | None = None  # the HF folder; default run_dir/final
    warm_start: int | None = None  # the warm-start replicate it trained from (`hawkeye.replicates`)

    @property
    def path(self) -> Path:
        return self.model_dir or final_dir(self.run_dir)

    @property
    def key(self) -> str:
        return f"{self.arm}/seed{self.seed}"

    @property
    def uses_b(self) -> bool:
        return self.responder != "none"


def _field(config: dict[str, Any], key: str, path: Path) -> Any:
    if key not in config:
        raise DataError(f"{path}: config has no key '{key}' (written by src/train.py)")
    return config[key]


def read_config(train_dir: str | Path) -> dict[str, Any]:
    """The run's flat config (`config.json`); fails naming the file."""
    path = config_path(train_dir)
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: unreadable run config: {e}") from e
    if not isinstance(config, dict):
        raise DataError(f"{path}: must be a mapping of dotted config keys")
    return config


def read_run_id(train_dir: str | Path) -> str | None:
    """The MLflow run id the run's checkpoints belong to (None when it has none)."""
    path = mlflow_run_path(train_dir)
    try:
        return str(json.loads(path.read_text())["run_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_run(run_dir: Path, default_arm: str, source: str = "arm") -> TrainedRun:
    """The run in `run_dir`, from its `config.json`; fails naming the file and key."""
    config = read_config(run_dir)
    path = config_path(run_dir)
    if not (final_dir(run_dir) / "config.json").is_file():
        raise ModelError(f"{run_dir}: arm run has no final/ model (training unfinished?); "
                         "finish it, remove the folder, or set eval.policy_checkpoint=null")
    seed = _field(config, "seed", path)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise DataError(f"{path}: config key 'seed'={seed!r} must be an integer")
    return TrainedRun(
        arm=str(config.get("tracking.arm") or default_arm),
        seed=seed,
        run_dir=run_dir,
        answer_leak=str(_field(config, "reward.answer_leak", path)),
        responder=str(_field(config, "responder.name", path)),
        lam=_float(config.get("lambda")),
        alpha=_float(config.get("alpha")),
        run_id=read_run_id(run_dir),
        source=source,
        warm_start=config.get("tracking.warm_start"),
    )


def _float(x: Any) -> float | None:
    return None if x is None else float(x)


def discover_arm_runs(train_dir: str | Path, source: str = "arm") -> list[TrainedRun]:
    """Every `<train_dir>/<arm>/seed<k>/` with a config.json, sorted by (arm, seed)."""
    runs = [read_run(path.parent, default_arm=path.parent.parent.name, source=source)
            for path in sorted(Path(train_dir).glob(f"*/seed*/{CONFIG}"))]
    seen: dict[tuple[str, int], Path] = {}
    for r in runs:
        if (r.arm, r.seed) in seen:
            raise DataError(f"two runs claim arm {r.arm!r} seed {r.seed}: {seen[(r.arm, r.seed)]} and {r.run_dir}")
        seen[(r.arm, r.seed)] = r.run_dir
    return sorted(runs, key=lambda r: (r.arm, r.seed))
