"""DVC stage `evaluate`: quality (with bootstrap intervals) of base and trained Model A's, alone and
with Model B, on the held-out splits; then serving latency of Baseline vs Hawkeye.

    python pipelines/evaluate.py experiment=smoke
    python pipelines/evaluate.py eval.latency=false eval.datasets=[gsm8k_test]
    python pipelines/evaluate.py eval.policy_checkpoint=runs/train/final   # one checkpoint, no arms

Trained A's are the arm runs under ${paths.train_dir}/<arm>/seed<k>/ (see hawkeye.runs).
Writes ${paths.eval_dir}/{metrics.json, results.md, latency.json, samples/<dataset>.jsonl};
one MLflow run (stage=evaluate) per dataset.
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

import hawkeye.runtime
from hawkeye.evaluation.run import evaluate


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    cfg = hawkeye.runtime.start(cfg)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
    evaluate(cfg)


if __name__ == "__main__":
    sys.argv = hawkeye.runtime.flags_first(sys.argv)
    main()
