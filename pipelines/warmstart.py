"""DVC stage `warmstart`: the testbed's Model A and Model B trained from scratch (the gate is the next stage).

    python pipelines/warmstart.py                        # experiment=testbed (the default)
    python pipelines/warmstart.py warmstart.a.steps=200  # quicker, and probably below the gate

Writes one A and one B per warm start (`warmstart.seeds`) as HF folders under
`models/warmstarts/ws<k>/` (`hawkeye.replicates`); a run killed mid-way resumes from
`runs/warmstart/ws<k>/checkpoints/`.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

import hawkeye.runtime
from hawkeye.tracking.mlflow_run import stage_run
from hawkeye.warmstart import stage


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    cfg = hawkeye.runtime.start(cfg)
    stage.load_split(cfg, cfg.data.train_split)  # bad or missing data fails before any training
    with stage_run(cfg, stage="warmstart", run_name=f"warmstart {cfg.policy.name}+{cfg.responder.name}"):
        summary = stage.run(cfg)
    print(f"warm starts {summary['warm_starts']}: {summary['train_time_s']:.0f} s training; "
          f"parameters: {summary['params']}")


if __name__ == "__main__":  # the two models train in spawned processes: keep the entry point guarded
    sys.argv = hawkeye.runtime.flags_first(sys.argv)
    main()
