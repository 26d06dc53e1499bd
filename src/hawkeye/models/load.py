"""Resolve and load models: a local HF folder, a `tiny:` spec built on the fly, or a hub id.

Safe by default: weights load from safetensors only (never pickles), `trust_remote_code` is off
unless the config turns it on, and a bad path fails before anything is downloaded or allocated.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from hawkeye.errors import ModelError
from hawkeye.paths import resolve

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_model_path(name_or_path: str, models_dir: str = "models") -> str:
    """Return a loadable local folder or hub id, or raise ModelError saying what is missing."""
    if name_or_path.startswith("tiny:"):
        from hawkeye.models.tiny import ensure_tiny_model

        return str(ensure_tiny_model(name_or_path, resolve(models_dir) / "tiny"))
    local = resolve(name_or_path)
    looks_local = name_or_path.startswith(("/", ".", "~")) or Path(name_or_path).parts[0] == Path(models_dir).name
    if local.exists() or looks_local:
        check_model_dir(local)
        return str(local)
    if HUB_ID.match(name_or_path):
        return name_or_path  # loaded from the hub (or its local cache) by transformers/vLLM
    raise ModelError(f"model path does not exist and is not a hub id: {name_or_path!r}")


def check_model_dir(path: Path) -> None:
    """A usable HF folder: config, tokenizer and safetensors weights present."""
    if not path.is_dir():
        raise ModelError(f"model path does not exist: {path} (run `dvc repro models` to assemble it)")
    if not (path / "config.json").is_file():
        raise ModelError(f"model folder has no config.json: {path}")
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        raise ModelError(f"model folder has no tokenizer ({' / '.join(TOKENIZER_FILES)}): {path}")
    if not list(path.glob("*.safetensors")):
        raise ModelError(f"model folder has no *.safetensors weights (pickled weights are refused): {path}")


def torch_dtype(name: str) -> torch.dtype | str:
    return "auto" if name == "auto" else DTYPES[name]


def load_tokenizer(path: str, trust_remote_code: bool = False) -> Any:
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot load tokenizer from {path}: {e}") from e
    tok.padding_side = "left"  # decoder-only generation pads on the left
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_causal_lm(path: str, dtype: str = "float32", trust_remote_code: bool = False) -> Any:
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(
            path,
            dtype=torch_dtype(dtype),
            trust_remote_code=trust_remote_code,
            use_safetensors=True,
        )
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise ModelError(f"cannot load weights from {path}: {e}") from e


def load_model_and_tokenizer(model_cfg: Any, models_dir: str = "models") -> tuple[Any, Any, str]:
    """(model, tokenizer, resolved path) for a `policy`/`responder` config node."""
    if model_cfg.get("name_or_path") is None:
        raise ModelError(f"model '{model_cfg.get('name')}' has no name_or_path")
    path = resolve_model_path(model_cfg["name_or_path"], models_dir)
    trust = bool(model_cfg.get("trust_remote_code", False))
    tok = load_tokenizer(path, trust)
    model = load_causal_lm(path, model_cfg.get("dtype", "float32"), trust)
    return model, tok, path
