"""One table of every way to shorten A's CoT, on the held-out splits: the Baseline (base A alone), the
supervised baselines (`hawkeye.baselines`) and GRPO without and with B, from the evaluation's per-arm
figures over every warm start and seed (`evaluation.replicated`: the accuracy difference to the Baseline
with its nested interval over warm starts, seeds and questions). The sentences under it are generated
from the numbers, and decided by the intervals (`reporting.decide`).

Which answer a row scores is the method's deployment: GRPO without B is used alone, GRPO with B
through B. The SFT baselines were trained without B, so they get both rows: A alone, and A → B with
B reading the CoT under the default arm's rule (`reward.answer_leak`), as for GRPO with B.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hawkeye.evaluation.table import A_ALONE, A_TO_B, BASELINE
from hawkeye.fmt import num, pm
from hawkeye.reporting import decide


@dataclass(frozen=True)
class Method:
    label: str
    arm: str | None   # None: the Baseline (the base A's own row)
    reader: str


def methods(arms_cfg: Any) -> list[Method]:
    """The table's rows, in order; GRPO's arms are the config's default arm and its pair without B."""
    rows = [Method("Baseline", None, A_ALONE),
            Method("SFT-refined", "sft_refined", A_ALONE), Method("SFT-refined", "sft_refined", A_TO_B),
            Method("SFT-critical (ground truth)", "sft_critical", A_ALONE),
            Method("SFT-critical (ground truth)", "sft_critical", A_TO_B)]
    if arms_cfg is not None:
        pair = dict(arms_cfg.pairs).get("default")
        if pair:
            rows.append(Method("GRPO without B", str(pair[1]), A_ALONE))
        rows.append(Method("GRPO with B", str(arms_cfg.default), A_TO_B))
    return rows


def _delta(row: dict[str, Any]) -> str:
    return (f"{num(row['accuracy_delta_pooled'], 100)} [{num(row['accuracy_delta_pooled_ci_low'], 100)}, "
            f"{num(row['accuracy_delta_pooled_ci_high'], 100)}]")


def _reader(m: Method, row: dict[str, Any] | None) -> str:
    if m.reader == A_ALONE:
        return "A alone"
    return f"A → B (B reads `{row['answer_leak']}`)" if row else "A → B"


def table(result: dict[str, Any], rows: list[Method], confidence: float) -> tuple[str, list[tuple[Method, dict]]]:
    """The Markdown table of one dataset, and the (method, aggregate) pairs it found."""
    base = next(r for r in result["methods"] if r.get("key") == BASELINE)
    aggs = {(a["arm"], a["reader"]): a for a in result.get("methods") or []}
    ci = f"{100 * confidence:g}% CI"
    lines = [f"| Method | Arm | Answer from | Runs | Accuracy (%) | A tokens | A + B tokens | fewer A + B tokens (%) | "
             f"Δ accuracy vs Baseline (points) [{ci}, nested] |",
             "|---|---|---|---|---|---|---|---|---|"]
    found = []
    for m in rows:
        if m.arm is None:
            lines.append(f"| {m.label} | base A | A alone | {len(base['seeds'])} | {num(base['accuracy_mean'], 100)} | "
                         f"{num(base['cot_tokens_mean'])} | {num(base['ab_tokens_mean'])} | – | – |")
            continue
        row = aggs.get((m.arm, m.reader))
        if row is None:
            lines.append(f"| {m.label} | `{m.arm}` | {_reader(m, None)} | 0 | _not evaluated_ | – | – | – | – |")
            continue
        found.append((m, row))
        lines.append(f"| {m.label} | `{m.arm}` | {_reader(m, row)} | {len(row['seeds'])} | "
                     f"{pm(row.get('accuracy_mean'), row.get('accuracy_sd'), 100)} | {num(row['cot_tokens_mean'])} | "
                     f"{num(row['ab_tokens_mean'])} | "
                     f"{num(row['compression_ab_mean'], 100)} | {_delta(row)} |")
    return "\n".join(lines) + "\n", found


def _name(m: Method) -> str:
    return f"{m.label} ({'A alone' if m.reader == A_ALONE else 'A → B'})"


def verdict(found: list[tuple[Method, dict[str, Any]]], confidence: float) -> list[str]:
    """What the table says, decided by each method's nested interval against the Baseline: higher, lower,
    or cannot tell (the interval contains 0, or too few warm starts)."""
    if not found:
        return []
    ci = f"{100 * confidence:g}%"
    by = {"higher": [], "lower": [], decide.CANNOT_TELL: []}
    for m, row in found:
        answer = decide.difference(row["accuracy_delta_pooled_ci_low"], row["accuracy_delta_pooled_ci_high"])
        by[decide.replicated(answer, len(row["warm_starts"]))].append(f"{_name(m)} {_delta(row)}")
    why = decide.too_few_warm_starts(min(len(row["warm_starts"]) for _, row in found))
    lines = [f"- Against the Baseline's accuracy (nested {ci} interval, points{f'; {why}' if why else ''}): "
             + "; ".join(f"**{k}**: {', '.join(v)}" for k, v in by.items() if v) + "."]
    return lines


def comparison_section(evaluation: dict[str, Any] | None, arms_cfg: Any) -> list[str]:
    """The report's comparison: one table per held-out dataset, and what it says."""
    out = ["## One table: Baseline, supervised baselines and GRPO (held-out)", ""]
    if not evaluation:
        return [*out, "_No evaluation results (run the evaluate stage)._", ""]
    confidence = float(evaluation["context"].get("confidence", 0.95))
    out += ["Accuracy (mean ± sample sd over runs), A's CoT tokens, A + B tokens (cost as deployed) and the reduction "
            "of A + B tokens against the Baseline's, over every warm start and seed. "
            "SFT-refined is base A fine-tuned on its own CoTs refined by rules; SFT-critical on the generator's "
            "critical steps, ground truth no real dataset has (a reference point). A method is scored as it is "
            "deployed: GRPO without B alone, GRPO with B through B; the SFT baselines, trained without B, both ways. "
            "The `baselines` stage trains the SFT baselines, and the evaluate stage scores them.", ""]
    rows = methods(arms_cfg)
    for dataset, result in evaluation["results"].items():
        text, found = table(result, rows, confidence)
        out += [f"**{dataset}** ({result.get('n')} questions)", "", text, *verdict(found, confidence), ""]
    return out
