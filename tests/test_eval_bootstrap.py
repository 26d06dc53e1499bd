"""Bootstrap intervals: known cases, coverage of the true mean, pairing, seeding."""

from __future__ import annotations

import numpy as np
import pytest

from hawkeye.evaluation.bootstrap import mean_interval, paired_delta_interval


def test_constant_data_and_a_constant_shift_have_zero_width() -> None:
    assert mean_interval([1, 1, 1, 1]) == (1.0, 1.0)
    x = np.random.default_rng(0).integers(0, 50, 30)
    assert paired_delta_interval(x + 3, x) == pytest.approx((3.0, 3.0))  # pairing removes all the noise


def test_one_and_zero_questions() -> None:
    assert mean_interval([0.0]) == (0.0, 0.0)
    lo, hi = mean_interval([])
    assert np.isnan(lo) and np.isnan(hi)


def test_large_sample_matches_the_normal_interval() -> None:
    # 200 right of 400: the normal interval is 0.5 ± 1.96·sqrt(0.25/400) = 0.5 ± 0.049
    x = np.array([1] * 200 + [0] * 200)
    lo, hi = mean_interval(x, confidence=0.95, n_resamples=4000, seed=1)
    assert lo == pytest.approx(0.451, abs=0.01) and hi == pytest.approx(0.549, abs=0.01)
    lo90, hi90 = mean_interval(x, confidence=0.90, n_resamples=4000, seed=1)
    assert lo < lo90 < 0.5 < hi90 < hi  # a lower confidence gives a narrower interval


def test_coverage_of_the_true_mean() -> None:
    """Over many simulated test sets the 95% interval holds the true accuracy about 95% of the time."""
    rng = np.random.default_rng(123)
    p, n, trials = 0.3, 60, 300
    hits = 0
    for t in range(trials):
        lo, hi = mean_interval(rng.random(n) < p, n_resamples=1000, seed=t)
        hits += lo <= p <= hi
    assert 0.89 <= hits / trials <= 0.99, hits / trials


def test_paired_delta_is_the_interval_of_per_question_differences_and_narrower_than_unpaired() -> None:
    rng = np.random.default_rng(7)
    base = rng.integers(20, 200, 80).astype(float)         # questions differ a lot in length
    trained = base * 0.8 + rng.normal(0, 2, 80)            # a consistent 20% saving
    paired = paired_delta_interval(trained, base, seed=3)
    assert paired == pytest.approx(mean_interval(trained - base, seed=3))
    assert paired[1] < 0  # the saving is significant once questions are paired
    # Resampling the two rows independently ignores the pairing: a much wider interval.
    idx_a, idx_b = rng.integers(0, 80, (2000, 80)), rng.integers(0, 80, (2000, 80))
    unpaired = np.percentile(trained[idx_a].mean(1) - base[idx_b].mean(1), [2.5, 97.5])
    assert (paired[1] - paired[0]) < 0.5 * (unpaired[1] - unpaired[0])


def test_seeded() -> None:
    x = np.random.default_rng(0).random(40)  # continuous: two seeds' quantiles differ
    assert mean_interval(x, seed=5) == mean_interval(x, seed=5)
    assert mean_interval(x, seed=5) != mean_interval(x, seed=6)


def test_paired_samples_must_have_the_same_questions() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        paired_delta_interval([1, 2, 3], [1, 2])
