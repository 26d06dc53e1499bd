#!/usr/bin/env bash
# The one-GPU check: experiment=paper_gsm8k_1gpu (DeepSeek-R1-Distill-Qwen-1.5B as A, Qwen2.5-0.5B-Instruct
# as B, colocated vLLM rollouts, bf16-mixed with fp32 master weights) for a few GRPO steps on one GPU of
# >= 80 GB, on a box whose pip reaches PyPI and which reaches the Hugging Face hub (or has both models
# in local folders: POLICY=/path/to/a RESPONDER=/path/to/b):
#
#   HAWKEYE_EXTRA=gpu make setup
#   bash tools/gpu_check/one_gpu.sh
#
# Prints the memory estimate (hawkeye.training.memory) for this GPU, runs the prepare and curate stages
# on a small slice of the data, then src/train.py itself (MLflow on a sqlite store under $WORK), and
# prints the peak GPU memory against the estimate, s/step and whether A's weights changed. Exits
# non-zero when a stage fails or the weights did not change.
#
# Knobs (environment): WORK (default /tmp/hawkeye_one_gpu), STEPS (default 5), PYTHON (default
# .venv/bin/python), POLICY, RESPONDER (local model folders instead of the hub ids).
#   bash tools/gpu_check/one_gpu.sh --print-overrides   # the Hydra overrides every stage gets, one a line
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
WORK="${WORK:-/tmp/hawkeye_one_gpu}"
STEPS="${STEPS:-5}"
PY="${PYTHON:-$ROOT/.venv/bin/python}"

# Every stage composes the same config: the preset, a small slice of the data, outputs under $WORK.
OVERRIDES=(experiment=paper_gsm8k_1gpu
  paths.prepared_dir="$WORK/prepared" paths.curated_dir="$WORK/curated" paths.train_dir="$WORK/train"
  data.train_size=64 data.test_size=16 curate.max_train_rows=32
  grpo.max_steps="$STEPS" tracking.experiment=hawkeye-one-gpu-check)  # no checkpoint: the preset writes every 50 steps
if [[ -n ${POLICY:-} ]]; then OVERRIDES+=(policy.name_or_path="$POLICY"); fi
if [[ -n ${RESPONDER:-} ]]; then OVERRIDES+=(responder.name_or_path="$RESPONDER"); fi
if [[ ${1:-} == --print-overrides ]]; then printf '%s\n' "${OVERRIDES[@]}"; exit 0; fi
[[ -z ${1:-} ]] || { echo "usage: bash tools/gpu_check/one_gpu.sh [--print-overrides]" >&2; exit 2; }

rm -rf "$WORK"; mkdir -p "$WORK"
export MLFLOW_TRACKING_URI="sqlite:///$WORK/mlflow.db" PYTHONUNBUFFERED=1
echo "== one-GPU check $(date -u +%FT%TZ) in $ROOT; WORK=$WORK STEPS=$STEPS"
nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv || true
"$PY" -c "import sys, torch; assert torch.cuda.is_available(), 'no CUDA device'; \
print('torch', torch.__version__, torch.cuda.get_device_name(0), torch.cuda.get_device_properties(0).total_memory / 1e9, 'GB')" \
  || { echo "no CUDA GPU visible to $PY" >&2; exit 3; }

echo "== 1. memory estimate for this GPU"
(cd "$WORK" && "$PY" -m hawkeye.training.memory "${OVERRIDES[@]}") | tee "$WORK/estimate.txt"

# Stages run from $WORK: MLflow's default artifact root ./mlruns lands there, not in the repository.
echo "== 2. prepare (64 training questions) and curate (A's own CoTs for 32 of them)"
(cd "$WORK" && "$PY" "$ROOT/pipelines/prepare.py" "${OVERRIDES[@]}" hydra.run.dir="$WORK/hydra_prepare") > "$WORK/prepare.log" 2>&1 \
  || { tail -30 "$WORK/prepare.log" >&2; echo "prepare failed: $WORK/prepare.log" >&2; exit 4; }
(cd "$WORK" && "$PY" "$ROOT/pipelines/curate.py" "${OVERRIDES[@]}" hydra.run.dir="$WORK/hydra_curate") > "$WORK/curate.log" 2>&1 \
  || { tail -30 "$WORK/curate.log" >&2; echo "curate failed: $WORK/curate.log" >&2; exit 5; }

echo "== 3. train: python src/train.py ${OVERRIDES[*]}"
# The whole GPU's memory in use, every 200 ms: B's vLLM engine runs in a process of its own, outside
# the trainer's torch counters.
nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > "$WORK/gpu_memory_mib.txt" 2>/dev/null &
SMI_PID=$!
set +e
(cd "$WORK" && "$PY" "$ROOT/tools/gpu_check/train_with_stats.py" "$WORK/train_stats.json" "$ROOT/src/train.py" \
  "${OVERRIDES[@]}" hydra.run.dir="$WORK/hydra_train" 2>&1) | tee "$WORK/train.log" | grep -vE "^\s*$|UserWarning|warnings.warn"
TRAIN_RC=${PIPESTATUS[0]}
set -e
kill "$SMI_PID" 2>/dev/null || true
echo "train exit code: $TRAIN_RC"
[[ $TRAIN_RC == 0 ]] || exit "$TRAIN_RC"

echo "== 4. figures"
PYTHONPATH="$ROOT/src" "$PY" - "$WORK" "${OVERRIDES[@]}" <<'EOF'
# Peak GPU memory against the estimate, s/step (MLflow), and whether A's weights changed.
import json
import sqlite3
import statistics
import sys
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from safetensors import safe_open

from hawkeye.models.load import resolve_model_path
from hawkeye.paths import CONF_DIR
from hawkeye.training.memory import GB, estimate_training_memory

work, overrides = Path(sys.argv[1]), sys.argv[2:]
with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
    cfg = OmegaConf.to_container(compose(config_name="config", overrides=overrides), resolve=True)
total = torch.cuda.get_device_properties(0).total_memory
est = estimate_training_memory(cfg, total)
stats = json.loads((work / "train_stats.json").read_text())
used = [int(x) for x in (work / "gpu_memory_mib.txt").read_text().split() if x.isdigit()]
peak = max(used, default=0) * 2**20
print(f"estimate {est.total / GB:.1f} GB ({est.summary()})")
print(f"peak GPU memory {peak / GB:.1f} GB in use (nvidia-smi, every process) of {total / GB:.1f} GB; the trainer's "
      f"torch peak {(stats['max_memory_reserved'] or 0) / GB:.1f} GB reserved, "
      f"{(stats['max_memory_allocated'] or 0) / GB:.1f} GB allocated")

con = sqlite3.connect(f"file:{work / 'mlflow.db'}?mode=ro", uri=True)
times = [v for (v,) in con.execute("SELECT value FROM metrics WHERE key LIKE '%step_time_s' ORDER BY step")]
print(f"s/step: median {statistics.median(times[1:] or times):.1f} over {len(times)} steps "
      f"(first step {times[0]:.1f}: compilation and warm-up)" if times else "s/step: no step logged")

folder = Path(resolve_model_path(str(cfg["policy"]["name_or_path"]), cfg["paths"]["models_dir"]))
if not folder.is_dir():  # a hub id: the copy training read from the local hub cache
    from huggingface_hub import snapshot_download
    folder = Path(snapshot_download(str(cfg["policy"]["name_or_path"]), allow_patterns=["*.safetensors", "*.json"]))
final = work / "train" / "final"
init = {}
for f in folder.glob("*.safetensors"):
    with safe_open(str(f), "pt") as src:
        init.update(dict.fromkeys(src.keys(), f))
changed = n = 0
for f in final.glob("*.safetensors"):
    with safe_open(str(f), "pt") as out:
        for key in out.keys():
            if key in init:
                with safe_open(str(init[key]), "pt") as src:
                    a, b = src.get_tensor(key).float(), out.get_tensor(key).float()
                n += 1
                changed += int(a.shape != b.shape or not torch.equal(a, b))
print(f"weights changed: {'YES' if changed else 'NO'} ({changed}/{n} tensors differ from {folder})")
sys.exit(0 if changed else 7)
EOF
