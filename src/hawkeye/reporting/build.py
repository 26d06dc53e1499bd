"""The report stage: arm runs (files) and every finished train run (MLflow) and the evaluation
results (files) into reports/{summary.md, collapse.png, pareto.png}, logged to a `report` run."""

from __future__ import annotations

from typing import Any

import mlflow
from mlflow import MlflowClient
from omegaconf import DictConfig

from hawkeye.files import write_text
from hawkeye.paths import resolve
from hawkeye.replicates import replicates
from hawkeye.reporting.before_grpo import load_gate
from hawkeye.reporting.collect import load_evaluation, train_runs
from hawkeye.reporting.curves import read_curve, summarize_arms, summarize_run
from hawkeye.reporting.figures import collapse_figure, pareto_figure
from hawkeye.reporting.pareto import pareto_points
from hawkeye.reporting.summary import render_summary
from hawkeye.runs import discover_arm_runs
from hawkeye.tracking import names
from hawkeye.tracking.mlflow_run import stage_run, tracking_uri
from hawkeye.warmstart.stage import gate_file, gate_path


def build_report(cfg: DictConfig) -> str:
    rule = cfg.collapse
    out = resolve(cfg.paths.reports_dir)
    # Inputs first: a bad arm folder or evaluation file fails before an MLflow run is opened.
    found = [run for _, rcfg in replicates(cfg) for run in discover_arm_runs(resolve(rcfg.paths.train_dir))]
    curves = [(run, read_curve(run)) for run in found]
    summaries = [(summarize_run(run, curve, rule), curve) for run, curve in curves]
    arms = summarize_arms([s for s, _ in summaries])
    evaluation = load_evaluation(resolve(cfg.paths.eval_dir), list(cfg.eval.datasets), float(cfg.eval.confidence))
    gate = load_gate(gate_path(cfg))
    with stage_run(cfg, stage="report", run_name=f"report {cfg.tracking.experiment}"):
        client = MlflowClient(tracking_uri(cfg))
        mlflow_runs = train_runs(client, cfg.tracking.experiment, cfg.tracking.sweep_id)
        points = pareto_points(mlflow_runs, int(rule.window_steps))
        out.mkdir(parents=True, exist_ok=True)
        for name, fig in (("collapse.png", collapse_figure(summaries)), ("pareto.png", pareto_figure(points))):
            fig.savefig(out / name, dpi=130)
            mlflow.log_figure(fig, name)
        # Paths as configured (relative to the repository), never this machine's absolute ones: the report
        # is an output DVC hashes, and a clone elsewhere must write the same bytes.
        context = {"Gate": f"`{gate_file(cfg)}`", "Arm runs": f"`{cfg.paths.train_dir}`",
                   "Evaluation": f"`{cfg.paths.eval_dir}`"}
        if cfg.tracking.sweep_id:
            context["Sweep"] = f"`{cfg.tracking.sweep_id}` (the Pareto plot draws only its runs)"
        summary = render_summary(cfg.tracking.experiment, context, [s for s, _ in summaries], arms, rule,
                                 mlflow_runs, points, evaluation, gate=gate, arms_cfg=cfg.arms,
                                 margin=float(cfg.eval.margin or 0.03))
        write_text(out / "summary.md", summary)
        mlflow.log_text(summary, "summary.md")
        mlflow.log_metrics(_report_metrics(arms, len(mlflow_runs), len(points)))
    return summary


def _report_metrics(arms: list[Any], n_runs: int, n_points: int) -> dict[str, float]:
    metrics = {"train_runs": float(n_runs), "pareto_points": float(n_points)}
    for a in arms:
        metrics[names.metric_name(names.ARM, a.arm, "collapsed_runs")] = float(len(a.collapsed))
        metrics[names.metric_name(names.ARM, a.arm, "runs")] = float(len(a.runs))
        for attr in ("length_first", "length_last", "em_first", "em_last"):
            metrics[names.metric_name(names.ARM, a.arm, f"{attr}_mean")] = a.mean_sd(attr)[0]
    return metrics
