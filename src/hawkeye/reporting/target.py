"""The default arm against the compression target, in the poster's regime: over its seeds, A → B on the
held-out split within `max_accuracy_drop` of the base A's accuracy (the pooled paired difference, with
its interval) at ≥ `min_compression` fewer CoT tokens. Said as it came out, met or not."""

from __future__ import annotations

from typing import Any

from hawkeye.evaluation.table import A_TO_B

MIN_COMPRESSION = 0.45
MAX_ACCURACY_DROP = 0.03


def default_arm_row(arms: list[dict[str, Any]], arm: str) -> dict[str, Any] | None:
    return next((a for a in arms if a["arm"] == arm and a["reader"] == A_TO_B), None)


def target_lines(evaluation: dict[str, Any] | None, arm: str) -> list[str]:
    if not evaluation:
        return ["_No evaluation results: the target was not checked._", ""]
    lines = []
    for dataset, res in evaluation["results"].items():
        row = default_arm_row(res.get("arms") or [], arm)
        if row is None:
            lines.append(f"- {dataset}: no `{arm}` A → B rows were evaluated.")
            continue
        comp, delta = row["compression_mean"], row["accuracy_delta_pooled"]
        lo, hi = row["accuracy_delta_pooled_ci_low"], row["accuracy_delta_pooled_ci_high"]
        met_comp, met_acc = comp >= MIN_COMPRESSION, delta >= -MAX_ACCURACY_DROP
        verdict = "met" if met_comp and met_acc else "NOT met"
        why = [] if met_comp else [f"compression {100 * comp:.1f}% < {100 * MIN_COMPRESSION:g}%"]
        why += [] if met_acc else [f"accuracy {100 * delta:+.1f} points < −{100 * MAX_ACCURACY_DROP:g}"]
        sd = row.get("compression_sd")  # None with one seed: no spread to show
        spread = f" ± {100 * sd:.1f}" if sd is not None else ""
        lines.append(
            f"- **{dataset}: target {verdict}**{' (' + '; '.join(why) + ')' if why else ''}. `{arm}` A → B over "
            f"{len(row['seeds'])} seeds: {100 * comp:.1f}% fewer CoT tokens than the base A (per seed "
            f"{100 * row['compression_mean']:.1f}{spread}), accuracy "
            f"{100 * delta:+.1f} points against the base A alone [95% CI {100 * lo:+.1f}, {100 * hi:+.1f}] "
            f"(questions paired, seeds pooled).")
    return [*lines, ""]
