"""HF transformers backend: batched `generate` on a model in memory (also the live policy)."""

from __future__ import annotations

from typing import Any

import torch

from hawkeye.generation.base import Generation, SamplingParams
from hawkeye.generation.eos import eos_ids, stop_ids


class HFBackend:
    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 16, synced_gpus: bool = False) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        # An FSDP-sharded policy all-gathers its weights inside every forward: all ranks must run the
        # same number of decoding steps, so generate() keeps going until every rank has finished.
        self.synced_gpus = synced_gpus

    @torch.no_grad()
    def generate(self, prompts: list[str], params: SamplingParams) -> list[Generation]:
        # Seed once per call: the same prompts + seed give the same samples on CPU.
        torch.manual_seed(params.seed)
        was_training = self.model.training
        self.model.eval()
        try:
            out: list[Generation] = []
            for start in range(0, len(prompts), self.batch_size):
                out.extend(self._generate_batch(prompts[start : start + self.batch_size], params))
            return out
        finally:
            self.model.train(was_training)

    def _generate_batch(self, prompts: list[str], params: SamplingParams) -> list[Generation]:
        tok = self.tokenizer
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        enc = {k: v.to(self.model.device) for k, v in enc.items()}
        sampling = params.temperature > 0
        stops = stop_ids(eos_ids(self.model.generation_config, tok), params.stop_token_ids)
        out = self.model.generate(
            **enc,
            max_new_tokens=params.max_new_tokens,
            do_sample=sampling,
            temperature=params.temperature if sampling else None,
            top_p=params.top_p if sampling else None,
            top_k=0 if sampling else None,  # pure temperature/top-p sampling, as vLLM does
            pad_token_id=tok.pad_token_id,
            eos_token_id=stops,
            synced_gpus=self.synced_gpus,
        )
        new_tokens = out[:, enc["input_ids"].shape[1] :].tolist()
        eos = set(stops)
        gens = []
        for row, ids, mask in zip(new_tokens, enc["input_ids"].tolist(), enc["attention_mask"].tolist(), strict=True):
            cut = next((i + 1 for i, t in enumerate(row) if t in eos), None)
            kept = row[:cut] if cut is not None else row
            text_ids = kept[:-1] if cut is not None else kept
            gens.append(
                Generation(
                    text=tok.decode(text_ids, skip_special_tokens=True),
                    token_ids=kept,
                    prompt_token_ids=[t for t, m in zip(ids, mask, strict=True) if m],
                    finish_reason="stop" if cut is not None else "length",
                )
            )
        return gens

    def close(self) -> None:
        pass

