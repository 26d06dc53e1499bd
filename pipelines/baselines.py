"""The supervised baselines (DVC stage `baselines`): base A fine-tuned on its own refined CoTs
(sft_refined) and on the generator's critical-only CoTs (sft_critical), per seed.

    python pipelines/baselines.py --config-dir . --config-name params    # what the `baselines` stage runs
    python pipelines/baselines.py experiment=testbed_quick baselines.seeds=[1]

Each run writes ${paths.baselines_dir}/[ws<k>/]<baseline>/seed<s>/ (the layout of a GRPO arm run), which the
evaluate stage scores beside the arms; this script writes ${paths.baselines_dir}/timings.json
(wall seconds per run).
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

import hawkeye.runtime
from hawkeye.baselines.train import output_dir, run_baselines
from hawkeye.files import write_json
from hawkeye.replicates import label, replicates


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    cfg = hawkeye.runtime.start(cfg)
    timings = {}
    for ws, rcfg in replicates(cfg):  # each warm start's base A, fine-tuned on its own curated rows
        timings[label(ws)] = run_baselines(rcfg)  # a missing or bad curated file fails first, naming it
        for kind, seeds in timings[label(ws)].items():
            print(f"[baselines] {label(ws)} {kind}: " + ", ".join(f"seed {s} {t:.0f} s" for s, t in seeds.items()),
                  flush=True)
    write_json(output_dir(cfg) / "timings.json", {"seconds": timings})


if __name__ == "__main__":  # the runs are spawned workers: keep the entry point guarded
    sys.argv = hawkeye.runtime.flags_first(sys.argv)
    main()
