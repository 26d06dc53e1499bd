"""The report's figures: the λ×α Pareto plot and the collapse-curve overlay."""

from __future__ import annotations

from typing import Any

from hawkeye.reporting.collect import TrainRun


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def pareto_figure(runs: list[TrainRun]) -> Any:
    """Accuracy (EM with B, final step) against mean CoT tokens, one point per (λ, α)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    with_b = [r for r in runs if r.responder != "none"]
    for r in with_b:
        x, y = r.final.get("cot_tokens_mean", float("nan")), 100 * r.final.get("em", float("nan"))
        ax.scatter(x, y, s=60)
        ax.annotate(f"λ={r.lam:g}, α={r.alpha:g}", (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
    front = _pareto_front([(r.final.get("cot_tokens_mean", 0.0), r.final.get("em", 0.0)) for r in with_b])
    if len(front) > 1:
        ax.plot([p[0] for p in front], [100 * p[1] for p in front], "--", color="gray", label="Pareto front")
        ax.legend(fontsize=8)
    ax.set_xlabel("mean CoT tokens (Model A), final step")
    ax.set_ylabel("EM with Model B, final step (%)")
    ax.set_title("λ × α: accuracy against CoT length")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not beaten by another with fewer tokens and at least the accuracy."""
    front: list[tuple[float, float]] = []
    for tokens, acc in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or acc > front[-1][1]:
            front.append((tokens, acc))
    return front


def collapse_overlay_figure(runs: list[TrainRun]) -> Any:
    """CoT length per step for every run; runs without Model B (the ablation) dashed."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    for r in runs:
        if not r.curve:
            continue
        style = "--" if r.responder == "none" else "-"
        label = f"{'no B' if r.responder == 'none' else 'with B'} (λ={r.lam:g}, α={r.alpha:g})"
        ax.plot([s for s, _ in r.curve], [v for _, v in r.curve], style, marker=".", label=label)
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("mean CoT tokens (Model A)")
    ax.set_title("Collapse: CoT length with Model B vs without")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
