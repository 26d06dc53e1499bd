"""Which trained Model A's the evaluation scores: the arm runs found under `paths.train_dir`.

An arm run is `${paths.train_dir}/<arm>/seed<k>/` holding `final/` (the trained A as an HF folder)
and `checkpoints/run.json` = {"run_id", "config": the run's flat dotted config}. Arms are found by
globbing, never by name: what a run *is* (its arm, seed, whether it trained with B, how B read the
CoT) comes from its own config, so evaluation reads A's CoT the way that run was trained.

`eval.policy_checkpoint` picks the trained rows:
- "auto": every arm run; without any, `${paths.train_dir}/final` (the single-run layout) if it exists.
- null: none (only the base A rows).
- a path: that one HF folder, labelled "checkpoint".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from hawkeye.errors import ConfigError, DataError, ModelError
from hawkeye.paths import resolve

RUN_INFO = Path("checkpoints") / "run.json"


@dataclass(frozen=True)
class TrainedRun:
    arm: str
    seed: int
    run_dir: Path          # the run's train_dir: metrics.json, collapse_curve.tsv, checkpoints/
    answer_leak: str       # how B read A's CoT in training (reward.answer_leak); evaluation does the same
    responder: str         # responder.name; "none" for the no-B arm
    lam: float | None = None
    alpha: float | None = None
    run_id: str | None = None
    source: str = "arm"    # "arm" (found by globbing), "single" (train_dir/final), "path" (eval.policy_checkpoint)
    model_dir: Path | None = None  # the HF folder; default run_dir/final

    @property
    def path(self) -> Path:
        return self.model_dir or self.run_dir / "final"

    @property
    def key(self) -> str:
        return f"{self.arm}/seed{self.seed}"

    @property
    def uses_b(self) -> bool:
        return self.responder != "none"


def _field(config: dict[str, Any], key: str, path: Path) -> Any:
    if key not in config:
        raise DataError(f"{path}: config has no key '{key}' (written by src/train.py as checkpoints/run.json)")
    return config[key]


def read_run(run_dir: Path, default_arm: str, source: str = "arm") -> TrainedRun:
    """The arm run in `run_dir`, from its `checkpoints/run.json`; fails naming the file and key."""
    info_path = run_dir / RUN_INFO
    try:
        info = json.loads(info_path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"{info_path}: unreadable run info: {e}") from e
    config = info.get("config") if isinstance(info, dict) else None
    if not isinstance(config, dict):
        raise DataError(f"{info_path}: no 'config' mapping (expected {{'run_id', 'config'}})")
    if not (run_dir / "final" / "config.json").is_file():
        raise ModelError(f"{run_dir}: arm run has no final/ model (training unfinished?); "
                         "finish it, remove the folder, or set eval.policy_checkpoint=null")
    seed = _field(config, "seed", info_path)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise DataError(f"{info_path}: config key 'seed'={seed!r} must be an integer")
    return TrainedRun(
        arm=str(config.get("tracking.arm") or default_arm),
        seed=seed,
        run_dir=run_dir,
        answer_leak=str(_field(config, "reward.answer_leak", info_path)),
        responder=str(_field(config, "responder.name", info_path)),
        lam=_float(config.get("lambda")),
        alpha=_float(config.get("alpha")),
        run_id=info.get("run_id"),
        source=source,
    )


def _float(x: Any) -> float | None:
    return None if x is None else float(x)


def discover_arm_runs(train_dir: str | Path) -> list[TrainedRun]:
    """Every `<train_dir>/<arm>/seed<k>/` with a run.json, sorted by (arm, seed)."""
    runs = [read_run(info.parent.parent, default_arm=info.parent.parent.parent.name)
            for info in sorted(Path(train_dir).glob(f"*/seed*/{RUN_INFO}"))]
    seen: dict[tuple[str, int], Path] = {}
    for r in runs:
        if (r.arm, r.seed) in seen:
            raise DataError(f"two runs claim arm {r.arm!r} seed {r.seed}: {seen[(r.arm, r.seed)]} and {r.run_dir}")
        seen[(r.arm, r.seed)] = r.run_dir
    return sorted(runs, key=lambda r: (r.arm, r.seed))


def trained_runs(cfg: DictConfig) -> list[TrainedRun]:
    """The trained A's to evaluate, per `eval.policy_checkpoint` (see the module docstring)."""
    choice = cfg.eval.policy_checkpoint
    if choice is None:
        return []
    train_dir = resolve(cfg.paths.train_dir)
    if choice != "auto":
        path = resolve(str(choice))
        return [TrainedRun("checkpoint", int(cfg.seed), path, str(cfg.reward.answer_leak), str(cfg.responder.name),
                           source="path", model_dir=path)]
    runs = discover_arm_runs(train_dir)
    if runs:
        return runs
    if (train_dir / "final" / "config.json").is_file():  # one run of `src/train.py` (no arms)
        if (train_dir / RUN_INFO).is_file():
            return [read_run(train_dir, default_arm="trained", source="single")]
        return [TrainedRun("trained", int(cfg.seed), train_dir, str(cfg.reward.answer_leak),
                           str(cfg.responder.name), source="single")]
    return []


def latency_run(cfg: DictConfig, runs: list[TrainedRun]) -> TrainedRun | None:
    """The trained A timed as Hawkeye: `eval.latency_arm`'s lowest seed (None: time the base A)."""
    if not runs:
        return None
    chosen = [r for r in runs if r.arm == cfg.eval.latency_arm]
    if chosen:
        return min(chosen, key=lambda r: r.seed)
    if all(r.source == "arm" for r in runs):
        arms = sorted({r.arm for r in runs})
        raise ConfigError(f"config key 'eval.latency_arm'={cfg.eval.latency_arm!r} is not among the arms found "
                          f"under {resolve(cfg.paths.train_dir)}: {arms}")
    return runs[0]
