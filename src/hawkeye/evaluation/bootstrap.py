"""Bootstrap intervals over questions (SciPy's percentile bootstrap, seeded).

Every row of the evaluation table is scored on the same questions, so intervals resample
questions, not samples: an accuracy interval resamples one row's per-question scores, and a delta
against the Baseline resamples the two rows' scores *pairwise* (the same questions drawn for both),
which is what makes a small but consistent token saving visible. With the same seed, n and
resample count, every call draws the same question sets, so all rows share their resamples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats


def _interval(data: tuple[np.ndarray, ...], statistic: object, confidence: float, n_resamples: int,
              seed: int, paired: bool) -> tuple[float, float]:
    if len(data[0]) == 0:
        return float("nan"), float("nan")
    if len(data[0]) == 1:  # one question: nothing to resample
        value = float(statistic(*data, axis=-1))  # type: ignore[operator]
        return value, value
    res = stats.bootstrap(data, statistic, paired=paired, vectorized=True, confidence_level=confidence,
                          n_resamples=n_resamples, method="percentile", rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def mean_interval(values: Sequence[float], confidence: float = 0.95, n_resamples: int = 2000,
                  seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of per-question `values` (e.g. 0/1 correctness)."""
    return _interval((np.asarray(values, dtype=float),), np.mean, confidence, n_resamples, seed, paired=False)


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def paired_delta_interval(values: Sequence[float], reference: Sequence[float], confidence: float = 0.95,
                          n_resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Interval of mean(values) − mean(reference), the i-th entries of both being question i."""
    x, y = np.asarray(values, dtype=float), np.asarray(reference, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"paired samples differ in length: {x.shape} vs {y.shape}")
    return _interval((x, y), _mean_difference, confidence, n_resamples, seed, paired=True)
