"""The λ × α Pareto points: accuracy against CoT length at the end of training, one point per
distinct (λ, α, arm), the mean over its seeds (each seed is drawn too)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hawkeye.collapse import window
from hawkeye.reporting.collect import TrainRun


@dataclass
class ParetoPoint:
    lam: float
    alpha: float
    arm: str
    k: int                        # last-k steps averaged (the smallest k among the seeds)
    seed_tokens: list[float]      # per run: mean CoT tokens of its last k steps
    seed_em: list[float]          # per run: mean training EM of its last k steps

    @property
    def tokens(self) -> float:
        return float(np.mean(self.seed_tokens))

    @property
    def em(self) -> float:
        return float(np.mean(self.seed_em))

    @property
    def label(self) -> str:
        return f"λ={self.lam:g}, α={self.alpha:g}, {self.arm}"


def _last(curve: list[tuple[int, float]], k: int) -> float:
    return float(np.mean([v for _, v in curve[-k:]])) if curve else math.nan


def pareto_points(runs: list[TrainRun], window_steps: int) -> list[ParetoPoint]:
    groups: dict[tuple[float, float, str], list[TrainRun]] = {}
    for r in runs:
        if r.curve:
            groups.setdefault((r.lam, r.alpha, r.arm), []).append(r)
    points = []
    for (lam, alpha, arm), members in groups.items():
        ks = [window(len(r.curve), window_steps) for r in members]
        points.append(ParetoPoint(lam, alpha, arm, min(ks), [_last(r.curve, k) for r, k in zip(members, ks, strict=True)],
                                  [_last(r.em_curve, k) for r, k in zip(members, ks, strict=True)]))
    return sorted(points, key=lambda p: (p.arm, p.lam, p.alpha))


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not beaten by another with fewer tokens and at least the accuracy."""
    front: list[tuple[float, float]] = []
    for tokens, acc in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or acc > front[-1][1]:
            front.append((tokens, acc))
    return front
