"""Schema of the `reward` config group (Algorithm 1, lines 6-7)."""

from __future__ import annotations

from dataclasses import dataclass

from hawkeye.errors import ConfigError

LEAK_MODES = ("allow", "mask", "penalize")


@dataclass
class RewardConfig:
    lam: float = 0.001     # λ, interpolated from the top-level `lambda`
    alpha: float = 0.3     # α, interpolated from the top-level `alpha`
    # A CoT that already states the final answer lets B copy it instead of reasoning.
    # mask (default): B reads the CoT with the value of A's own answer replaced (reward/leak.py).
    answer_leak: str = "mask"
    leak_penalty: float = 1.0   # subtracted when answer_leak=penalize and the CoT leaks

    def __post_init__(self) -> None:
        if self.lam < 0:
            raise ConfigError(f"lambda={self.lam} must be >= 0")
        if not 0 < self.alpha <= 1:
            raise ConfigError(f"alpha={self.alpha} must be in (0, 1]")
        if self.answer_leak not in LEAK_MODES:
            raise ConfigError(f"answer_leak={self.answer_leak!r} must be one of {LEAK_MODES}")
