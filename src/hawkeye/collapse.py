"""Collapse: the one definition, used by the training detector and by the report alike.

The paper's claim (1): trained without Model B, A's CoT collapses to extremely short CoTs, and the
answers stop being right. Here a run has **collapsed** when, over its last k steps,

- A's mean CoT is shorter than `length_fraction` × the critical content of the steps' questions
  (the tokens of their critical steps: what no correct CoT can leave out), AND
- its training EM fell by at least `accuracy_drop` from the mean of the first k steps to the mean
  of the last k,

with k = min(`window_steps`, steps // 2), so the two windows never overlap (per-step EM is the mean
over a few questions and is noisy). The critical content is known on the testbed (its ground-truth
critical steps, `cot_critical_tokens` of a curated row); without ground truth it is taken as
`critical_share` × len(c_orig).

The training detector applies this to the curve so far at every step; the report applies it to the
whole curve. The keys live in the `collapse` config group (conf/collapse/).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hawkeye.errors import ConfigError


@dataclass
class CollapseConfig:
    length_fraction: float = 0.5   # the collapse line: this share of the critical content
    accuracy_drop: float = 0.10    # ... together with a training-EM drop of at least this (0.10 = 10 points)
    window_steps: int = 10         # k: steps averaged at each end of the curve
    critical_share: float = 0.3    # without ground truth: the critical content as a share of len(c_orig)

    def __post_init__(self) -> None:
        if not 0 < self.length_fraction <= 1:
            raise ConfigError(f"length_fraction={self.length_fraction} must be in (0, 1]")
        if not 0 <= self.accuracy_drop <= 1:
            raise ConfigError(f"accuracy_drop={self.accuracy_drop} must be in [0, 1]")
        if self.window_steps < 1:
            raise ConfigError(f"window_steps={self.window_steps} must be >= 1")
        if not 0 < self.critical_share <= 1:
            raise ConfigError(f"critical_share={self.critical_share} must be in (0, 1]")


def critical_content(row: dict[str, Any], rule: Any) -> float:
    """The critical content of one curated row, in A's tokens: its ground truth when it has one."""
    known = row.get("cot_critical_tokens")
    return float(known) if known is not None else float(rule["critical_share"]) * float(row["cot_orig_tokens"])


def window(n_steps: int, window_steps: int) -> int:
    """k: the steps averaged at each end; at most half the curve, at least one step."""
    return max(1, min(window_steps, n_steps // 2))


@dataclass(frozen=True)
class Verdict:
    k: int
    tokens_first: float      # mean CoT tokens of the first k steps
    tokens_last: float       # ... of the last k steps
    critical_last: float     # mean critical content of the last k steps' questions
    em_first: float
    em_last: float
    length_fraction: float
    accuracy_drop: float

    @property
    def critical_ratio_last(self) -> float:
        """CoT length over critical content, last k steps (collapse: below `length_fraction`)."""
        return self.tokens_last / self.critical_last if self.critical_last else math.nan

    @property
    def em_drop(self) -> float:
        return self.em_first - self.em_last

    @property
    def collapsed(self) -> bool:
        return self.critical_ratio_last < self.length_fraction and self.em_drop >= self.accuracy_drop


def verdict(cot_tokens: Sequence[float], critical_tokens: Sequence[float], em: Sequence[float],
            rule: Any) -> Verdict:
    """The collapse verdict of a curve (one value per step, oldest first)."""
    n = len(cot_tokens)
    if n == 0 or len(critical_tokens) != n or len(em) != n:
        raise ValueError(f"a curve needs equal, non-empty per-step lists (got {n}, {len(critical_tokens)}, {len(em)})")
    k = window(n, int(rule["window_steps"]))

    def first(xs: Sequence[float]) -> float:
        return sum(xs[:k]) / k

    def last(xs: Sequence[float]) -> float:
        return sum(xs[-k:]) / k

    return Verdict(k, first(cot_tokens), last(cot_tokens), last(critical_tokens), first(em), last(em),
                   float(rule["length_fraction"]), float(rule["accuracy_drop"]))
