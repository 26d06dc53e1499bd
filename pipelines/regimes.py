"""The regime map (`make regimes`, after the Quick start): in which regimes does Model B in the training
loop prevent collapse? (`hawkeye.regimes`; docs/regimes.md)

    python pipelines/regimes.py experiment=regimes
    python pipelines/regimes.py experiment=regimes regimes.warm_starts=[1,2,3]   # after `make replicate`

Writes reports/regimes/regimes.{md,json,png}; every run is logged to MLflow (experiment `hawkeye-regimes`).
"""

from __future__ import annotations

import subprocess
import sys

import hydra
from omegaconf import DictConfig

import hawkeye.runtime
from hawkeye.paths import REPO_ROOT
from hawkeye.regimes.run import run
from hawkeye.tracking.mlflow_run import stage_run


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    cfg = hawkeye.runtime.start(cfg)
    header = f"# The regime map\n\nCommit `{_commit()}`; `python pipelines/regimes.py experiment=regimes`."
    with stage_run(cfg, stage="regimes", run_name="regimes map", tags={"regimes": "map"}):
        run(cfg, header)


if __name__ == "__main__":
    sys.argv = hawkeye.runtime.flags_first(sys.argv)
    main()
