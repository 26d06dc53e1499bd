"""Schema of the `warmstart` config group: the testbed's from-scratch models and the pre-flight gate."""

from __future__ import annotations

from dataclasses import dataclass

from hawkeye.errors import ConfigError


@dataclass
class SFTConfig:
    """One model trained from scratch (a Llama-shaped decoder) on next-token prediction."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    steps: int
    batch_size: int
    lr: float
    warmup_steps: int
    threads: int       # torch threads of this model's process (A and B train side by side)

    def check(self, name: str) -> None:
        """Range checks, naming the key as `<name>.<field>` (called by WarmstartConfig, which knows the name)."""
        for key in ("hidden", "layers", "heads", "intermediate", "steps", "batch_size", "threads"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{name}.{key}={getattr(self, key)} must be >= 1")
        if self.hidden % self.heads:
            raise ConfigError(f"{name}.hidden={self.hidden} must be a multiple of {name}.heads={self.heads}")
        if self.lr <= 0:
            raise ConfigError(f"{name}.lr={self.lr} must be > 0")


@dataclass
class BViews:
    """How often each view of a CoT appears in Model B's training data (normalised to sum 1); the views
    are `warmstart.examples.VIEWS`: what A could write, read under `allow` or `mask`."""

    full: float             # the reference CoT as written (answer stated: B copies it)
    critical: float         # the critical steps and the answer
    partial: float          # the critical steps without the last 1-2: B finishes them
    masked_full: float      # the reference CoT with A's result hidden: B redoes the last step
    masked_critical: float  # the critical steps with A's result hidden
    masked_partial: float   # a partial CoT with its last result hidden: B redoes it and finishes
    none: float             # no CoT: B learns the format; its accuracy alone stays low


@dataclass
class GateConfig:
    """Pre-flight thresholds: the testbed must be able to show a result before GRPO spends time."""

    max_rows: int         # validation rows the gate evaluates (0 = all)
    a_greedy_min: float   # A with its CoT, greedy
    a_sampled_min: float  # A with its CoT, sampled at rollout.temperature (what GRPO sees)
    b_alone_max: float    # B with no CoT: B must need A
    # Under each rule B reads by in an arm with B, relative to A greedy:
    b_finish_ratio_min: float        # B finishing the critical steps with the last one or two removed
    b_reads_c_orig_ratio_min: float  # B reading A's own CoT c_orig
    truncated_max: float             # c_orig cut at rollout.max_new_tokens: len(c_orig) is A's, not the cap's
    short_alpha: float               # the short-CoT setting's target (below the critical content): rule_settings
    enforce: bool                    # false: report the gate, do not fail the stage

    def __post_init__(self) -> None:
        if not 0 < self.short_alpha <= 1:
            raise ConfigError(f"gate.short_alpha={self.short_alpha} must be in (0, 1]")
        for key in ("a_greedy_min", "a_sampled_min", "b_alone_max", "b_finish_ratio_min", "b_reads_c_orig_ratio_min",
                    "truncated_max"):
            if not 0 <= getattr(self, key) <= 1:
                raise ConfigError(f"gate.{key}={getattr(self, key)} must be in [0, 1]")


@dataclass
class WarmstartConfig:
    vocab_size: int
    tokenizer_rows: int            # training rows the BPE is trained on
    direct_fraction: float         # share of A's examples that answer directly (teaches the format only)
    checkpoint_every_n_steps: int
    a: SFTConfig
    b: SFTConfig
    b_views: BViews
    gate: GateConfig
    # One replicate per seed (`hawkeye.replicates`): a tokenizer, A and B each, and everything downstream
    # once per replicate. [] = no warm start (an experiment on given weights).
    seeds: list[int]

    def __post_init__(self) -> None:
        self.a.check("a")
        if len(set(self.seeds)) != len(self.seeds) or any(s < 1 for s in self.seeds):
            raise ConfigError(f"seeds={list(self.seeds)} must be distinct integers >= 1")
        self.b.check("b")
        if not 0 <= self.direct_fraction <= 1:
            raise ConfigError(f"direct_fraction={self.direct_fraction} must be in [0, 1]")
        views = vars(self.b_views) if not isinstance(self.b_views, dict) else self.b_views
        if any(v < 0 for v in views.values()) or sum(views.values()) <= 0:
            raise ConfigError(f"b_views={views} must be >= 0 with a positive sum")
