"""Train one testbed model from scratch with Lightning: a Llama-shaped decoder, next-token loss on
the target tokens only, AdamW with warm-up and cosine decay.

Step s trains on a batch drawn from `random.Random(seed * 1_000_003 + s)`, so the data of a step
does not depend on how the run got there: a warm start killed mid-way resumes from its last
checkpoint (`last.ckpt` beside a `config.json` of the same settings) and ends where an
uninterrupted one would.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from hawkeye.warmstart.examples import Example

IGNORE = -100
log = logging.getLogger(__name__)


# Positions of the testbed models: prompts and CoTs are ~200 tokens. vLLM refuses a max_model_len
# above it, so conf/experiment/testbed.yaml sets rollout.vllm.max_model_len to it.
MAX_POSITIONS = 1024


def build_model(shape: Any, tokenizer: Any, seed: int) -> Any:
    """A fresh Llama-shaped model (what HF `AutoModelForCausalLM` and vLLM load as `llama`)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=int(shape.hidden),
        intermediate_size=int(shape.intermediate),
        num_hidden_layers=int(shape.layers),
        num_attention_heads=int(shape.heads),
        num_key_value_heads=int(shape.heads),
        max_position_embeddings=MAX_POSITIONS,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        dtype="float32",
    )
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def encode(examples: list[Example], tokenizer: Any) -> dict[str, torch.Tensor]:
    """Right-padded input ids and labels: the prompt is context (label -100), the target + EOS is learned."""
    seqs, labels = [], []
    for prompt, target in examples:
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        t = tokenizer(target, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        seqs.append(p + t)
        labels.append([IGNORE] * len(p) + t)
    width = max(len(s) for s in seqs)
    pad = tokenizer.pad_token_id
    return {
        "input_ids": torch.tensor([s + [pad] * (width - len(s)) for s in seqs]),
        "attention_mask": torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs]),
        "labels": torch.tensor([lab + [IGNORE] * (width - len(lab)) for lab in labels]),
    }


class StepBatches(Dataset):
    """Item s = the batch of step s, drawn from a generator seeded by (seed, s)."""

    def __init__(self, make_example: Callable[[random.Random], Example], tokenizer: Any, steps: int,
                 batch_size: int, seed: int) -> None:
        self.make_example, self.tokenizer = make_example, tokenizer
        self.steps, self.batch_size, self.seed = steps, batch_size, seed

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, step: int) -> dict[str, torch.Tensor]:
        rng = random.Random(self.seed * 1_000_003 + step)
        return encode([self.make_example(rng) for _ in range(self.batch_size)], self.tokenizer)


class SFTModule(L.LightningModule):
    def __init__(self, model: Any, data: StepBatches, lr: float, warmup_steps: int, total_steps: int,
                 name: str = "model") -> None:
        super().__init__()
        self.model, self.data, self.name = model, data, name
        self.started: float | None = None
        self.lr, self.warmup_steps, self.total_steps = lr, warmup_steps, total_steps
        self.losses: list[float] = []

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        # The batch of *this* step, by the step number: after a resume Lightning's loader starts
        # over, but step s must still train on batch s.
        if self.started is None:
            self.started = time.perf_counter()
        loss = self.model(**self.data[self.global_step]).loss
        self.losses.append(float(loss.detach()))
        if self.global_step % 50 == 0:
            log.info("%s step %d/%d: loss %.4f (%.0f s)", self.name, self.global_step, self.total_steps,
                     self.losses[-1], time.perf_counter() - self.started)
        return loss

    def configure_optimizers(self) -> Any:
        opt = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=0.01)

        def schedule(step: int) -> float:  # linear warm-up, then cosine down to 10%
            if step < self.warmup_steps:
                return (step + 1) / self.warmup_steps
            progress = (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)
            return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def train(
    model: Any,
    tokenizer: Any,
    make_example: Callable[[random.Random], Example],
    sft: Any,
    seed: int,
    ckpt_dir: Path,
    checkpoint_every: int,
) -> list[float]:
    """Fit `model` for `sft.steps` steps (resuming from `ckpt_dir/last.ckpt` of the same settings);
    return the loss per step of this process's part of the run."""
    from lightning.pytorch.callbacks import ModelCheckpoint
    from omegaconf import OmegaConf

    sft_settings = OmegaConf.to_container(OmegaConf.structured(sft)) if not isinstance(sft, dict) else dict(sft)
    settings = {"sft": sft_settings, "seed": seed, "vocab": len(tokenizer)}
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    info, last = ckpt_dir / "config.json", ckpt_dir / "last.ckpt"
    resume = last.is_file() and info.is_file() and json.loads(info.read_text()) == settings
    info.write_text(json.dumps(settings, indent=2))
    steps = int(sft.steps)
    data = StepBatches(make_example, tokenizer, steps, int(sft.batch_size), seed)
    module = SFTModule(model, data, float(sft.lr), int(sft.warmup_steps), steps, name=ckpt_dir.name)
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=steps,
        max_epochs=1,
        logger=False,
        callbacks=[ModelCheckpoint(dirpath=ckpt_dir, every_n_train_steps=checkpoint_every, save_last=True,
                                   save_top_k=1, filename="step{step}")],
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        gradient_clip_val=1.0,
        deterministic=True,
    )
    # The loader only paces the loop (one item per step); training_step builds the batch itself.
    loader = DataLoader(range(steps), batch_size=None, shuffle=False, num_workers=0)
    trainer.fit(module, train_dataloaders=loader, ckpt_path=str(last) if resume else None)
    return module.losses
