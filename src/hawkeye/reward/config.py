"""Schema of the `reward` config group (Algorithm 1, lines 6-7).

λ and α are not here: they are the top-level `lambda` and `alpha` (the sweep handles), range-checked
once in `hawkeye.config.check_length_penalty` and passed to `compute_reward` from there.
"""

from __future__ import annotations

from dataclasses import dataclass

from hawkeye.errors import ConfigError

LEAK_MODES = ("allow", "mask", "penalize")


@dataclass
class RewardConfig:
    # A CoT that already states the final answer lets B copy it instead of reasoning.
    # mask (default): B reads the CoT with the value of A's own answer replaced (responder/reads.py).
    answer_leak: str
    leak_penalty: float  # subtracted when answer_leak=penalize and the CoT leaks

    def __post_init__(self) -> None:
        if self.answer_leak not in LEAK_MODES:
            raise ConfigError(f"answer_leak={self.answer_leak!r} must be one of {LEAK_MODES}")
