"""The report's markdown: training (λ, α, collapse) and evaluation (the poster's columns)."""

from __future__ import annotations

from typing import Any

from hawkeye.reporting.collect import TrainRun


def eval_results_from_metrics(metrics: dict[str, float]) -> dict[str, Any]:
    """Rebuild `{"quality": {...}, "latency": {method: {concurrency: cell}}}` from an evaluate
    run's flat metric names (`quality/<k>`, `latency/<method>/c<N>/<k>`)."""
    quality: dict[str, float] = {}
    latency: dict[str, dict[int, dict[str, float]]] = {}
    for name, value in metrics.items():
        parts = name.split("/")
        if parts[0] == "quality" and len(parts) == 2:
            quality[parts[1]] = value
        elif parts[0] == "latency" and len(parts) == 4 and parts[2].startswith("c"):
            latency.setdefault(parts[1], {}).setdefault(int(parts[2][1:]), {})[parts[3]] = value
    return {"quality": quality, "latency": latency}


def _f(x: float | None, fmt: str = ".1f") -> str:
    return "–" if x is None or x != x else format(x, fmt)


def train_table(runs: list[TrainRun]) -> str:
    lines = [
        "| λ | α | Model B | steps | CoT tokens first → last | EM first → last | reward last | run |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        first_len = r.curve[0][1] if r.curve else None
        last_len = r.curve[-1][1] if r.curve else None
        first_em = r.em_curve[0][1] if r.em_curve else None
        last_em = r.em_curve[-1][1] if r.em_curve else None
        lines.append(
            f"| {r.lam:g} | {r.alpha:g} | {r.responder} | {len(r.curve)} | {_f(first_len)} → {_f(last_len)} | "
            f"{_f(first_em, '.2f')} → {_f(last_em, '.2f')} | {_f(r.final.get('reward_mean'), '.3f')} | "
            f"`{r.run_id[:8]}` |"
        )
    return "\n".join(lines) + "\n"


def _em_note(runs: list[TrainRun]) -> str:
    """Say so when no run ever scored: then R is the length penalty alone and B cannot matter."""
    if runs and all(v == 0 for r in runs for _, v in r.em_curve):
        return (
            "**EM was 0 at every step of every run**: the reward was the length penalty alone, so the runs "
            "with and without Model B follow the same curve. Model B can only make a difference once Model A's "
            "CoTs let some answers be right (a stronger A, a larger token cap, or an easier dataset).\n"
        )
    return ""


def render_summary(
    experiment: str,
    sweep_id: str | None,
    runs: list[TrainRun],
    eval_tables: dict[str, str],
    context: dict[str, str],
) -> str:
    out = [
        "# Hawkeye report",
        "",
        f"- MLflow experiment: `{experiment}`" + (f", sweep `{sweep_id}`" if sweep_id else ""),
        *(f"- {k}: {v}" for k, v in context.items()),
        "",
        "## Training (GRPO on Model A)",
        "",
        "The collapse curve is the mean CoT length per step. Without Model B (`responder=none`), A is",
        "scored on its own text and is pushed towards extremely short CoTs.",
        "",
        train_table(runs) if runs else "_No finished train runs._\n",
        _em_note(runs),
        "![collapse](collapse.png)",
        "",
        "![pareto](pareto.png)",
        "",
        "## Evaluation",
        "",
    ]
    if not eval_tables:
        out.append("_No finished evaluate runs._\n")
    for name, table in eval_tables.items():
        out += [f"### {name}", "", table]
    return "\n".join(out)
