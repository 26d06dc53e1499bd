#!/usr/bin/env bash
# One prepared check for a lent GPU machine (torch, lightning, transformers; no vllm/trl/hydra/mlflow).
# Runs a few GRPO steps of hawkeye's module on a Qwen2-0.5B-shaped random bf16 model with HF rollouts
# and a fake reward; prints step time and rollout tokens/s. Results also land in $OUT (if set).
#   bash bench/gpu_check.sh            # on the GPU machine (~2-4 min including model init)
#   bash bench/gpu_check.sh --tiny     # CPU dry run of the same script
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/hawkeye_gpu_check}"; mkdir -p "$OUT"
python -c "import torch, lightning, transformers; print('torch', torch.__version__, 'lightning', lightning.__version__, 'transformers', transformers.__version__, 'cuda', torch.cuda.is_available())"
nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv 2>/dev/null || true
if [[ "${1:-}" == "--tiny" ]]; then
  OMP_NUM_THREADS=1 python bench/gpu_grpo_step.py --tiny --steps 3 --group 2 --questions 2 | tee "$OUT/gpu_grpo_tiny.log"
else
  # 4 questions x G=8 x 256 tokens, micro-batch 8: the shape of a small real run.
  python bench/gpu_grpo_step.py --steps 4 --group 8 --questions 4 --tokens 256 --micro-batch 8 | tee "$OUT/gpu_grpo_step.log"
  python bench/gpu_grpo_step.py --steps 3 --group 8 --questions 8 --tokens 512 --micro-batch 16 | tee "$OUT/gpu_grpo_step_large.log"
fi
