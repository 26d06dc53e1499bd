"""The results table in the poster's columns, plus accuracy and compression, as Markdown."""

from __future__ import annotations

import math
from typing import Any

METHODS = (("baseline", "baseline_full", "Baseline (Full)"),
           ("hawkeye_cot", "cot_only", "Hawkeye (CoT only)"),
           ("hawkeye", "full", "Hawkeye (Full)"),
           ("hawkeye", "serve", "Hawkeye (serve)"))
HEADER = ["Dataset", "Method", "Concurrency", "Time per Req (s)", "Avg TBT (s)", "Tokens", "Accuracy (%)", "Compression (%)",
          "Failed"]


def _fmt(x: Any, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def method_quality(quality: dict[str, Any], key: str) -> tuple[Any, Any, Any]:
    """(accuracy %, mean tokens, compression) of one table method from the quality summary."""
    if key == "baseline":
        return 100 * quality["baseline_accuracy"], quality["baseline_tokens"], None
    if key == "hawkeye_cot":
        return None, quality["hawkeye_a_tokens"], quality["compression"]
    return 100 * quality["hawkeye_accuracy"], quality["hawkeye_tokens"], quality["compression"]


def results_table(results: dict[str, dict[str, Any]]) -> str:
    """`results[dataset] = {"quality": summary, "latency": {method: {concurrency: cell}}}`."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for dataset, res in results.items():
        q, lat = res["quality"], res.get("latency") or {}
        for qkey, lkey, label in METHODS:
            acc, tokens, comp = method_quality(q, qkey)
            if lkey == "serve" and not lat.get(lkey):
                continue
            cells = lat.get(lkey) or {"–": None}
            for conc, cell in cells.items():
                # Quality tokens (offline, greedy) unless the latency run measured them.
                tok = cell["tokens_mean"] if cell else tokens
                lines.append("| " + " | ".join([
                    dataset, label, str(conc),
                    _fmt(cell["e2e_s_mean"]) if cell else "–",
                    _fmt(cell["tbt_s_mean"], 3) if cell else "–",
                    _fmt(float(tok), 0),
                    _fmt(acc, 1), _fmt(None if comp is None else 100 * comp, 1),
                    f"{int(cell['failed'])}/{int(cell['requests'])}" if cell else "–",
                ]) + " |")
        if "b_alone_accuracy" in q:
            lines.append(f"| {dataset} | B alone | – | – | – | {_fmt(q['b_alone_tokens'], 0)} | "
                         f"{_fmt(100 * q['b_alone_accuracy'], 1)} | – | – |")
    return "\n".join(lines) + "\n"


def render_results(results: dict[str, dict[str, Any]], context: dict[str, Any]) -> str:
    models = context.get("models", {})
    lines = [
        "# Evaluation results",
        "",
        f"- Model A (baseline): `{models.get('baseline_a')}`",
        f"- Model A (Hawkeye): `{models.get('hawkeye_a')}`",
        f"- Model B: `{models.get('responder')}`",
        f"- Hardware: {_hw(context.get('hardware') or {})}; vLLM {context.get('vllm_version')}",
        f"- Quality: greedy, {context.get('quality_backend')}; accuracy in %, tokens = mean generated tokens "
        "(A + B for Hawkeye (Full)); compression = 1 − Hawkeye A tokens / Baseline A tokens (the share of CoT tokens removed).",
        "- Latency: closed loop, streaming; time per request = send to last token (A then B for Full); "
        "TBT = mean gap between streamed tokens; failed requests counted in Failed.",
        "",
        results_table(results),
    ]
    return "\n".join(lines)


def _hw(info: dict[str, Any]) -> str:
    parts = [str(info.get("cpu")), f"{info.get('cpu_cores')} cores"]
    if info.get("gpu"):
        parts.append(str(info["gpu"]))
    return ", ".join(parts)
