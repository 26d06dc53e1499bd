"""Stage `prepare`: write the prepared jsonl splits + manifest into `${paths.prepared_dir}`.

python pipelines/prepare.py                    # packaged sizes -> data/prepared
python pipelines/prepare.py experiment=smoke   # tiny sizes -> data/smoke/prepared (seconds)
"""

from __future__ import annotations

import logging
import sys

import hydra
import mlflow
from omegaconf import DictConfig

from hawkeye.data.prepare import run
from hawkeye.runtime import flags_first, start
from hawkeye.tracking.mlflow_run import stage_run
from hawkeye.tracking.names import PREPARE, stage_metrics

log = logging.getLogger("prepare")


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    cfg = start(cfg)  # validate first (names a bad key), then the MLflow store, threads and seeds
    with stage_run(cfg, stage="prepare", run_name=f"prepare {cfg.data.name}"):
        manifest = run(cfg)
        mlflow.log_metrics(stage_metrics(PREPARE, {f"rows_{name}": f["rows"] for name, f in manifest["files"].items()}))
        mlflow.log_dict(manifest, "manifest.json")
    log.info("prepared %s", {name: f["rows"] for name, f in manifest["files"].items()})


if __name__ == "__main__":
    sys.argv = flags_first(sys.argv)
    main()
