"""The evaluation's quality Markdown (`results.md`): quality with intervals and per-arm means over
seeds. Nothing timed: the latency tables are `evaluation.latency.report`'s (`latency.md`); a
dataset section shows them only when given latency (the report does, `results.md` never).

`results[dataset]` = {"n", "quality": the poster summary, "systems": table rows, "arms": per-arm
aggregates, optionally "latency"}.
"""

from __future__ import annotations

import math
from typing import Any

from hawkeye.evaluation.latency.report import latency_table


def _fmt(x: Any, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def _pct(x: Any, digits: int = 1) -> str:
    return _fmt(None if x is None else 100 * x, digits)


def _interval(lo: Any, hi: Any, scale: float = 1.0, digits: int = 1) -> str:
    if lo is None or hi is None or (isinstance(lo, float) and math.isnan(lo)):
        return ""
    return f" [{lo * scale:.{digits}f}, {hi * scale:.{digits}f}]"


def _pm(mean: Any, sd: Any, scale: float = 1.0, digits: int = 1) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    spread = "" if sd is None or (isinstance(sd, float) and math.isnan(sd)) else f" ± {sd * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f}{spread}"


def quality_table(rows: list[dict[str, Any]], confidence: float = 0.95) -> str:
    """One row per system: accuracy and the token delta vs Baseline with their bootstrap intervals."""
    ci = f"{100 * confidence:g}% CI"
    lines = [f"| System | Accuracy (%) [{ci}] | CoT tokens | Δ CoT tokens vs Baseline [{ci}] | Compression (%) | "
             "B tokens |", "|---|---|---|---|---|---|"]
    for r in rows:
        delta = "–" if r["key"] == "baseline" else _fmt(r["token_delta"], 1) + _interval(
            r["token_delta_ci_low"], r["token_delta_ci_high"])
        lines.append(f"| {r['label']} | {_pct(r['accuracy'])}{_interval(r['accuracy_ci_low'], r['accuracy_ci_high'], 100)} "
                     f"| {_fmt(r['cot_tokens'], 1)} | {delta} | "
                     f"{'–' if r['key'] == 'baseline' else _pct(r['compression'])} | {_fmt(r['b_tokens'], 1)} |")
    return "\n".join(lines) + "\n"


def arms_table(arms: list[dict[str, Any]]) -> str:
    """Per arm and system: mean ± sample sd over seeds (no ± for a single seed)."""
    lines = ["| Arm | Trained with B | B reads CoT | System | Seeds | Accuracy (%) | CoT tokens | Compression (%) |",
             "|---|---|---|---|---|---|---|---|"]
    for a in arms:
        lines.append(
            f"| {a['arm']} | {'yes' if a['uses_b_in_training'] else 'no'} | {a['answer_leak']} | {a['reader']} | "
            f"{len(a['seeds'])} | {_pm(a['accuracy_mean'], a['accuracy_sd'], 100)} | "
            f"{_pm(a['cot_tokens_mean'], a['cot_tokens_sd'])} | {_pm(a['compression_mean'], a['compression_sd'], 100)} |")
    return "\n".join(lines) + "\n"


def dataset_sections(results: dict[str, dict[str, Any]], confidence: float, heading: str = "###") -> list[str]:
    out = []
    for name, r in results.items():
        out += [f"{heading} {name} ({r.get('n', '?')} questions)", "", quality_table(r["systems"], confidence)]
        if r.get("arms"):
            out += ["Per arm, mean ± sample sd over seeds:", "", arms_table(r["arms"])]
        if (r.get("latency") or {}).get("methods"):
            out += ["Latency (closed loop, streaming):", "", latency_table(r["latency"])]
    return out


def render_results(results: dict[str, dict[str, Any]], context: dict[str, Any]) -> str:
    models = context.get("models", {})
    confidence = float(context.get("confidence", 0.95))
    lines = [
        "# Evaluation results",
        "",
        f"- Model A (base): `{models.get('baseline_a')}`; Model B: `{models.get('responder')}`",
        f"- Trained Model A runs: {', '.join(f'`{k}`' for k in context.get('trained', {})) or 'none'}",
        f"- Quality: greedy, {context.get('quality_backend')} backend; accuracy = exact match of the answering "
        "model's text; CoT tokens = A's mean generated tokens (no EOS); compression = 1 − CoT tokens / Baseline CoT "
        f"tokens. Intervals: {100 * confidence:g}% percentile bootstrap over questions "
        f"({context.get('bootstrap_resamples')} resamples, seeded; the token delta resamples questions paired).",
        "",
        *dataset_sections(results, confidence, "##"),
        "Serving latency (and the poster-style table with it) is in `latency.md`.",
        "",
    ]
    return "\n".join(lines)

