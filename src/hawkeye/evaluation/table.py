"""The evaluation table: one row per system on one dataset, intervals from the bootstrap, then
mean ± spread over the seeds of each arm.

A system is a way of answering a held-out question:
- Baseline: the base A answers alone (the reference every delta is taken against);
- Base A → B: the base A's CoT, read by B (`reward.answer_leak` of the config);
- <arm> seed<k>: A alone / A → B: a trained A, alone, or read by B the way that arm trained;
- B alone (optional): a floor that shows what A's CoT adds.

Columns: accuracy (exact match of the answering model's text) with its interval; CoT tokens (A's
mean generated tokens without EOS, the reward's len(c)); the token delta against the Baseline
with its paired interval; compression = 1 − CoT tokens / Baseline CoT tokens (the poster's).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hawkeye.evaluation.bootstrap import mean_interval, paired_delta_interval

BASELINE = "baseline"
A_ALONE, A_TO_B, B_ALONE = "A alone", "A → B", "B alone"


@dataclass
class SystemResult:
    """Per-question outcomes of one system on one dataset (question i is the same for every system)."""

    key: str                      # metric-name safe: baseline, base_a_b, b_allow/seed1/a, b_allow/seed1/a_b
    label: str
    reader: str                   # A_ALONE | A_TO_B | B_ALONE
    correct: list[bool]
    cot_tokens: list[int]
    b_tokens: list[int] = field(default_factory=list)
    arm: str | None = None        # None for the base A rows
    seed: int | None = None
    uses_b_in_training: bool | None = None
    answer_leak: str | None = None
    removal: dict[str, float] = field(default_factory=dict)  # what compression removed (evaluation.removal)
    # per question, 1.0 where the CoT collapsed by `hawkeye.collapse` (answer: this system's), NaN without ground truth
    collapsed: list[float] = field(default_factory=list)


def score_systems(systems: list[SystemResult], confidence: float, n_resamples: int, seed: int) -> list[dict[str, Any]]:
    """One table row per system: point values, the accuracy interval and the paired token delta."""
    base = next((s for s in systems if s.key == BASELINE), None)
    if base is None:
        raise ValueError("score_systems needs the Baseline system (key 'baseline')")
    n = len(base.correct)
    base_tokens = float(np.mean(base.cot_tokens)) if n else float("nan")
    rows = []
    for order, s in enumerate(systems):
        if len(s.correct) != n or len(s.cot_tokens) != n:
            raise ValueError(f"system {s.key!r} scored {len(s.correct)} questions, the Baseline {n}")
        tokens = float(np.mean(s.cot_tokens)) if n else float("nan")
        has_cot = s.reader != B_ALONE
        acc_ci = mean_interval(s.correct, confidence, n_resamples, seed)
        delta_ci = paired_delta_interval(s.cot_tokens, base.cot_tokens, confidence, n_resamples, seed) \
            if has_cot else (math.nan, math.nan)
        acc_delta_ci = paired_delta_interval(s.correct, base.correct, confidence, n_resamples, seed)
        rows.append({
            "order": order, "key": s.key, "label": s.label, "reader": s.reader, "arm": s.arm, "seed": s.seed,
            "uses_b_in_training": s.uses_b_in_training, "answer_leak": s.answer_leak, "n": n,
            "accuracy": float(np.mean(s.correct)) if n else math.nan,
            "accuracy_ci_low": acc_ci[0], "accuracy_ci_high": acc_ci[1],
            # the paired difference to the Baseline (same questions), with its interval
            "accuracy_delta": float(np.mean(s.correct) - np.mean(base.correct)) if n else math.nan,
            "accuracy_delta_ci_low": acc_delta_ci[0], "accuracy_delta_ci_high": acc_delta_ci[1],
            "cot_tokens": tokens if has_cot else math.nan,
            "token_delta": tokens - base_tokens if has_cot else math.nan,
            "token_delta_ci_low": delta_ci[0], "token_delta_ci_high": delta_ci[1],
            "compression": 1.0 - tokens / base_tokens if has_cot and base_tokens else math.nan,
            "b_tokens": float(np.mean(s.b_tokens)) if s.b_tokens else 0.0,
            **{f"removal_{k}": v for k, v in s.removal.items()},
        })
    return rows


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation over seeds (ddof=1; NaN for a single seed: no spread to speak
    of): the one home of mean ± sd, for the evaluation's arms and the report's alike."""
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else math.nan


def aggregate_arms(rows: list[dict[str, Any]], systems: list[SystemResult], confidence: float, n_resamples: int,
                   seed: int) -> list[dict[str, Any]]:
    """Per (arm, reader): mean ± sd over seeds of accuracy, CoT tokens, compression and what compression
    removed; and the arm's accuracy difference to the Baseline pooled over its seeds, with a paired
    interval over questions (question i's correctness averaged over the seeds, against the Baseline's)."""
    base = next(s for s in systems if s.key == BASELINE)
    per_question: dict[tuple[str, str], list[list[bool]]] = {}
    for s in systems:
        if s.arm is not None:
            per_question.setdefault((s.arm, s.reader), []).append(s.correct)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        if r["arm"] is not None:
            groups.setdefault((r["arm"], r["reader"]), []).append(r)
    out = []
    for (arm, reader), members in groups.items():
        agg: dict[str, Any] = {"arm": arm, "reader": reader, "seeds": sorted(m["seed"] for m in members),
                               "uses_b_in_training": members[0]["uses_b_in_training"],
                               "answer_leak": members[0]["answer_leak"]}
        metrics = ["accuracy", "accuracy_delta", "cot_tokens", "compression", "token_delta",
                   *(k for k in members[0] if k.startswith("removal_"))]
        for metric in metrics:
            agg[f"{metric}_mean"], agg[f"{metric}_sd"] = mean_sd([m[metric] for m in members])
        pooled = np.mean(np.asarray(per_question[arm, reader], dtype=float), axis=0)
        agg["accuracy_delta_pooled"] = float(pooled.mean() - np.mean(base.correct))
        agg["accuracy_delta_pooled_ci_low"], agg["accuracy_delta_pooled_ci_high"] = paired_delta_interval(
            pooled, base.correct, confidence, n_resamples, seed)
        out.append(agg)
    return out


def poster_quality(rows: list[dict[str, Any]], full_key: str) -> dict[str, float]:
    """The flat summary the poster-style table reads: Baseline against the timed Hawkeye (Full)
    system `full_key` (an A → B row)."""
    by_key = {r["key"]: r for r in rows}
    base, full = by_key[BASELINE], by_key[full_key]
    out = {"n": base["n"], "baseline_accuracy": base["accuracy"], "baseline_tokens": base["cot_tokens"],
           "hawkeye_accuracy": full["accuracy"], "hawkeye_a_tokens": full["cot_tokens"],
           "hawkeye_b_tokens": full["b_tokens"], "hawkeye_tokens": full["cot_tokens"] + full["b_tokens"],
           "compression": full["compression"]}
    if "b_alone" in by_key:
        out["b_alone_accuracy"], out["b_alone_tokens"] = by_key["b_alone"]["accuracy"], by_key["b_alone"]["b_tokens"]
    return out
