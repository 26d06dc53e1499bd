"""Which trained runs are evaluated, and which Model A's and Model B are timed and served, resolved
and checked before anything starts.

The one home of that choice, shared by the evaluate stage (`hawkeye.evaluation`) and the server
(`hawkeye.serve`), so both pick the same trained A (with the `answer_leak` it trained under), the
same B and the same token caps from one config.

`eval.policy_checkpoint` picks the trained A's:
- "auto": every arm run under `paths.train_dir` (`hawkeye.runs`); without any, `${paths.train_dir}`
  itself when it holds one run of `src/train.py` (the single-run layout); and the supervised
  baselines under `paths.baselines_dir` trained from this base A (`hawkeye.baselines.runs`);
- null: none (only the base A);
- a path: that one HF folder, labelled "checkpoint".
The trained A timed and served as Hawkeye is `eval.latency_arm`'s lowest seed (`latency_run`); B
reads its CoT the way that run trained (`timed_answer_leak`). `resolve_served` puts the three
together: what the latency part times and `hawkeye.serve` serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from hawkeye.baselines.runs import current_runs as baseline_runs
from hawkeye.errors import ConfigError, DataError
from hawkeye.models.resolve import Model, resolve_model
from hawkeye.paths import resolve
from hawkeye.replicates import first
from hawkeye.runs import TrainedRun, config_path, discover_arm_runs, final_dir, read_run


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
    runs = discover_arm_runs(train_dir) or _single_run(cfg, train_dir)
    baselines = baseline_runs(cfg)
    clash = {r.arm for r in runs} & {r.arm for r in baselines}
    if clash:
        raise DataError(f"{sorted(clash)} name both GRPO runs under {train_dir} and baseline runs under "
                        f"{resolve(cfg.paths.baselines_dir)}")
    return runs + baselines


def _single_run(cfg: DictConfig, train_dir: Path) -> list[TrainedRun]:
    """`${paths.train_dir}` itself when it holds one run of `src/train.py` (no arms)."""
    if not (final_dir(train_dir) / "config.json").is_file():
        return []
    if config_path(train_dir).is_file():
        return [read_run(train_dir, default_arm="trained", source="single")]
    return [TrainedRun("trained", int(cfg.seed), train_dir, str(cfg.reward.answer_leak),
                       str(cfg.responder.name), source="single")]


def latency_run(cfg: DictConfig, runs: list[TrainedRun]) -> TrainedRun | None:
    """The trained A timed as Hawkeye: `eval.latency_arm`'s lowest seed (None: time the base A).
    A supervised baseline is never Hawkeye."""
    runs = [r for r in runs if r.source != "baseline"]
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


def timed_answer_leak(cfg: DictConfig, timed: TrainedRun | None) -> str:
    """How B reads the timed (and served) A's CoT: as that run trained B to, else `reward.answer_leak`."""
    return timed.answer_leak if timed else str(cfg.reward.answer_leak)


@dataclass
class Served:
    """What the latency part times and `hawkeye.serve` serves."""

    models: dict[str, Model]  # by role: baseline_a (the base A), hawkeye_a (the timed A), responder (B)
    run: TrainedRun | None    # the trained run behind hawkeye_a (None: the base A)
    answer_leak: str          # how B reads hawkeye_a's CoT (`timed_answer_leak`)


def resolve_served(cfg: DictConfig, runs: list[TrainedRun] | None = None) -> Served:
    """Base A, the timed (Hawkeye) A and B, resolved and checked before anything is started.
    `runs`: the first replicate's `trained_runs`, where the caller has discovered them already."""
    cfg = first(cfg)  # with warm starts: the first one's models and runs
    timed = latency_run(cfg, trained_runs(cfg) if runs is None else runs)
    specs = {"baseline_a": (cfg.policy, str(cfg.policy.name_or_path)),
             "hawkeye_a": (cfg.policy, str(timed.path) if timed else str(cfg.policy.name_or_path)),
             "responder": (cfg.responder, str(cfg.responder.name_or_path))}
    models = {role: resolve_model(cfg, role, node, spec) for role, (node, spec) in specs.items()}
    return Served(models, timed, timed_answer_leak(cfg, timed))


def token_caps(cfg: DictConfig) -> tuple[int, int]:
    """(A's CoT cap, B's answer cap): eval.* if set, else the rollout caps A was trained under."""
    ev, ro = cfg.eval, cfg.rollout
    return int(ev.max_new_tokens or ro.max_new_tokens), int(ev.responder_max_new_tokens or ro.responder_max_new_tokens)
