"""Cost as deployed, weighted by what a token of each model costs on the serving path.

A method that shortens A's CoT but makes B write more has saved less than A's token count says. The
tokens of A and of B are not worth the same either: B is smaller. So each method's held-out tokens
(`evaluation.replicated`: A's CoT and B's answer per question) are weighted by the decode seconds per
token measured on the servers at the lowest concurrency timed:

- A: the Baseline cell's A decode time over its tokens after the first (the base A alone);
- B: the Full cell's B decode time over B's tokens after the first, B's tokens per request being
  Full's tokens minus CoT only's (the same trained A, greedy, on the same questions).

Prefill and queueing are left out: they depend on the load, not on the tokens a method writes. A timed
figure: it lives in the latency outputs, never in the deterministic quality files.
"""

from __future__ import annotations

import math
from typing import Any


def _cell(latency: dict[str, Any], method: str, c: Any) -> dict[str, Any]:
    cells = latency["methods"][method]
    return cells.get(c) or cells.get(str(c)) or {}


def _decode_mean(cell: dict[str, Any], part: str) -> float:
    return float(((cell.get("breakdown") or {}).get(part) or {}).get("mean", math.nan))


def per_token_seconds(latency: dict[str, Any]) -> tuple[Any, float, float]:
    """(concurrency, seconds per A token, seconds per B token) at the lowest concurrency timed."""
    c = min(latency["methods"]["baseline_full"], key=lambda k: int(k))
    base, full, cot = (_cell(latency, m, c) for m in ("baseline_full", "full", "cot_only"))
    a_tokens = float(base.get("tokens_mean", math.nan))
    b_tokens = float(full.get("tokens_mean", math.nan)) - float(cot.get("tokens_mean", math.nan))
    s_a = _decode_mean(base, "a_decode") / (a_tokens - 1) if a_tokens > 1 else math.nan
    s_b = _decode_mean(full, "b_decode") / (b_tokens - 1) if b_tokens > 1 else math.nan
    return c, s_a, s_b


def deployed_cost(latency: dict[str, Any], methods: list[dict[str, Any]]) -> dict[str, Any]:
    """Per method: A tokens, B tokens, and their decode seconds weighted by per-token cost, against the base A's."""
    c, s_a, s_b = per_token_seconds(latency)
    base = next(m for m in methods if m.get("key") == "baseline")
    base_s = base["cot_tokens_mean"] * s_a
    rows = []
    for m in methods:
        weighted = m["cot_tokens_mean"] * s_a + m["b_tokens_mean"] * (s_b if m["b_tokens_mean"] else 0.0)
        rows.append({"arm": m["arm"], "reader": m["reader"], "a_tokens": m["cot_tokens_mean"],
                     "b_tokens": m["b_tokens_mean"], "decode_s": weighted,
                     "reduction": 1 - weighted / base_s if base_s else math.nan})
    return {"concurrency": c, "s_per_token": {"a": s_a, "b": s_b}, "rows": rows}


def cost_table(cost: dict[str, Any]) -> str:
    """The Markdown table of `deployed_cost`."""
    s = cost["s_per_token"]
    lines = [f"Decode seconds per token at concurrency {cost['concurrency']}: A {s['a'] * 1000:.2f} ms, "
             f"B {s['b'] * 1000:.2f} ms.", "",
             "| Method | Answer from | A tokens | B tokens | A + B tokens | decode s (weighted) | fewer than base A (%) |",
             "|---|---|---|---|---|---|---|"]
    for r in cost["rows"]:
        lines.append(f"| {r['arm']} | {r['reader']} | {r['a_tokens']:.1f} | {r['b_tokens']:.1f} | "
                     f"{r['a_tokens'] + r['b_tokens']:.1f} | {r['decode_s']:.3f} | {100 * r['reduction']:.1f} |")
    return "\n".join(lines) + "\n"
