"""The collaboration of Algorithm 1 (line 5): frozen Model B reads (q, c, s) and writes â.

`Responder` wraps a generation backend around Model B. B is frozen: eval mode, no gradients, and
it never enters the optimizer (it is a plain attribute of the training module, not a submodule).
With `responder=none` (no `name_or_path`) there is no B: A's own completion is scored directly,
the ablation of the paper's claim (1), that without B the policy collapses to very short CoTs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from hawkeye.generation.base import Generation, GenerationBackend, SamplingParams
from hawkeye.prompts import render
from hawkeye.responder.reads import responder_prompt


@dataclass
class Responder:
    backend: GenerationBackend
    params: SamplingParams
    answer_leak: str = "mask"

    @classmethod
    def from_config(cls, cfg: Any) -> Responder | None:
        """Model B from `cfg.responder` on `cfg.rollout`'s backend; None for `responder=none`."""
        if cfg.responder.get("name_or_path") is None:
            return None
        from hawkeye.generation.factory import make_backend
        from hawkeye.generation.vllm_args import responder_rollout

        # B's engine shares the GPU with A's in training: its own GPU share, not A's.
        backend = make_backend(cfg.responder, responder_rollout(cfg.rollout), cfg.paths.models_dir, seed=int(cfg.seed))
        freeze(getattr(backend, "model", None))
        params = SamplingParams(
            max_new_tokens=int(cfg.rollout.responder_max_new_tokens),
            temperature=float(cfg.rollout.responder_temperature),
            top_p=float(cfg.rollout.top_p),
            seed=int(cfg.seed),
        )
        return cls(backend=backend, params=params, answer_leak=str(cfg.reward.answer_leak))

    def answer(self, questions: list[str], cots: list[str], seed: int | None = None) -> list[Generation]:
        """â for each (q, c): B's new tokens only (Generation.text never contains the prompt). B reads c
        as `reads.responder_prompt` builds it, the builder evaluation and serving use too."""
        tok = self.backend.tokenizer
        prompts = [render(tok, responder_prompt(q, c, self.answer_leak)[1]) for q, c in zip(questions, cots, strict=True)]
        params = self.params if seed is None else replace(self.params, seed=seed)
        return self.backend.generate(prompts, params)

    def to(self, device: Any) -> Responder:
        model = getattr(self.backend, "model", None)
        if model is not None:
            model.to(device)
        return self

    def close(self) -> None:
        self.backend.close()


def freeze(model: Any) -> None:
    """Eval mode and no gradients: B is never trained."""
    if model is None:
        return
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
