"""DVC stage `curate`: Model A's own CoTs (c_orig) for the prepared rows, refined.

    python pipelines/curate.py                      # experiment=packaged
    python pipelines/curate.py experiment=smoke     # tiny random models, seconds
    python pipelines/curate.py rollout=vllm curate=llm

With warm starts (`warmstart.seeds`), once per replicate: `data/curated/ws<k>/` (`hawkeye.replicates`).
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

import hawkeye.runtime
from hawkeye.curation import curate
from hawkeye.replicates import label, replicates
from hawkeye.tracking.mlflow_run import stage_run


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    cfg = hawkeye.runtime.start(cfg)
    for ws, rcfg in replicates(cfg):  # c_orig is each warm-started A's own CoT
        splits = curate.load_inputs(rcfg)  # every input row validated before any model loads
        run_name = f"curate-{rcfg.policy.name}-{rcfg.curate.method}" + ("" if ws is None else f"-{label(ws)}")
        with stage_run(rcfg, stage="curate", run_name=run_name, data_files=curate.input_paths(rcfg).values()):
            metrics = curate.run(rcfg, splits)
        print(
            f"curated {metrics['rows']} rows -> {curate.output_dir(rcfg)}: "
            f"mean CoT {metrics['mean_cot_orig_tokens']:.1f} -> {metrics['mean_cot_refined_tokens']:.1f} tokens "
            f"(compression {metrics['compression_ratio']:.3f}), orig accuracy {metrics['orig_correct_accuracy']:.3f}",
            flush=True,
        )


if __name__ == "__main__":  # vLLM on CPU spawns workers: keep the entry point guarded
    sys.argv = hawkeye.runtime.flags_first(sys.argv)
    main()
