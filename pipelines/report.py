"""Report stage: read the MLflow runs of this experiment (or one sweep) back into `reports/`.

    python pipelines/report.py                          # the newest run per (λ, α, B) and per dataset
    python pipelines/report.py tracking.sweep_id=sweep-1a2b3c4d5e

Writes reports/summary.md (poster-style tables), pareto.png and collapse.png, and logs them to a
`report` run in MLflow.
"""

from __future__ import annotations

import sys

import hydra
import mlflow
from mlflow import MlflowClient
from omegaconf import DictConfig

import hawkeye.runtime
from hawkeye.evaluation.report import results_table
from hawkeye.files import write_text
from hawkeye.paths import resolve
from hawkeye.reporting.collect import eval_runs, train_runs
from hawkeye.reporting.figures import collapse_overlay_figure, pareto_figure
from hawkeye.reporting.summary import eval_results_from_metrics, render_summary
from hawkeye.tracking.mlflow_run import stage_run, tracking_uri


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    cfg = hawkeye.runtime.start(cfg)
    out = resolve(cfg.paths.reports_dir)
    out.mkdir(parents=True, exist_ok=True)
    sweep = cfg.tracking.sweep_id
    with stage_run(cfg, stage="report", run_name=f"report {cfg.tracking.experiment}"):
        client = MlflowClient(tracking_uri(cfg))
        runs = train_runs(client, cfg.tracking.experiment, sweep)
        tables: dict[str, str] = {}
        for run in eval_runs(client, cfg.tracking.experiment, sweep):
            dataset = run.data.tags.get("dataset", run.info.run_name)
            res = eval_results_from_metrics(run.data.metrics)
            tables[f"{dataset} ({run.info.run_name})"] = results_table({dataset: res})
        for name, fig in (("pareto.png", pareto_figure(runs)), ("collapse.png", collapse_overlay_figure(runs))):
            fig.savefig(out / name, dpi=130)
            mlflow.log_figure(fig, name)
        summary = render_summary(cfg.tracking.experiment, sweep, runs, tables,
                                 {"MLflow store": f"`{tracking_uri(cfg)}`"})
        write_text(out / "summary.md", summary)
        mlflow.log_text(summary, "summary.md")
        mlflow.log_metrics({"train_runs": len(runs), "eval_tables": len(tables)})
    print(summary)


if __name__ == "__main__":
    sys.argv = hawkeye.runtime.flags_first(sys.argv)
    main()
