"""What each arm run did in training, in numbers: CoT length relative to c_orig and training EM,
first → last, per run and as mean ± spread over an arm's seeds, and the collapse verdict.

Per-step EM is the mean over one step's few questions, so it is noisy: "first" and "last" are
means over the first and the last k steps, k = min(eval.em_window_steps, steps // 2) (so the two
windows never overlap), and the report says k. Length is averaged over the same windows.

Collapse (a definition, stated in the report): over the last k steps, mean CoT length <
f · α · len(c_orig) (f = eval.collapse_length_fraction, α = the run's own alpha) AND training EM
fell by more than eval.collapse_accuracy_drop between the first and the last k steps.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hawkeye.errors import DataError
from hawkeye.runs import TrainedRun


@dataclass
class Curve:
    """Per-step training metrics of one run."""

    steps: list[int]
    cot_tokens: list[float]
    orig_tokens: list[float]    # mean len(c_orig) of the step's questions
    em: list[float]

    @property
    def relative_length(self) -> list[float]:
        return [c / o if o else math.nan for c, o in zip(self.cot_tokens, self.orig_tokens, strict=True)]


def _step_rows(metrics: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Per-step rows in metrics.json, if the writer stored them (a list of dicts with 'step')."""
    for value in metrics.values():
        if isinstance(value, list) and value and all(isinstance(r, dict) and "step" in r for r in value):
            return value
    return None


def read_curve(run: TrainedRun) -> Curve:
    """The run's per-step cot_tokens_mean, orig_tokens_mean and em, from `metrics.json` rows, else from
    `collapse_curve.tsv` with len(c_orig) = metrics.json's target_cot_tokens / α (the train-set mean)."""
    metrics_path, tsv_path = run.run_dir / "metrics.json", run.run_dir / "collapse_curve.tsv"
    try:
        metrics = json.loads(metrics_path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"{metrics_path}: unreadable training metrics: {e}") from e
    rows = _step_rows(metrics)
    default_orig = None
    if metrics.get("target_cot_tokens") and run.alpha:
        default_orig = float(metrics["target_cot_tokens"]) / run.alpha
    if rows is None:
        rows = _tsv_rows(tsv_path)
    rows = sorted(rows, key=lambda r: int(r["step"]))
    if not rows:
        raise DataError(f"{run.run_dir}: no training steps in metrics.json or collapse_curve.tsv")
    for i, r in enumerate(rows):
        for key in ("cot_tokens_mean", "em"):
            if key not in r:
                raise DataError(f"{run.run_dir}: step row {i} has no '{key}'")
        if "orig_tokens_mean" not in r and default_orig is None:
            raise DataError(f"{metrics_path}: neither per-step 'orig_tokens_mean' nor 'target_cot_tokens' with the "
                            "run's alpha: len(c_orig) is unknown")
    return Curve(steps=[int(r["step"]) for r in rows], cot_tokens=[float(r["cot_tokens_mean"]) for r in rows],
                 orig_tokens=[float(r.get("orig_tokens_mean", default_orig)) for r in rows],
                 em=[float(r["em"]) for r in rows])


def _tsv_rows(path: Path) -> list[dict[str, Any]]:
    try:
        with path.open(newline="") as fh:
            return [dict(r) for r in csv.DictReader(fh, delimiter="\t")]
    except OSError as e:
        raise DataError(f"{path}: unreadable collapse curve: {e}") from e


def window(n_steps: int, em_window_steps: int) -> int:
    """k: the steps averaged at each end; at most half the run, at least one step."""
    return max(1, min(em_window_steps, n_steps // 2))


@dataclass
class RunSummary:
    run: TrainedRun
    steps: int
    k: int
    length_first: float         # CoT tokens / len(c_orig), mean of the first k steps
    length_last: float
    tokens_first: float
    tokens_last: float
    orig_tokens: float          # mean len(c_orig) over the run
    em_first: float
    em_last: float
    length_threshold: float     # f · α (relative to c_orig)
    collapsed: bool

    @property
    def em_drop(self) -> float:
        return self.em_first - self.em_last


def summarize_run(run: TrainedRun, curve: Curve, em_window_steps: int, length_fraction: float,
                  accuracy_drop: float) -> RunSummary:
    k = window(len(curve.steps), em_window_steps)
    rel = curve.relative_length

    def first(xs: list[float]) -> float:
        return float(np.mean(xs[:k]))

    def last(xs: list[float]) -> float:
        return float(np.mean(xs[-k:]))

    if run.alpha is None:
        raise DataError(f"{run.run_dir}: the run's config has no 'alpha': the collapse threshold is undefined")
    threshold = length_fraction * run.alpha
    em_first, em_last, length_last = first(curve.em), last(curve.em), last(rel)
    return RunSummary(
        run=run, steps=len(curve.steps), k=k,
        length_first=first(rel), length_last=length_last,
        tokens_first=first(curve.cot_tokens), tokens_last=last(curve.cot_tokens),
        orig_tokens=float(np.mean(curve.orig_tokens)),
        em_first=em_first, em_last=em_last, length_threshold=threshold,
        collapsed=bool(length_last < threshold and em_first - em_last > accuracy_drop),
    )


@dataclass
class ArmSummary:
    arm: str
    uses_b: bool
    answer_leak: str
    runs: list[RunSummary]

    def mean_sd(self, attr: str) -> tuple[float, float]:
        values = np.asarray([getattr(r, attr) for r in self.runs], dtype=float)
        return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else math.nan

    @property
    def collapsed(self) -> list[RunSummary]:
        return [r for r in self.runs if r.collapsed]


def summarize_arms(runs: list[RunSummary]) -> list[ArmSummary]:
    arms: dict[str, ArmSummary] = {}
    for r in runs:
        arms.setdefault(r.run.arm, ArmSummary(r.run.arm, r.run.uses_b, r.run.answer_leak, [])).runs.append(r)
    for a in arms.values():
        a.runs.sort(key=lambda r: r.run.seed)
    return list(arms.values())
