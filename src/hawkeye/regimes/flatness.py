"""Where a GRPO curve flattened: the one rule the map reports for every run.

The curve read is A's CoT length per critical token of the step's questions (`cot_tokens_mean /
critical_tokens_mean`), not the raw length. A step draws 2 questions of 1 to 3 operations, so the raw
length jumps with the questions drawn (about 25% of its level from step to step on the map's runs);
divided by the critical tokens they need it moves about 8%. The raw rule (a 20-step rolling mean within
10% of its last value) read noise as a trend: it called runs "not flat" whose 50-step means had not moved.

**Flat from step s**: cut the curve into blocks of `block` steps, aligned to its end; the curve has
flattened at the first step of the earliest block from which every block's mean is within `tolerance`
of the last block's mean (relative). At least the block before the last must agree: a curve whose last
two blocks differ has not flattened (`None`), nor has a curve shorter than two blocks. With the map's
block of 50 steps the block means move about 1% by noise, so a 5% tolerance reads only trends: a drift slower
than 5% of its level per 50 steps reads as flat (calibrated on constructed curves: tests/test_regimes.py).

**A floor** (`floor`, in tokens per critical token): a collapsed A writes a box and nothing else, about 5.5
tokens whatever the question, so its length per critical token moves with the questions drawn (0.24 to 0.29
per 50-step block on the first map with skips) and 5% of 0.25 is a fifth of a token. So blocks within `floor`
of the last one are flat too: 0.05, about one token of a two-operation question.
"""

from __future__ import annotations

import numpy as np


def length_per_critical_token(cot_tokens: list[float], critical_tokens: list[float]) -> list[float]:
    """The curve the rule reads: each step's CoT length over the critical tokens its questions need."""
    return [c / max(k, 1.0) for c, k in zip(cot_tokens, critical_tokens, strict=True)]


def flattened_at(curve: list[float], block: int, tolerance: float, floor: float) -> int | None:
    """The step from which `curve` stayed flat (see the module doc); None when it had not flattened."""
    n_blocks = len(curve) // block
    if n_blocks < 2:
        return None
    start = len(curve) - n_blocks * block  # a partial block, if any, is the curve's first steps
    means = np.asarray(curve[start:], dtype=float).reshape(n_blocks, block).mean(axis=1)
    final = means[-1]
    within = np.abs(means - final) <= max(tolerance * abs(final), floor)
    first = n_blocks - 1
    while first > 0 and within[first - 1]:
        first -= 1
    return None if first == n_blocks - 1 else start + first * block
