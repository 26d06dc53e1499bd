"""DVC stage `train`: GRPO on Model A in every ablation arm and seed (`arms`), side by side.

    python pipelines/train_arms.py                         # experiment=testbed: 3 arms x 3 seeds
    python pipelines/train_arms.py arms.seeds=[1] arms.jobs=1

Each run is `src/train.py` with the arm's overrides (one MLflow run each, tagged `arm`), written to
${paths.train_dir}/[ws<k>/]<arm>/seed<seed>/ (once per warm start, `hawkeye.replicates`); this stage writes ${paths.train_dir}/timings.json (wall seconds per run:
not hashed by DVC, see .dvcignore).
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

import hawkeye.runtime
from hawkeye.files import write_json
from hawkeye.paths import resolve
from hawkeye.replicates import label, replicates
from hawkeye.training.arms import run_arms
from hawkeye.training.data import load_train_rows
from hawkeye.training.fit import train_data_path


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    cfg = hawkeye.runtime.start(cfg)
    pairs = replicates(cfg)
    for _, rcfg in pairs:
        load_train_rows(train_data_path(rcfg))  # bad or missing data fails here, not in a child run
    timings = {}
    for ws, rcfg in pairs:  # GRPO from each warm start's A, against its own c_orig, read by its own B
        print(f"[train] warm start {label(ws)}: {len(rcfg.arms.run)} arms x {len(rcfg.arms.seeds)} seeds", flush=True)
        timings[label(ws)] = run_arms(rcfg)
    write_json(resolve(cfg.paths.train_dir) / "timings.json", {"seconds": timings})
    for ws, arms in timings.items():
        for arm, seeds in arms.items():
            print(f"[train] {ws} {arm}: " + ", ".join(f"seed {s} {t:.0f} s" for s, t in seeds.items()))


if __name__ == "__main__":
    sys.argv = hawkeye.runtime.flags_first(sys.argv)
    main()
