"""DVC stage `curate`: Model A's own CoTs (c_orig) for the prepared rows, refined.

    python pipelines/curate.py                      # experiment=packaged
    python pipelines/curate.py experiment=smoke     # tiny random models, seconds
    python pipelines/curate.py rollout=vllm curate=llm
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

import hawkeye.runtime
from hawkeye.curation import curate
from hawkeye.tracking.mlflow_run import stage_run


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    cfg = hawkeye.runtime.start(cfg)
    splits = curate.load_inputs(cfg)  # every input row validated before any model loads
    run_name = f"curate-{cfg.policy.name}-{cfg.curate.method}"
    with stage_run(cfg, stage="curate", run_name=run_name, data_files=curate.input_paths(cfg).values()):
        metrics = curate.run(cfg, splits)
    print(
        f"curated {metrics['rows']} rows -> {curate.output_dir(cfg)}: "
        f"mean CoT {metrics['mean_cot_orig_tokens']:.1f} -> {metrics['mean_cot_refined_tokens']:.1f} tokens "
        f"(compression {metrics['compression_ratio']:.3f}), orig accuracy {metrics['orig_correct_accuracy']:.3f}"
    )


if __name__ == "__main__":  # vLLM on CPU spawns workers: keep the entry point guarded
    sys.argv = hawkeye.runtime.flags_first(sys.argv)
    main()
