"""The default arm against the compression target, in the poster's regime: A → B on the held-out split at
≥ `MIN_COMPRESSION` fewer tokens *as deployed* (A's CoT plus B's answer) than the base A alone, and within
`eval.margin` (3 points) of its accuracy. Both are decided by the nested interval over warm starts, seeds and
questions (`reporting.decide`), and the verdict says "cannot tell" when either interval straddles its line or
the runs come from fewer warm starts than a verdict needs.
"""

from __future__ import annotations

from typing import Any

from hawkeye.evaluation.table import A_TO_B
from hawkeye.fmt import count
from hawkeye.reporting import decide

MIN_COMPRESSION = 0.45
WORDS = {decide.YES: "met", decide.NO: "NOT met", decide.CANNOT_TELL: "cannot tell"}


def default_arm_row(methods: list[dict[str, Any]], arm: str) -> dict[str, Any] | None:
    return next((a for a in methods if a["arm"] == arm and a["reader"] == A_TO_B), None)


def decision(row: dict[str, Any], margin: float) -> tuple[str, str, str]:
    """(tokens, accuracy, target): each yes / no / cannot tell."""
    n_ws = len(row["warm_starts"])
    tokens = decide.at_least(row["compression_ab_ci_low"], row["compression_ab_ci_high"], MIN_COMPRESSION)
    acc = decide.within(row["accuracy_delta_pooled_ci_low"], row["accuracy_delta_pooled_ci_high"], margin)
    tokens, acc = decide.replicated(tokens, n_ws), decide.replicated(acc, n_ws)
    return tokens, acc, decide.combine(tokens, acc)


def target_lines(evaluation: dict[str, Any] | None, arm: str, margin: float) -> list[str]:
    if not evaluation:
        return ["_No evaluation results: the target was not checked._", ""]
    lines = []
    for dataset, res in evaluation["results"].items():
        row = default_arm_row(res.get("methods") or [], arm)
        if row is None:
            lines.append(f"- {dataset}: no `{arm}` A → B rows were evaluated.")
            continue
        tokens, acc, target = decision(row, margin)
        why = decide.too_few_warm_starts(len(row["warm_starts"]))
        lines.append(
            f"- **{dataset}: target {WORDS[target]}{f' ({why})' if why else ''}.** `{arm}` A → B over {count(len(row['warm_starts']), 'warm start')} × "
            f"{count(len(row['seeds']) // max(len(row['warm_starts']), 1), 'seed')}: A + B tokens "
            f"{100 * row['compression_ab_mean']:.1f}% fewer than the base A alone [95% CI "
            f"{100 * row['compression_ab_ci_low']:.1f}, {100 * row['compression_ab_ci_high']:.1f}] (≥ "
            f"{100 * MIN_COMPRESSION:g}%: {tokens}; A's CoT alone {100 * row['compression_mean']:.1f}% fewer); accuracy "
            f"{100 * row['accuracy_delta_pooled']:+.1f} points [{100 * row['accuracy_delta_pooled_ci_low']:+.1f}, "
            f"{100 * row['accuracy_delta_pooled_ci_high']:+.1f}] (within {100 * margin:g} points, judged by "
            f"the lower bound: {acc}).")
    return [*lines, ""]
