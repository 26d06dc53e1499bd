"""Report stage: what the arms did in training, the λ × α Pareto of every finished train run in
MLflow, and the evaluation tables, into `reports/`.

    python pipelines/report.py
    python pipelines/report.py tracking.sweep_id=sweep-1a2b3c4d5e     # the Pareto plot of one sweep only

Reads ${paths.train_dir}/<arm>/seed<k>/ (arm runs), the MLflow experiment (train runs) and
${paths.eval_dir}/{metrics,latency}.json. Writes reports/summary.md, collapse.png and pareto.png,
and logs them to a `report` run in MLflow.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

import hawkeye.runtime
from hawkeye.reporting.build import build_report


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    cfg = hawkeye.runtime.start(cfg)
    print(build_report(cfg))


if __name__ == "__main__":
    sys.argv = hawkeye.runtime.flags_first(sys.argv)
    main()
