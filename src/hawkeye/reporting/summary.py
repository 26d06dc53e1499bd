"""reports/summary.md: what happened, in numbers. Every sentence about the outcome is generated
from the runs' numbers (see `hawkeye.reporting.verdict`)."""

from __future__ import annotations

from typing import Any

from hawkeye.evaluation.markdown import dataset_sections
from hawkeye.fmt import num, pm
from hawkeye.reporting import before_grpo
from hawkeye.reporting.collect import TrainRun
from hawkeye.reporting.comparison import comparison_section
from hawkeye.reporting.curves import ArmSummary, RunSummary
from hawkeye.reporting.pareto import ParetoPoint
from hawkeye.reporting.target import MIN_COMPRESSION, target_lines
from hawkeye.reporting.verdict import claim_sentence, definition, per_arm_lines


def _collapsed_cell(judged: int, collapsed: int, total: int) -> str:
    """Collapsed runs of the judged ones, and how many could not be judged (no ground truth)."""
    if not judged:
        return "not judged"
    return f"{collapsed}/{judged}" + (f" ({total - judged} not judged)" if judged < total else "")


def arm_table(arms: list[ArmSummary]) -> str:
    lines = ["| Arm | Trained with B | B reads CoT | Seeds | Steps | k | CoT / len(c_orig) first → last | "
             "CoT tokens first → last | EM (%) first → last | Collapsed rollouts (%) first → last | Collapsed |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for a in arms:
        steps = sorted({r.steps for r in a.runs})
        ks = sorted({r.k for r in a.runs})
        lines.append(
            f"| {a.arm} | {'yes' if a.uses_b else 'no'} | {a.answer_leak if a.uses_b else '–'} | {len(a.runs)} | "
            f"{'/'.join(map(str, steps))} | {'/'.join(map(str, ks))} | "
            f"{pm(*a.mean_sd('length_first'), digits=2)} → {pm(*a.mean_sd('length_last'), digits=2)} | "
            f"{pm(*a.mean_sd('tokens_first'))} → {pm(*a.mean_sd('tokens_last'))} | "
            f"{pm(*a.mean_sd('em_first'), 100)} → {pm(*a.mean_sd('em_last'), 100)} | "
            f"{pm(*a.mean_sd('collapsed_share_first'), 100)} → "
            f"{pm(*a.mean_sd('collapsed_share_last'), 100)} | "
            f"{_collapsed_cell(len(a.judged), len(a.collapsed), len(a.runs))} |")
    return "\n".join(lines) + "\n"


def run_table(runs: list[RunSummary]) -> str:
    lines = ["| Arm | Warm start | Seed | Steps | k | len(c_orig) | critical | CoT / len(c_orig) first → last | "
             "EM (%) first → last | EM drop (points) | Collapsed rollouts (%) first → last | Collapsed |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(
            f"| {r.run.arm} | {r.run.warm_start or '–'} | {r.run.seed} | {r.steps} | {r.k} | {num(r.orig_tokens)} | "
            f"{num(r.critical_tokens)} | {num(r.length_first, digits=2)} → {num(r.length_last, digits=2)} | "
            f"{num(r.em_first, 100)} → {num(r.em_last, 100)} | {num(r.em_drop, 100)} | "
            f"{num(r.collapsed_share_first, 100)} → {num(r.collapsed_share_last, 100)} | "
            f"{('yes' if r.collapsed else 'no') if r.judged else 'not judged'} |")
    return "\n".join(lines) + "\n"


def pareto_table(points: list[ParetoPoint]) -> str:
    lines = ["| λ | α | Arm | Seeds | k | CoT tokens (mean of last k steps) | EM (%) (mean of last k steps) |",
             "|---|---|---|---|---|---|---|"]
    for p in points:
        lines.append(f"| {p.lam:g} | {p.alpha:g} | {p.arm} | {len(p.seed_tokens)} | {p.k} | {num(p.tokens)} | "
                     f"{num(p.em, 100)} |")
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
    context: dict[str, str],
    runs: list[RunSummary],
    arms: list[ArmSummary],
    rule: Any,
    mlflow_runs: list[TrainRun],
    points: list[ParetoPoint],
    evaluation: dict[str, Any] | None,
    gate: dict[str, Any] | None = None,
    arms_cfg: Any = None,
    margin: float = 0.03,
) -> str:
    pairs = dict(arms_cfg.pairs) if arms_cfg is not None else None
    default_arm = str(arms_cfg.default) if arms_cfg is not None else None
    out = [
        "# Hawkeye report",
        "",
        f"- MLflow experiment: `{experiment}`",
        *(f"- {k}: {v}" for k, v in context.items()),
        "",
        "## Before GRPO: the gate, and where each arm's reward points",
        "",
        *before_grpo.section(gate),
        "## Training: what each arm did",
        "",
    ]
    if runs:
        out += [
            "CoT length is relative to c_orig (the step's `cot_tokens_mean / orig_tokens_mean`); \"critical\" is the "
            "critical steps' length in A's tokens (ground truth); EM is the training reward's exact match (B's answer "
            "in the arms with B, A's own without); collapsed rollouts are those collapsed on their question (the "
            "definition below). \"first\" and \"last\" are means over the first and the last k steps; ± is the "
            "sample standard deviation over seeds.",
            "",
            arm_table(arms),
            definition(rule, {r.k for r in runs}),
            "",
            *per_arm_lines(arms),
            "",
            claim_sentence(arms, pairs),
            "",
            "Per run:",
            "",
            run_table(runs),
            "![collapse](collapse.png)",
            "",
        ]
    else:
        out += ["_No arm runs (`<train_dir>/<arm>/seed<k>/`) were found._", "", claim_sentence(arms, pairs), ""]
    if default_arm is not None:
        out += [f"## The default arm against the target (≥ {100 * MIN_COMPRESSION:g}% fewer A + B tokens, within "
                f"{100 * margin:g} points of the base A, both by the interval)", "",
                *target_lines(evaluation, default_arm, margin)]
    out += comparison_section(evaluation, arms_cfg)
    out += [
        "## Evaluation on the held-out splits",
        "",
    ]
    if not evaluation:
        out.append("_No evaluation results (run the evaluate stage)._\n")
    else:
        confidence = float(evaluation["context"].get("confidence", 0.95))
        out += dataset_sections(evaluation["results"], confidence, "###")
        out += ["Serving latency is not in this file (timings differ from run to run, and this report is an output "
                "a reproduction must match): see `latency.md` beside the evaluation's `metrics.json`.", ""]
    out += [
        "## Accuracy against CoT length (every finished train run in MLflow)",
        "",
        f"{len(mlflow_runs)} finished train runs, {len(points)} distinct (λ, α, arm) points; each point is the mean "
        "over its seeds of the last k steps.",
        "",
        pareto_table(points) if points else "_No finished train runs._\n",
        _em_note(mlflow_runs),
        "![pareto](pareto.png)",
        "",
    ]
    return "\n".join(out)
