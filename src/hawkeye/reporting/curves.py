"""What each arm run did in training, in numbers: CoT length (relative to c_orig and to the critical
content) and training EM, first → last, per run and as mean ± spread over an arm's seeds, and the
collapse verdict (`hawkeye.collapse`: the one definition the training detector uses too).

Per-step EM is the mean over one step's few questions, so it is noisy: "first" and "last" are
means over the first and the last k steps (`hawkeye.collapse.window`), and the report says k.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hawkeye.collapse import Verdict, verdict
from hawkeye.errors import DataError
from hawkeye.runs import TrainedRun


@dataclass
class Curve:
    """Per-step training metrics of one run."""

    steps: list[int]
    cot_tokens: list[float]
    orig_tokens: list[float]      # mean len(c_orig) of the step's questions
    critical_tokens: list[float]  # mean critical content of the step's questions (collapse's reference)
    em: list[float]

    @property
    def relative_length(self) -> list[float]:
        return [c / o if o else math.nan for c, o in zip(self.cot_tokens, self.orig_tokens, strict=True)]

    @property
    def critical_ratio(self) -> list[float]:
        return [c / o if o else math.nan for c, o in zip(self.cot_tokens, self.critical_tokens, strict=True)]


def _step_rows(metrics: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Per-step rows in metrics.json, if the writer stored them (a list of dicts with 'step')."""
    for value in metrics.values():
        if isinstance(value, list) and value and all(isinstance(r, dict) and "step" in r for r in value):
            return value
    return None


def read_curve(run: TrainedRun, rule: Any) -> Curve:
    """The run's per-step cot_tokens_mean, orig_tokens_mean, critical_tokens_mean and em, from the
    `metrics.json` curve, else from `collapse_curve.tsv` (len(c_orig) = metrics.json's target_cot_tokens / α,
    the train-set mean). A run logged before the critical content was recorded gets
    `collapse.critical_share` × len(c_orig), as data without ground truth does."""
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
    orig = [float(r.get("orig_tokens_mean", default_orig)) for r in rows]
    share = float(rule["critical_share"])
    return Curve(steps=[int(r["step"]) for r in rows], cot_tokens=[float(r["cot_tokens_mean"]) for r in rows],
                 orig_tokens=orig,
                 critical_tokens=[float(r.get("critical_tokens_mean") or share * o) for r, o in zip(rows, orig, strict=True)],
                 em=[float(r["em"]) for r in rows])


def _tsv_rows(path: Path) -> list[dict[str, Any]]:
    try:
        with path.open(newline="") as fh:
            return [dict(r) for r in csv.DictReader(fh, delimiter="\t")]
    except OSError as e:
        raise DataError(f"{path}: unreadable collapse curve: {e}") from e


@dataclass
class RunSummary:
    run: TrainedRun
    steps: int
    verdict: Verdict
    length_first: float         # CoT tokens / len(c_orig), mean of the first k steps
    length_last: float
    orig_tokens: float          # mean len(c_orig) over the run
    critical_tokens: float      # mean critical content over the run

    @property
    def k(self) -> int:
        return self.verdict.k

    @property
    def tokens_first(self) -> float:
        return self.verdict.tokens_first

    @property
    def tokens_last(self) -> float:
        return self.verdict.tokens_last

    @property
    def critical_ratio_last(self) -> float:
        return self.verdict.critical_ratio_last

    @property
    def em_first(self) -> float:
        return self.verdict.em_first

    @property
    def em_last(self) -> float:
        return self.verdict.em_last

    @property
    def em_drop(self) -> float:
        return self.verdict.em_drop

    @property
    def collapsed(self) -> bool:
        return self.verdict.collapsed


def summarize_run(run: TrainedRun, curve: Curve, rule: Any) -> RunSummary:
    v = verdict(curve.cot_tokens, curve.critical_tokens, curve.em, rule)
    rel = curve.relative_length
    return RunSummary(run=run, steps=len(curve.steps), verdict=v,
                      length_first=float(np.mean(rel[:v.k])), length_last=float(np.mean(rel[-v.k:])),
                      orig_tokens=float(np.mean(curve.orig_tokens)),
                      critical_tokens=float(np.mean(curve.critical_tokens)))


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
        a.runs.sort(key=lambda r: (r.run.warm_start or 0, r.run.seed))
    return list(arms.values())
