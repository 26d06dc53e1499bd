"""Tiny models: deterministic, loadable, and bad model paths fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from hawkeye.errors import ModelError
from hawkeye.files import sha256_file
from hawkeye.models.load import load_causal_lm, resolve_model_path


def test_tiny_spec_is_deterministic(tmp_path: Path, tiny_models_dir: Path) -> None:
    a = Path(resolve_model_path("tiny:qwen2?seed=0", str(tiny_models_dir)))
    b = Path(resolve_model_path("tiny:qwen2?seed=0", str(tmp_path)))
    assert sha256_file(a / "model.safetensors") == sha256_file(b / "model.safetensors")
    assert (a / "tokenizer.json").read_text() == (b / "tokenizer.json").read_text()


def test_missing_model_path(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model_path(str(tmp_path / "nope"), str(tmp_path))
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model_path("models/not-assembled-yet", "models")


def test_folder_without_tokenizer(tmp_path: Path, tiny_models_dir: Path) -> None:
    src = Path(resolve_model_path("tiny:qwen2?seed=0", str(tiny_models_dir)))
    dst = tmp_path / "m"
    dst.mkdir()
    for f in ("config.json", "model.safetensors"):
        (dst / f).write_bytes((src / f).read_bytes())
    with pytest.raises(ModelError, match="no tokenizer"):
        resolve_model_path(str(dst), str(tmp_path))


def test_corrupted_safetensors(tmp_path: Path, tiny_models_dir: Path) -> None:
    src = Path(resolve_model_path("tiny:qwen2?seed=0", str(tiny_models_dir)))
    dst = tmp_path / "m"
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    (dst / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ModelError, match="cannot load weights"):
        load_causal_lm(str(dst))


def test_pickled_weights_refused(tmp_path: Path, tiny_models_dir: Path) -> None:
    src = Path(resolve_model_path("tiny:qwen2?seed=0", str(tiny_models_dir)))
    dst = tmp_path / "m"
    dst.mkdir()
    for f in src.iterdir():
        if f.suffix != ".safetensors":
            (dst / f.name).write_bytes(f.read_bytes())
    (dst / "pytorch_model.bin").write_bytes(b"not really a pickle")
    with pytest.raises(ModelError, match="safetensors"):
        resolve_model_path(str(dst), str(tmp_path))


def test_hub_id_passes_through() -> None:
    assert resolve_model_path("Qwen/Qwen2.5-0.5B-Instruct") == "Qwen/Qwen2.5-0.5B-Instruct"
