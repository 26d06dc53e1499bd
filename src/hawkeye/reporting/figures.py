"""The report's figures: the collapse figure (every arm run, coloured by arm) and the Pareto plot."""

from __future__ import annotations

from typing import Any

import numpy as np

from hawkeye.reporting.curves import Curve, RunSummary
from hawkeye.reporting.pareto import ParetoPoint, pareto_front


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _rolling(values: list[float], k: int) -> np.ndarray:
    """Trailing mean over up to k steps (the same smoothing as the report's first/last windows)."""
    arr = np.asarray(values, dtype=float)
    return np.array([arr[max(0, i - k + 1): i + 1].mean() for i in range(len(arr))])


def collapse_figure(runs: list[tuple[RunSummary, Curve]]) -> Any:
    """Per step, every run (colour = arm, one line per seed; dashed: trained without B), trailing means
    over k steps: top, the collapsed share of the rollouts (the collapse definition's curve); middle,
    CoT length / len(c_orig); bottom, training EM."""
    plt = _plt()
    fig, (ax_share, ax_len, ax_em) = plt.subplots(3, 1, figsize=(8, 8.5), sharex=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    arms = list(dict.fromkeys(s.run.arm for s, _ in runs))
    for summary, curve in runs:
        colour = colours[arms.index(summary.run.arm) % len(colours)]
        style = "-" if summary.run.uses_b else "--"
        first_of_arm = next(s for s, _ in runs if s.run.arm == summary.run.arm) is summary
        label = f"{summary.run.arm} ({'with B' if summary.run.uses_b else 'no B'})" if first_of_arm else None
        ax_share.plot(curve.steps, 100 * _rolling(curve.collapsed_share, summary.k), style, color=colour, alpha=0.85,
                      label=label)
        ax_len.plot(curve.steps, curve.relative_length, style, color=colour, alpha=0.85)
        ax_em.plot(curve.steps, 100 * _rolling(curve.em, summary.k), style, color=colour, alpha=0.85)
    k = max((s.k for s, _ in runs), default=1)
    margins = sorted({s.verdict.margin for s, _ in runs})
    ax_share.set_ylabel(f"collapsed rollouts (%), trailing mean of ≤{k} steps")
    ax_share.set_title("Collapse: a run's last k steps above its first k by "
                       + "/".join(f"{100 * m:g}" for m in margins) + " points or more (no line: not judged)")
    ax_len.set_ylabel("CoT tokens / len(c_orig)")
    ax_em.set_ylabel(f"training EM (%), trailing mean of ≤{k} steps")
    ax_em.set_xlabel("GRPO step")
    for ax in (ax_share, ax_len, ax_em):
        ax.grid(alpha=0.3)
    if runs:
        ax_share.legend(fontsize=8)
    fig.tight_layout()
    return fig


def pareto_figure(points: list[ParetoPoint]) -> Any:
    """Training EM against CoT tokens at the end of training: the mean over seeds per (λ, α, arm),
    each seed as a small dot, the Pareto front over the means dashed."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    arms = list(dict.fromkeys(p.arm for p in points))
    for i, p in enumerate(points):
        colour = colours[arms.index(p.arm) % len(colours)]
        ax.scatter(p.seed_tokens, [100 * e for e in p.seed_em], s=12, color=colour, alpha=0.4)
        ax.scatter([p.tokens], [100 * p.em], s=60, color=colour, edgecolors="black",
                   label=p.arm if p is next(q for q in points if q.arm == p.arm) else None)
        # Staggered offsets: sweep points often share an accuracy, and their labels would overprint.
        ax.annotate(p.label, (p.tokens, 100 * p.em), textcoords="offset points", xytext=(5, 4 - 9 * (i % 3)),
                    fontsize=7)
    front = pareto_front([(p.tokens, p.em) for p in points])
    if len(front) > 1:
        ax.plot([t for t, _ in front], [100 * e for _, e in front], "--", color="gray", label="Pareto front")
    ax.set_xlabel("mean CoT tokens of Model A, last k steps (k per point in the report's table)")
    ax.set_ylabel("training EM (%), last k steps")
    ax.set_title(f"λ × α: accuracy against CoT length ({len(points)} points)")
    ax.grid(alpha=0.3)
    if points:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
