"""What each arm run did in training, in numbers: CoT length (relative to c_orig), training EM and the
collapsed share of the rollouts, first → last, per run and as mean ± spread over an arm's seeds, and
the collapse verdict (`hawkeye.collapse`: the one definition the training detector uses too).

Per-step numbers are means over one step's few rollouts, so they are noisy: "first" and "last" are
means over the first and the last k steps (`hawkeye.collapse.collapse_window`), and the report says k.
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
from hawkeye.evaluation.table import mean_sd
from hawkeye.runs import CURVE, METRICS, TrainedRun, curve_path, metrics_path


@dataclass
class Curve:
    """Per-step training metrics of one run."""

    steps: list[int]
    cot_tokens: list[float]
    orig_tokens: list[float]      # mean len(c_orig) of the step's questions
    critical_tokens: list[float]  # mean critical content of the step's questions (NaN: no ground truth)
    em: list[float]
    collapsed_share: list[float]  # share of the step's rollouts collapsed on their question (NaN: not judged)
    rollouts: int | None          # rollouts per step (None: a curve written before the share was recorded)

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
    """The run's per-step cot_tokens_mean, orig_tokens_mean, critical_tokens_mean, em, collapsed_share
    and rollouts, from the `metrics.json` curve, else from `collapse_curve.tsv` (len(c_orig) =
    metrics.json's target_cot_tokens / α, the train-set mean). A curve written before the collapsed
    share was recorded reads as NaN there: its run is not judged, never guessed."""
    metrics_file, curve_file = metrics_path(run.run_dir), curve_path(run.run_dir)
    try:
        metrics = json.loads(metrics_file.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"{metrics_file}: unreadable training metrics: {e}") from e
    rows = _step_rows(metrics)
    default_orig = None
    if metrics.get("target_cot_tokens") and run.alpha:
        default_orig = float(metrics["target_cot_tokens"]) / run.alpha
    if rows is None:
        rows = _tsv_rows(curve_file)
    rows = sorted(rows, key=lambda r: int(r["step"]))
    if not rows:
        raise DataError(f"{run.run_dir}: no training steps in {METRICS} or {CURVE}")
    for i, r in enumerate(rows):
        for key in ("cot_tokens_mean", "em"):
            if key not in r:
                raise DataError(f"{run.run_dir}: step row {i} has no '{key}'")
        if "orig_tokens_mean" not in r and default_orig is None:
            raise DataError(f"{metrics_file}: neither per-step 'orig_tokens_mean' nor 'target_cot_tokens' with the "
                            "run's alpha: len(c_orig) is unknown")
    return Curve(steps=[int(r["step"]) for r in rows], cot_tokens=[float(r["cot_tokens_mean"]) for r in rows],
                 orig_tokens=[float(r.get("orig_tokens_mean", default_orig)) for r in rows],
                 critical_tokens=[_number(r.get("critical_tokens_mean")) for r in rows],
                 em=[float(r["em"]) for r in rows],
                 collapsed_share=[_number(r.get("collapsed_share")) for r in rows],
                 rollouts=_rollouts(rows, run))


def _number(value: Any) -> float:
    """A per-step number that may be missing (an older curve): NaN then."""
    return math.nan if value is None or value == "" else float(value)


def _rollouts(rows: list[dict[str, Any]], run: TrainedRun) -> int | None:
    """The rollouts per step of the k rule: the fewest of any step (None when the curve has none)."""
    values = [int(float(r["rollouts"])) for r in rows if r.get("rollouts") not in (None, "")]
    if values and len(values) < len(rows):
        raise DataError(f"{run.run_dir}: 'rollouts' is recorded for some training steps only")
    return min(values) if values else None


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
    tokens_first: float         # CoT tokens, mean of the first k steps
    tokens_last: float
    em_first: float             # training EM, mean of the first k steps
    em_last: float
    orig_tokens: float          # mean len(c_orig) over the run
    critical_tokens: float      # mean critical content over the run (NaN: no ground truth)

    @property
    def k(self) -> int:
        return self.verdict.k

    @property
    def collapsed_share_first(self) -> float:
        return self.verdict.share_first

    @property
    def collapsed_share_last(self) -> float:
        return self.verdict.share_last

    @property
    def em_drop(self) -> float:
        return self.em_first - self.em_last

    @property
    def judged(self) -> bool:
        return self.verdict.judged

    @property
    def collapsed(self) -> bool:
        return self.verdict.collapsed


def summarize_run(run: TrainedRun, curve: Curve, rule: Any) -> RunSummary:
    v = verdict(curve.collapsed_share, curve.rollouts, rule)

    def first(xs: list[float]) -> float:
        return float(np.mean(xs[:v.k]))

    def last(xs: list[float]) -> float:
        return float(np.mean(xs[-v.k:]))

    rel = curve.relative_length
    return RunSummary(run=run, steps=len(curve.steps), verdict=v, length_first=first(rel), length_last=last(rel),
                      tokens_first=first(curve.cot_tokens), tokens_last=last(curve.cot_tokens),
                      em_first=first(curve.em), em_last=last(curve.em),
                      orig_tokens=float(np.mean(curve.orig_tokens)),
                      critical_tokens=float(np.mean(curve.critical_tokens)))


@dataclass
class ArmSummary:
    arm: str
    uses_b: bool
    answer_leak: str
    runs: list[RunSummary]

    def mean_sd(self, attr: str, judged_only: bool = False) -> tuple[float, float]:
        """Mean and sample sd of `attr` over the arm's runs (`judged_only`: its judged runs)."""
        return mean_sd([getattr(r, attr) for r in (self.judged if judged_only else self.runs)])

    @property
    def collapsed(self) -> list[RunSummary]:
        return [r for r in self.runs if r.collapsed]

    @property
    def judged(self) -> list[RunSummary]:
        return [r for r in self.runs if r.judged]

    @property
    def not_judged(self) -> list[RunSummary]:
        return [r for r in self.runs if not r.judged]


def summarize_arms(runs: list[RunSummary]) -> list[ArmSummary]:
    arms: dict[str, ArmSummary] = {}
    for r in runs:
        arms.setdefault(r.run.arm, ArmSummary(r.run.arm, r.run.uses_b, r.run.answer_leak, [])).runs.append(r)
    for a in arms.values():
        a.runs.sort(key=lambda r: (r.run.warm_start or 0, r.run.seed))
    return list(arms.values())
