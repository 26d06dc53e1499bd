"""Callbacks: step metrics to MLflow and files, and the collapse detector.

They read `pl_module.step_metrics` / `step_samples`, which `GRPOModule.training_step` fills.
Their state (the curve so far) is saved in checkpoints, so a resumed run writes the same files.
Under DDP/FSDP the step metrics are already reduced over the ranks (every rank holds the same
numbers, so every rank takes the same collapse/stop decisions); rank 0 alone logs and writes files.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L

from hawkeye.collapse import steps_to_judge, verdict
from hawkeye.files import write_json, write_text
from hawkeye.runs import curve_path, metrics_path
from hawkeye.tracking.names import train_metric

log = logging.getLogger(__name__)

CURVE_COLUMNS = ("step", "cot_tokens_mean", "critical_tokens_mean", "em", "collapsed_share", "rollouts", "reward_mean",
                 "penalty")
# Wall times go to MLflow only: the files are meant to be the same on every machine that reproduces a run.
TIMED = ("step_time_s", "rollout_time_s")


class StepMetricsWriter(L.Callback):
    """Each step: MLflow metrics, `collapse_curve.tsv`, `metrics.json`. At the end: figure and samples table.

    `skip_until`: on resume, steps ≤ the last step already in the MLflow run are not logged again.
    """

    def __init__(self, train_dir: str | Path, target_tokens: float, skip_until: int = -1) -> None:
        self.train_dir = Path(train_dir)
        self.target_tokens = target_tokens
        self.skip_until = skip_until
        self.rows: list[dict[str, float]] = []
        self.samples: list[dict[str, Any]] = []

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "samples": self.samples}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rows, self.samples = list(state["rows"]), list(state["samples"])

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        m = dict(pl_module.step_metrics)
        step = int(m["step"])
        self.rows = [r for r in self.rows if r["step"] < step] + [m]
        self.samples = [s for s in self.samples if s["step"] < step] + list(pl_module.step_samples)
        if not trainer.is_global_zero:
            return
        if step > self.skip_until and trainer.logger is not None:
            trainer.logger.log_metrics({train_metric(k): v for k, v in m.items() if k != "step"}, step=step)
        log.info("step %d: reward %.4f em %.3f cot_tokens %.1f (%.2fs)", step, m["reward_mean"], m["em"],
                 m["cot_tokens_mean"], m["step_time_s"])
        self.write_files()

    def write_files(self) -> None:
        lines = ["\t".join(CURVE_COLUMNS)]
        lines += ["\t".join(f"{r[c]:g}" if c != "step" else str(int(r[c])) for c in CURVE_COLUMNS) for r in self.rows]
        write_text(curve_path(self.train_dir), "\n".join(lines) + "\n")
        untimed = [{k: v for k, v in r.items() if k not in TIMED} for r in self.rows]
        write_json(metrics_path(self.train_dir), {
            "steps": len(untimed),
            "first": untimed[0] if untimed else {},
            "final": untimed[-1] if untimed else {},
            "target_cot_tokens": self.target_tokens,
            "curve": untimed,
        })

    def on_train_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        if not self.rows or trainer.logger is None or not trainer.is_global_zero:
            return
        from hawkeye.tracking.figures import collapse_curve_figure

        client, run_id = trainer.logger.experiment, trainer.logger.run_id
        fig = collapse_curve_figure(self.rows, self.target_tokens)
        fig.savefig(self.train_dir / "collapse_curve.png", dpi=120)
        client.log_figure(run_id, fig, "collapse_curve.png")
        client.log_artifact(run_id, str(curve_path(self.train_dir)))
        client.log_artifact(run_id, str(metrics_path(self.train_dir)))
        if self.samples:
            columns = list(self.samples[0])
            client.log_table(run_id, {c: [s[c] for s in self.samples] for c in columns}, "samples.json")


class CollapseDetector(L.Callback):
    """Applies the collapse definition (`hawkeye.collapse.verdict`, the one the report uses) to the
    collapsed-share curve so far after every step, once the curve holds two whole windows of the k rule
    (`steps_to_judge`): a stop never rests on windows too short to tell the margin from noise. On the
    first collapse: the MLflow tags `collapse=true` and `collapse_step`; with `stop`, the run ends there."""

    def __init__(self, rule: Any, stop: bool = False) -> None:
        self.rule = rule
        self.stop = stop
        self.curve: list[float] = []  # collapsed share per step
        self.collapsed_at: int | None = None

    def state_dict(self) -> dict[str, Any]:
        return {"curve": self.curve, "collapsed_at": self.collapsed_at}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.curve, self.collapsed_at = [float(p) for p in state["curve"]], state["collapsed_at"]

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        m = pl_module.step_metrics
        step, rollouts = int(m["step"]), int(m["rollouts"])
        self.curve = self.curve[:step] + [float(m["collapsed_share"])]
        if len(self.curve) < steps_to_judge(rollouts, self.rule):
            return
        v = verdict(self.curve, rollouts, self.rule)
        if not v.collapsed:
            return
        if self.collapsed_at is None:
            self.collapsed_at = step
            log.warning("collapse at step %d: collapsed share of the rollouts %.2f -> %.2f (first -> last %d steps, "
                        "margin %g, standard error %.2f)", step, v.share_first, v.share_last, v.k, v.margin, v.se)
            if trainer.logger is not None and getattr(trainer, "is_global_zero", True):
                client, run_id = trainer.logger.experiment, trainer.logger.run_id
                client.set_tag(run_id, "collapse", "true")
                client.set_tag(run_id, "collapse_step", str(self.collapsed_at))
        if self.stop:
            trainer.should_stop = True
