"""Intervals over every random draw that matters: warm starts, GRPO seeds in them, questions.

A method's score on the held-out split depends on three draws: the warm start (A and B trained from
scratch: `hawkeye.replicates`), the GRPO seed within it, and which questions the split holds. An
interval that resamples questions alone holds the models fixed and is too narrow for a claim about
the method. Here `values[w, s, q]` is the score of seed s of warm start w on question q (for a
difference against the base A, the paired per-question difference to *that warm start's* base A), and
each bootstrap resample draws

1. warm starts with replacement, then
2. within each drawn warm start, seeds with replacement (nested: seeds belong to a warm start), and
3. questions with replacement, once per resample (every model answers the same questions: crossed),

and takes the mean. `levels` switches resampling on from the bottom up, which gives the half-width
each level adds: questions only; questions and seeds; questions, seeds and warm starts (the interval
every verdict reads).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LEVELS = ("questions", "seeds", "warm_starts")
# Sizing the test split: the share of questions on which a trained A and the base A disagree (their paired
# difference is +-1 there, 0 elsewhere). On the validation split the default arm and the base A disagreed
# on about a tenth of the questions; the half-width that sampling the questions adds is then about
# z * sqrt(DISCORDANT / n), and it may take at most QUESTIONS_SHARE of the margin the target judges.
DISCORDANT = 0.1
QUESTIONS_SHARE = 2 / 3
Z95 = 1.96


def questions_needed(margin: float) -> int:
    """The test questions for which sampling them adds at most QUESTIONS_SHARE x `margin` to the half-width."""
    return math.ceil((Z95 * math.sqrt(DISCORDANT) / (QUESTIONS_SHARE * margin)) ** 2)


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def _check(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if v.ndim != 3 or 0 in v.shape:
        raise ValueError(f"nested values must be [warm starts, seeds, questions], non-empty (got shape {v.shape})")
    return v


def resampled_means(values: np.ndarray, levels: int = 3, n_resamples: int = 2000, seed: int = 0) -> np.ndarray:
    """The mean of `values[w, s, q]` under `n_resamples` nested resamples, resampling the lowest `levels`
    of (questions, seeds, warm starts)."""
    v = _check(values)
    n_w, n_s, n_q = v.shape
    rng = np.random.default_rng(seed)
    # Questions: one draw per resample, as counts, so the per-(w, s) means are one matrix product.
    q_idx = rng.integers(0, n_q, size=(n_resamples, n_q)) if levels >= 1 else np.tile(np.arange(n_q), (n_resamples, 1))
    counts = np.zeros((n_resamples, n_q))
    np.add.at(counts, (np.arange(n_resamples)[:, None], q_idx), 1.0)
    cell = (v.reshape(n_w * n_s, n_q) @ counts.T / n_q).reshape(n_w, n_s, n_resamples)  # [w, s, b]
    w_idx = rng.integers(0, n_w, size=(n_resamples, n_w)) if levels >= 3 else np.tile(np.arange(n_w), (n_resamples, 1))
    s_idx = rng.integers(0, n_s, size=(n_resamples, n_w, n_s)) if levels >= 2 else \
        np.tile(np.arange(n_s), (n_resamples, n_w, 1))
    b = np.arange(n_resamples)[:, None, None]
    picked = cell[w_idx[:, :, None], s_idx, b]  # [b, drawn w, drawn s]
    return picked.mean(axis=(1, 2))


def nested_interval(values: np.ndarray, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0,
                    levels: int = 3) -> Interval:
    """The mean of `values[w, s, q]` and its percentile interval under the nested bootstrap."""
    v = _check(values)
    means = resampled_means(v, levels, n_resamples, seed)
    tail = (1 - confidence) / 2
    return Interval(float(v.mean()), float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail)))


def half_widths(values: np.ndarray, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> dict[str, float]:
    """The interval's half-width as each level is resampled in turn: {questions, seeds, warm_starts}."""
    return {name: nested_interval(values, confidence, n_resamples, seed, levels=i + 1).half_width
            for i, name in enumerate(LEVELS)}


def spreads(values: np.ndarray) -> dict[str, float]:
    """Sample standard deviations of the per-run means: between warm starts (of their seed-means) and between
    seeds within a warm start (pooled); NaN where a level has one member."""
    v = _check(values)
    per_run = v.mean(axis=2)  # [w, s]
    between_ws = float(per_run.mean(axis=1).std(ddof=1)) if per_run.shape[0] > 1 else float("nan")
    within = float(np.sqrt(per_run.var(axis=1, ddof=1).mean())) if per_run.shape[1] > 1 else float("nan")
    return {"warm_starts": between_ws, "seeds": within}
