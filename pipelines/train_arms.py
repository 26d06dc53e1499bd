"""DVC stage `train`: GRPO on Model A in every ablation arm and seed (`arms`), side by side.

    python pipelines/train_arms.py                         # experiment=testbed: 3 arms x 3 seeds
    python pipelines/train_arms.py arms.seeds=[1] arms.jobs=1

Each run is `src/train.py` with the arm's overrides (one MLflow run each, tagged `arm`), written to
${paths.train_dir}/<arm>/seed<seed>/; this stage writes ${paths.train_dir}/timings.json (wall seconds per run:
not hashed by DVC, see .dvcignore).
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

import hawkeye.runtime
from hawkeye.files import write_json
from hawkeye.paths import resolve
from hawkeye.training.arms import run_arms
from hawkeye.training.data import load_train_rows
from hawkeye.training.fit import train_data_path


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    cfg = hawkeye.runtime.start(cfg)
    load_train_rows(train_data_path(cfg))  # bad or missing data fails here, not in nine child runs
    timings = run_arms(cfg)
    write_json(resolve(cfg.paths.train_dir) / "timings.json", {"seconds": timings})
    for arm, seeds in timings.items():
        print(f"[train] {arm}: " + ", ".join(f"seed {s} {t:.0f} s" for s, t in seeds.items()))


if __name__ == "__main__":
    sys.argv = hawkeye.runtime.flags_first(sys.argv)
    main()
