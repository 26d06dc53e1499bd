"""MLflow metric names of the training runs: the one place that maps a step metric to its MLflow key.

The MLflow UI draws one chart section per key prefix (the part before the first '/'). Training's
headline curves, the ones a user compares across λ runs (the collapse curve `cot_tokens_mean`, `em`
and `reward_mean`), get the section `train/`; every other step metric goes to `train_diag/`, which
the UI lists after it. Files on disk (collapse_curve.tsv, metrics.json) keep the bare names.
"""

from __future__ import annotations

HEADLINE = ("cot_tokens_mean", "em", "reward_mean")


def train_metric(key: str) -> str:
    """The MLflow key of the training step metric `key`."""
    return f"train/{key}" if key in HEADLINE else f"train_diag/{key}"
