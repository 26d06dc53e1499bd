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
from hawkeye.evaluation.removal import MEASURES
from hawkeye.evaluation.table import A_ALONE
from hawkeye.fmt import cell_text, num, pm


def _interval(lo: Any, hi: Any, scale: float = 1.0, digits: int = 1) -> str:
    if lo is None or hi is None or (isinstance(lo, float) and math.isnan(lo)):
        return ""
    return f" [{lo * scale:.{digits}f}, {hi * scale:.{digits}f}]"


def quality_table(rows: list[dict[str, Any]], confidence: float = 0.95) -> str:
    """One row per system: accuracy and the token delta vs Baseline with their bootstrap intervals."""
    ci = f"{100 * confidence:g}% CI"
    lines = [f"| System | Accuracy (%) [{ci}] | Δ accuracy vs Baseline (points) [{ci}] | CoT tokens | "
             f"Δ CoT tokens vs Baseline [{ci}] | Compression (%) | B tokens |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        base = r["key"] == "baseline"
        delta = "–" if base else cell_text(r["token_delta"], 1) + _interval(r["token_delta_ci_low"], r["token_delta_ci_high"])
        acc_delta = "–" if base else cell_text(100 * r["accuracy_delta"], 1) + _interval(
            r["accuracy_delta_ci_low"], r["accuracy_delta_ci_high"], 100)
        lines.append(f"| {r['label']} | {num(r['accuracy'], 100, counts=True)}{_interval(r['accuracy_ci_low'], r['accuracy_ci_high'], 100)} "
                     f"| {acc_delta} | {cell_text(r['cot_tokens'], 1)} | {delta} | "
                     f"{'–' if base else num(r['compression'], 100, counts=True)} | {cell_text(r['b_tokens'], 1)} |")
    return "\n".join(lines) + "\n"


_REMOVAL_LABELS = {"steps_kept": "Critical steps kept (%)", "kept_correct": "Kept steps correct (%)",
                   "waste_left": "Waste left (% of base A's)", "leaves_last": "Stops before the last step (%)",
                   "no_steps": "No step at all (%)", "other_share": "Sentences fitting no template (%)"}
# every measure gets a column, in MEASURES' order: a measure without a label fails at import
REMOVAL_COLUMNS = tuple((k, _REMOVAL_LABELS[k]) for k in MEASURES)


def _removal_header(first: str) -> list[str]:
    return [f"| {first} | " + " | ".join(label for _, label in REMOVAL_COLUMNS) + " |",
            "|---|" + "---|" * len(REMOVAL_COLUMNS)]


def removal_table(rows: list[dict[str, Any]]) -> str:
    """What compression removed, per Model A (its A-alone row; ground-truth datasets only)."""
    alone = [r for r in rows if r["reader"] == A_ALONE and any(k.startswith("removal_") for k in r)]
    if not alone:
        return ""
    lines = _removal_header("Model A")
    for r in alone:
        name = "Base A" if r["key"] == "baseline" else f"{r['arm']} seed{r['seed']}"
        lines.append(f"| {name} | " + " | ".join(num(r.get(f"removal_{k}"), 100, counts=True) for k, _ in REMOVAL_COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def _ci(r: dict[str, Any], metric: str, scale: float = 100, digits: int = 1) -> str:
    value = r.get(f"{metric}_mean", r.get(metric))
    return num(value, scale, digits, counts=True) + _interval(
        r.get(f"{metric}_ci_low"), r.get(f"{metric}_ci_high"), scale, digits)


def methods_table(methods: list[dict[str, Any]]) -> str:
    """Per method and reader, over every warm start and seed: accuracy and its difference to the base A alone
    with the nested interval, the half-width each level adds, the spreads, and cost as deployed."""
    lines = ["| Method | Trained with B | Answer from | Runs | Accuracy (%) [95% CI] | Δ vs base A alone (points) "
             "[95% CI] | ± from questions / + seeds / + warm starts | sd between warm starts / seeds (points) | "
             "A tokens | B tokens | A + B tokens | fewer A tokens (%) [95% CI] | fewer A + B tokens (%) [95% CI] | "
             "collapsed on (% of questions) [95% CI] |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in methods:
        trained = "–" if m["uses_b_in_training"] is None else ("yes" if m["uses_b_in_training"] else "no")
        base = m.get("key") == "baseline"
        hw = " / ".join(num(m.get(f"half_width_{k}"), 100, counts=True) for k in ("questions", "seeds", "warm_starts"))
        spread = " / ".join(num(m.get(f"spread_{k}"), 100, counts=True) for k in ("warm_starts", "seeds"))
        lines.append(
            f"| {m['arm']} | {trained} | {m['reader']} | {len(m['seeds'])} | {_ci(m, 'accuracy')} | "
            f"{'–' if base else _ci(m, 'accuracy_delta_pooled')} | {'–' if base else hw} | {spread} | "
            f"{cell_text(m['cot_tokens_mean'], 1)} | {cell_text(m['b_tokens_mean'], 1)} | {cell_text(m['ab_tokens_mean'], 1)} | "
            f"{'–' if base else _ci(m, 'compression')} | {'–' if base else _ci(m, 'compression_ab')} | "
            f"{_ci(m, 'collapsed') if 'collapsed_mean' in m else '–'} |")
    return "\n".join(lines) + "\n"


def arms_removal_table(methods: list[dict[str, Any]]) -> str:
    """What compression removed, per method (its A-alone row: the measures read A's CoT, so its A → B row holds
    the same numbers), mean ± sample sd over its runs."""
    alone = [m for m in methods if m["reader"] == A_ALONE and any(k.startswith("removal_") for k in m)]
    if not alone:
        return ""
    lines = _removal_header("Arm")
    for m in alone:
        lines.append(f"| {m['arm']} | " + " | ".join(
            pm(m.get(f"removal_{k}_mean"), m.get(f"removal_{k}_sd"), 100) for k, _ in REMOVAL_COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def dataset_sections(results: dict[str, dict[str, Any]], confidence: float, heading: str = "###") -> list[str]:
    out = []
    for name, r in results.items():
        out += [f"{heading} {name} ({r.get('n', '?')} questions)", "",
                "Every method over all warm starts and seeds; intervals from the nested bootstrap (warm starts, "
                "seeds in them, questions: `hawkeye.evaluation.nested`). The base A's runs are one per warm start.",
                "", methods_table(r["methods"])]
        if removal := arms_removal_table(r["methods"]):
            out += ["What compression removed, per arm (against the ground truth; `hawkeye.evaluation.removal`), "
                    "mean ± sample sd over runs:", "", removal]
        for ws, w in (r.get("warm_starts") or {}).items():
            out += [f"Warm start `{ws}`, per run (intervals over questions only):", "",
                    quality_table(w["systems"], confidence)]
            if removal := removal_table(w["systems"]):
                out += [f"What compression removed, warm start `{ws}`, per run:", "", removal]
        if (r.get("latency") or {}).get("methods"):
            out += ["Latency (closed loop, streaming):", "", latency_table(r["latency"])]
    return out


def render_results(results: dict[str, dict[str, Any]], context: dict[str, Any]) -> str:
    models = context.get("models", {})
    confidence = float(context.get("confidence", 0.95))
    lines = [
        "# Evaluation results",
        "",
        f"- Warm starts: {', '.join(f'`{w}`' for w in context.get('warm_starts', [])) or 'none'}; the first one's "
        f"Model A (base): `{models.get('baseline_a')}`; Model B: `{models.get('responder')}`",
        f"- Trained Model A runs: {', '.join(f'`{k}`' for k in context.get('trained', {})) or 'none'}",
        f"- Quality: greedy, {context.get('quality_backend')} backend; accuracy = exact match of the answering "
        "model's text; CoT tokens = A's mean generated tokens (no EOS); compression = 1 − CoT tokens / Baseline CoT "
        f"tokens. Intervals: {100 * confidence:g}% percentile bootstrap ({context.get('bootstrap_resamples')} resamples, "
        "seeded): nested over warm starts, seeds and questions for every method; over questions only (paired) "
        "in the per-run tables.",
        "",
        *dataset_sections(results, confidence, "##"),
        "Serving latency (and the poster-style table with it) is in `latency.md`.",
        "",
    ]
    return "\n".join(lines)

