"""DVC stage `gate`: the pre-flight gate of the testbed's warm-started A and B, on the validation split.

    python pipelines/gate.py                        # experiment=testbed (the default)
    python pipelines/gate.py warmstart.gate.enforce=false

Writes `runs/warmstart/gate.json`: per warm start, every metric (per number of operations too) and each check.
Fails, naming the metric, its value and its threshold, when the gate is missed.
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
    with stage_run(cfg, stage="gate", run_name=f"gate {cfg.policy.name}+{cfg.responder.name}"):
        summary = stage.gate_stage(cfg)
    for ws, s in summary["warm_starts"].items():
        values = ", ".join(f"{k}={v:.3f}" for k, v in s["gate"].items())
        print(f"gate {ws} {'passed' if s['passed'] else 'MISSED'} on {summary['split']}: {values}")


if __name__ == "__main__":
    sys.argv = hawkeye.runtime.flags_first(sys.argv)
    main()
