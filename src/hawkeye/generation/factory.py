"""Build the backend a config asks for."""

from __future__ import annotations

from typing import Any

from hawkeye.generation.base import GenerationBackend


def make_backend(model_cfg: Any, rollout_cfg: Any, models_dir: str = "models", seed: int = 0) -> GenerationBackend:
    """A backend for a `policy`/`responder`/teacher config node, per `rollout.backend`."""
    if rollout_cfg["backend"] == "vllm":
        from hawkeye.generation.vllm_backend import VLLMBackend  # imports vllm: keep lazy

        return VLLMBackend.from_config(model_cfg, rollout_cfg, models_dir=models_dir, seed=seed)
    from hawkeye.generation.hf import HFBackend
    from hawkeye.models.load import load_model_and_tokenizer

    model, tok, _ = load_model_and_tokenizer(model_cfg, models_dir)
    model.eval()
    return HFBackend(model, tok, batch_size=int(rollout_cfg["batch_size"]))
