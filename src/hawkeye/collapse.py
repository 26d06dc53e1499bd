"""Collapse: the one definition, used by the training detector, the report and evaluation alike.

The paper's claim (1): trained without Model B, A's CoT collapses to extremely short CoTs, and the
answers stop being right. It is judged against the ground truth, question by question:

- **per question**: a CoT has collapsed on a question when it states at most `steps_share` of the
  question's critical steps (read by `testbed_reading.steps_kept` against the row's labelled
  `segments`) AND the answer scored for it is wrong (in training: the EM the reward used, i.e. B's
  answer with B in the loop, A's own without). Short and right is compression, not collapse; long and
  wrong is a mistake, not collapse;
- **per run**: the collapsed share of a step's rollouts is a per-step curve; a run has collapsed when
  its mean over the last k steps exceeds its mean over the first k steps by at least `margin`.

k is set by the noise of a share over n rollouts: the smallest k for which the standard error of the
difference of the two window means, sqrt(2 · 0.25 / (n·k)) with the worst-case Bernoulli variance
0.25, is at most margin / 2; at least `window_steps`, at most half the curve (the windows never
overlap). A row without ground truth (no `segments`, e.g. GSM8K) cannot be judged: its share is NaN,
and so is the share of any step or set of CoTs that holds one; a run whose windows hold a NaN step is
"not judged", never collapsed. The keys live in the `collapse` config group (conf/collapse/).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hawkeye.data.sources.testbed_reading import steps_kept
from hawkeye.errors import ConfigError

# The largest variance of a 0/1 outcome (p = 0.5): the k rule holds whatever the true share is.
WORST_VARIANCE = 0.25


@dataclass
class CollapseConfig:
    steps_share: float  # per question: a CoT stating at most this share of the critical steps ...
    margin: float       # per run: the collapsed share's rise, first k steps -> last k (0.2 = 20 points)
    window_steps: int   # the least k: steps averaged at each end of the curve

    def __post_init__(self) -> None:
        if not 0 <= self.steps_share < 1:
            raise ConfigError(f"steps_share={self.steps_share} must be in [0, 1)")
        if not 0 < self.margin <= 1:
            raise ConfigError(f"margin={self.margin} must be in (0, 1]")
        if self.window_steps < 1:
            raise ConfigError(f"window_steps={self.window_steps} must be >= 1")


# ---- per question -------------------------------------------------------------------------------

def collapsed_on(cot: str, row: Mapping[str, Any], correct: bool, rule: Any) -> float:
    """1.0 when `cot` has collapsed on `row`'s question (at most `steps_share` of its critical steps
    stated, and the answer scored for it wrong), 0.0 when not, NaN when the row has no ground truth."""
    if not row.get("segments"):
        return math.nan
    kept = steps_kept(cot, dict(row))
    if kept.total == 0:  # nothing critical to state: the rule has nothing to read
        return math.nan
    few = kept.n_kept <= float(rule["steps_share"]) * kept.total
    return float(few and not correct)


def collapsed_share(cots: Sequence[str], answers_correct: Sequence[bool], rows: Sequence[Mapping[str, Any]],
                    rule: Any) -> float:
    """The share of `cots` collapsed on their rows' questions (one CoT, answer and row each); NaN when
    any row has no ground truth: a share over part of the CoTs would stand for all of them."""
    if not len(cots) == len(answers_correct) == len(rows) or not cots:
        raise ValueError(f"needs equal, non-empty lists (got {len(cots)}, {len(answers_correct)}, {len(rows)})")
    flags = [collapsed_on(c, r, bool(ok), rule) for c, ok, r in zip(cots, answers_correct, rows, strict=True)]
    return math.fsum(flags) / len(flags)  # NaN propagates


# ---- per run ------------------------------------------------------------------------------------

def window(n_steps: int, least: int) -> int:
    """Steps averaged at each end of an n-step curve: `least`, at most half the curve, at least one."""
    return max(1, min(least, n_steps // 2))


def se_steps(rollouts: int, margin: float) -> int:
    """The smallest k with sqrt(2 · 0.25 / (rollouts · k)) <= margin / 2: the steps per window that
    make the two windows' difference precise enough to tell a rise of `margin` from noise."""
    if rollouts < 1:
        raise ValueError(f"rollouts={rollouts} must be >= 1")
    need = 2 * WORST_VARIANCE / (rollouts * (margin / 2) ** 2)
    return max(1, math.ceil(need - 1e-9))  # the tolerance: a k that meets the bound exactly counts


def collapse_window(n_steps: int, rollouts: int | None, rule: Any) -> int:
    """k of the collapse verdict: the SE rule's k, at least `window_steps`, at most half the curve
    (`window_steps` alone where the rollouts per step are unknown: a curve that cannot be judged)."""
    least = int(rule["window_steps"])
    return window(n_steps, least if rollouts is None else max(least, se_steps(rollouts, float(rule["margin"]))))


def steps_to_judge(rollouts: int, rule: Any) -> int:
    """The curve length at which both windows are whole (the k rule uncapped by half the curve): the
    training detector judges from here on, so a stop never rests on windows shorter than the rule's."""
    return 2 * max(int(rule["window_steps"]), se_steps(rollouts, float(rule["margin"])))


def standard_error(rollouts: int | None, k: int) -> float:
    """The worst-case standard error of (last-window mean − first-window mean) of a share."""
    return math.sqrt(2 * WORST_VARIANCE / (rollouts * k)) if rollouts else math.nan


@dataclass(frozen=True)
class Verdict:
    k: int
    rollouts: int | None     # n: rollouts per step (None: unknown, and the curve not judged)
    share_first: float       # mean collapsed share of the first k steps (NaN: not judged)
    share_last: float        # ... of the last k steps
    margin: float

    @property
    def judged(self) -> bool:
        return math.isfinite(self.share_first) and math.isfinite(self.share_last)

    @property
    def rise(self) -> float:
        return self.share_last - self.share_first

    @property
    def se(self) -> float:
        return standard_error(self.rollouts, self.k)

    @property
    def collapsed(self) -> bool:
        return self.judged and self.rise >= self.margin - 1e-12  # float noise must not undo "at least"


def verdict(shares: Sequence[float], rollouts: int | None, rule: Any) -> Verdict:
    """The collapse verdict of a curve: the collapsed share per step (oldest first, NaN where the
    step's questions have no ground truth), with `rollouts` per step (None: unknown, not judged)."""
    n = len(shares)
    if n == 0:
        raise ValueError("a curve needs at least one step")
    k = collapse_window(n, rollouts, rule)
    if rollouts is None:
        return Verdict(k, None, math.nan, math.nan, float(rule["margin"]))
    return Verdict(k, rollouts, math.fsum(shares[:k]) / k, math.fsum(shares[-k:]) / k, float(rule["margin"]))
