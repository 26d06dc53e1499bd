"""Train Model A with GRPO, frozen Model B in the reward loop (Algorithm 1).

    python src/train.py experiment=smoke
    python src/train.py experiment=smoke -m lambda=0.1,1.0        # a sweep: one MLflow run per job
    python src/train.py experiment=packaged responder=none      # the collapse ablation
    python src/train.py experiment=smoke resume=true               # continue last.ckpt, same MLflow run

Writes `${paths.train_dir}/{final/,checkpoints/,metrics.json,collapse_curve.tsv}`; in a multirun each
job writes under its own Hydra job folder instead. Returns the final mean reward (for sweepers).
Under DDP/FSDP (`trainer=ddp trainer.devices=2`) every process runs this script; rank 0 alone opens
the MLflow run and writes the files.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

import hawkeye.runtime
from hawkeye.paths import resolve
from hawkeye.replicates import standalone_run
from hawkeye.tracking.mlflow_run import stage_run
from hawkeye.training import checkpointing
from hawkeye.training.arms import run_arm
from hawkeye.training.config import check_master_weights
from hawkeye.training.data import load_train_rows
from hawkeye.training.fit import fit, train_data_path
from hawkeye.training.memory import check_memory


def job_train_dir(cfg: DictConfig) -> Path:
    """`paths.train_dir`, or the Hydra job folder when this job is one of a sweep."""
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return Path(HydraConfig.get().runtime.output_dir) / "train"
    return resolve(cfg.paths.train_dir)


def sweep_id(cfg: DictConfig) -> str | None:
    """The tag shared by the runs of one sweep: set explicitly, $HAWKEYE_SWEEP_ID, or the sweep folder."""
    if cfg.tracking.sweep_id or os.environ.get("HAWKEYE_SWEEP_ID"):
        return cfg.tracking.sweep_id or os.environ["HAWKEYE_SWEEP_ID"]
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        sweep_dir = str(resolve(HydraConfig.get().sweep.dir))
        return "sweep-" + hashlib.sha256(sweep_dir.encode()).hexdigest()[:10]
    return None


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float:
    cfg = standalone_run(hawkeye.runtime.start(cfg))  # a run by hand or in a sweep: the first warm start
    check_master_weights(cfg)  # fp32 master weights: refused before any model loads
    check_memory(cfg)  # a policy too big for the device: refused with the estimate, before any model loads
    arm = run_arm(cfg)  # the `arm` tag: what this run trains (a lying tracking.arm fails here)
    cfg.tracking.sweep_id = sweep_id(cfg)
    train_dir = job_train_dir(cfg)
    load_train_rows(train_data_path(cfg))  # bad or missing data fails before a run or a model exists
    resume_run_id = checkpointing.prepare(cfg, train_dir)  # fails before any model loads
    run_name = f"train lambda={cfg['lambda']:g} alpha={cfg.alpha:g} responder={cfg.responder.name}"
    with stage_run(cfg, stage="train", run_name=run_name, data_files=[train_data_path(cfg)],
                   run_id=resume_run_id, tags={"train_dir": str(train_dir), "arm": arm}) as run:
        summary = fit(cfg, train_dir, run.info.run_id)
    return float(summary["final"].get("reward_mean", float("nan")))


if __name__ == "__main__":
    sys.argv = hawkeye.runtime.flags_first(sys.argv)
    main()
