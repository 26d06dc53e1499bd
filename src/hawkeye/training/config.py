"""Schemas of the `grpo` (the algorithm) and `trainer` (Lightning) config groups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hawkeye.errors import ConfigError

LOSS_TYPES = ("grpo", "dr_grpo", "dapo")
SCALE_REWARDS = ("group", "batch", "none")


@dataclass
class GRPOConfig:
    group_size: int          # G: CoTs sampled per question
    questions_per_step: int  # N: questions per optimizer step
    loss_type: str
    scale_rewards: str
    epsilon: float           # clip range, low side
    epsilon_high: float      # clip range, high side (DAPO's clip-higher when larger)
    beta: float              # KL to a frozen reference; 0 = no reference model
    num_iterations: int      # μ: optimisation passes per rollout batch
    lr: float
    weight_decay: float
    max_steps: int

    def __post_init__(self) -> None:
        if self.group_size < 2:
            raise ConfigError(f"group_size={self.group_size} must be >= 2 (advantages are group-relative)")
        if self.questions_per_step < 1:
            raise ConfigError(f"questions_per_step={self.questions_per_step} must be >= 1")
        if self.loss_type not in LOSS_TYPES:
            raise ConfigError(f"loss_type={self.loss_type!r} must be one of {LOSS_TYPES}")
        if self.scale_rewards not in SCALE_REWARDS:
            raise ConfigError(f"scale_rewards={self.scale_rewards!r} must be one of {SCALE_REWARDS}")
        if self.epsilon < 0 or self.epsilon_high < 0 or self.beta < 0:
            raise ConfigError("epsilon, epsilon_high and beta must be >= 0")
        if self.num_iterations < 1 or self.max_steps < 1:
            raise ConfigError("num_iterations and max_steps must be >= 1")
        if self.lr <= 0:
            raise ConfigError(f"lr={self.lr} must be > 0")


@dataclass
class LoraConfig:
    enabled: bool
    r: int
    alpha: int
    dropout: float
    target_modules: list[str]


@dataclass
class TrainerConfig:
    accelerator: str
    devices: int
    num_nodes: int
    strategy: str                  # auto | ddp | fsdp (Lightning strategies)
    precision: str                 # bf16-mixed on GPU
    accumulate_grad_batches: int   # must be 1: accumulation is over micro-batches within a step
    gradient_clip_val: float
    checkpoint_every_n_steps: int
    micro_batch_size: int          # completions per forward/backward; 0 = all of a step at once
    stop_on_collapse: bool         # stop a run once it has collapsed (hawkeye.collapse)
    num_threads: int               # torch threads on CPU (oversubscription is 3-20x slower)
    lora: LoraConfig

    def __post_init__(self) -> None:
        if self.devices < 1 or self.num_nodes < 1:
            raise ConfigError("devices and num_nodes must be >= 1")
        if self.accumulate_grad_batches != 1:
            # GRPO optimises manually: gradients are accumulated over micro-batches inside a step.
            raise ConfigError(
                f"accumulate_grad_batches={self.accumulate_grad_batches}: must be 1; set "
                "trainer.micro_batch_size to accumulate gradients over micro-batches within a step"
            )
        if self.checkpoint_every_n_steps < 1:
            raise ConfigError(f"checkpoint_every_n_steps={self.checkpoint_every_n_steps} must be >= 1")
        if self.micro_batch_size < 0:
            raise ConfigError(f"micro_batch_size={self.micro_batch_size} must be >= 0")


# Lightning precisions that store the trained weights themselves in 16 bits.
LOW_PRECISION_WEIGHTS = ("bf16-true", "16-true", "bf16", "16", "half")


def check_master_weights(cfg: Any) -> None:
    """Training keeps fp32 master weights; called by the train entry point right after validation,
    before any model loads (evaluation and serving may load the same policy in bf16).

    AdamW steps on bf16/fp16 weights round small updates away: bf16 keeps 8 significant bits, so
    bf16(0.02) + 1e-5 == 0.02 and lr 1e-5 learns nothing. bf16 compute comes from
    trainer.precision=bf16-mixed instead (autocast under DDP, FSDP's param_dtype under FSDP)."""
    t = cfg["trainer"]
    if t["lora"]["enabled"]:
        return  # PEFT keeps the trained adapters in fp32 on a frozen low-precision base
    dtype = cfg["policy"]["dtype"]
    if dtype != "float32":
        raise ConfigError(
            f"config key 'policy.dtype'={dtype} with full fine-tuning: AdamW updates of 16-bit weights round "
            "to nothing at small learning rates (bf16(0.02) + 1e-5 == 0.02). Set policy.dtype=float32 with "
            "trainer.precision=bf16-mixed (fp32 master weights, bf16 compute), or train LoRA adapters on the "
            "16-bit base with trainer.lora.enabled=true"
        )
    if t["precision"] in LOW_PRECISION_WEIGHTS:
        raise ConfigError(
            f"config key 'trainer.precision'={t['precision']} stores the trained weights in 16 bits; use "
            "bf16-mixed (fp32 master weights, bf16 compute) or trainer.lora.enabled=true"
        )
