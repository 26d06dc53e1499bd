"""Schema of the `baselines` config group: the supervised baselines GRPO is compared against."""

from __future__ import annotations

from dataclasses import dataclass

from hawkeye.errors import ConfigError

# The baselines there are (their targets: `hawkeye.baselines.targets`).
KINDS = ("sft_refined", "sft_critical")


@dataclass
class BaselinesConfig:
    """Base A fine-tuned with the warm start's SFT loop (`hawkeye.warmstart.sft`) on shorter CoTs."""

    run: list[str]                 # which baselines train
    seeds: list[int]               # a seed draws each step's batch
    steps: int
    batch_size: int
    lr: float
    warmup_steps: int
    checkpoint_every_n_steps: int  # a run killed mid-way resumes from its last checkpoint
    jobs: int                      # runs side by side, one core each

    def __post_init__(self) -> None:
        for name in self.run:
            if name not in KINDS:
                raise ConfigError(f"run={list(self.run)}: unknown baseline {name!r} (known: {list(KINDS)})")
        if len(set(self.run)) != len(self.run):
            raise ConfigError(f"run={list(self.run)} names a baseline twice")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds={list(self.seeds)} must be a non-empty list of distinct seeds")
        for key in ("steps", "batch_size", "checkpoint_every_n_steps", "jobs"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key}={getattr(self, key)} must be >= 1")
        if self.warmup_steps < 0:
            raise ConfigError(f"warmup_steps={self.warmup_steps} must be >= 0")
        if self.lr <= 0:
            raise ConfigError(f"lr={self.lr} must be > 0")
