"""MLflow metric names: the one place that maps a stage's numbers to their MLflow keys.

The MLflow UI draws one chart section per key prefix (the part before the first '/'), so every
stage's metrics get a prefix of their own:

- `train/`: training's headline curves, the ones a user compares across λ runs (`cot_tokens_mean`,
  `em`, `reward_mean`, and the collapse curve `collapsed_share`); `train_diag/`: every other training step metric, listed
  after it;
- `models/` (assembling packaged weights), `prepare/` (the data splits), `curate/` (c_orig and its
  refinement);
- `warmstart/` (the testbed's from-scratch models) and `gate/` (the pre-flight gate);
- `baselines/` (the supervised baselines' loss curves);
- `eval/` (quality on held-out splits) and `latency/` (serving);
- `arm/` (the report's per-arm aggregates).

Files on disk (collapse_curve.tsv, metrics.json) keep the bare names. MLflow refuses `@`, `(` and
`)` in keys, so every part is cleaned by `metric_name`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

HEADLINE = ("cot_tokens_mean", "em", "reward_mean", "collapsed_share")

TRAIN, TRAIN_DIAG = "train", "train_diag"
MODELS, PREPARE, CURATE = "models", "prepare", "curate"
WARMSTART, GATE = "warmstart", "gate"
BASELINES = "baselines"
EVAL, LATENCY = "eval", "latency"
ARM = "arm"


def metric_name(*parts: str) -> str:
    """An MLflow-safe metric name from its parts (letters, digits, _ - . / and space only)."""
    return re.sub(r"[^\w./\- ]", "_", "/".join(parts))


def train_metric(key: str) -> str:
    """The MLflow key of the training step metric `key`."""
    return metric_name(TRAIN if key in HEADLINE else TRAIN_DIAG, key)


def stage_metrics(prefix: str, metrics: Mapping[str, float]) -> dict[str, float]:
    """`metrics` under their stage's prefix: the MLflow keys of a stage that logs a flat dict."""
    return {metric_name(prefix, k): v for k, v in metrics.items()}
