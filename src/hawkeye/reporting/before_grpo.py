"""The report's account of the testbed before any GRPO step, from `runs/warmstart/gate.json`: the gate's
checks, A's and B's abilities per number of operations, and where each arm's reward points."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hawkeye.errors import DataError
from hawkeye.fmt import num

ABILITIES = (("a_greedy", "A with its CoT (greedy)"), ("a_sampled", "A with its CoT (sampled, as GRPO sees it)"),
             ("a_direct", "A answering directly"), ("b_alone", "B alone"))
POLICY_LABELS = {"c_orig": "A's c_orig", "critical": "critical steps", "stop_early": "stop 1-2 steps early",
                 "direct": "direct answer"}


def load_gate(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: unreadable gate results: {e}") from e


def checks_table(gate: dict[str, Any]) -> str:
    lines = ["| Check | Value (%) | Threshold (%) | Passed |", "|---|---|---|---|"]
    for metric, c in gate["checks"].items():
        sign = "≥" if c["kind"] == "min" else "≤"
        lines.append(f"| {metric} | {num(c['value'], 100)} | {sign} {num(c['threshold'], 100)} | {'yes' if c['passed'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def abilities_table(gate: dict[str, Any]) -> str:
    """Accuracy per number of operations: A, B, and B under every rule an arm with B reads by."""
    by_ops = gate["by_ops"]
    buckets = list(by_ops["a_greedy"])
    rows = list(ABILITIES)
    for rule in gate.get("rules", []):
        rows += [(f"b_reads_c_orig/{rule}", f"B reading A's c_orig ({rule})"),
                 (f"b_reads_critical/{rule}", f"B reading the critical steps ({rule})"),
                 (f"b_finish/{rule}", f"B finishing the critical steps minus the last 1-2 ({rule})")]
    head = "| Accuracy (%) | all | " + " | ".join(b.replace("ops", "") + " op" for b in buckets) + " |"
    lines = [head, "|---|---|" + "---|" * len(buckets)]
    for key, label in rows:
        if key in by_ops:
            lines.append(f"| {label} | {num(gate['gate'][key], 100)} | "
                         + " | ".join(num(by_ops[key][b], 100) for b in buckets) + " |")
    for key, label in (("len/c_orig", "len(c_orig), tokens"), ("critical_tokens_mean", "critical steps, tokens")):
        if key in by_ops:
            lines.append(f"| {label} | {gate['gate'][key]:.1f} | " + " | ".join(f"{by_ops[key][b]:.1f}" for b in buckets)
                         + " |")
    return "\n".join(lines) + "\n"


def landscape_table(gate: dict[str, Any]) -> str:
    """Mean reward of each reference CoT under each arm's own λ, α and reader (validation split)."""
    land = gate.get("landscape")
    if not land:
        return ""
    lines = ["| Arm | λ | α | B reads | " + " | ".join(POLICY_LABELS.values()) + " | Highest |",
             "|---|---|---|---|" + "---|" * len(POLICY_LABELS) + "---|"]
    for arm, p in land["arms"].items():
        rewards = {k: land["reward"][arm][k]["all"] for k in POLICY_LABELS}
        best = max(rewards, key=lambda k: rewards[k])
        lines.append(f"| {arm} | {p['lambda']:g} | {p['alpha']:g} | {p['rule'] or 'no B'} | "
                     + " | ".join(f"{rewards[k]:+.3f}" for k in POLICY_LABELS) + f" | {POLICY_LABELS[best]} |")
    return "\n".join(lines) + "\n"


def direct_preferred(gate: dict[str, Any]) -> dict[str, list[str]]:
    """Per arm, the operation counts on whose questions a direct answer out-rewards the critical steps."""
    land = gate.get("landscape") or {}
    out = {}
    for arm, per in (land.get("reward") or {}).items():
        buckets = [b for b in per["direct"] if b.startswith("ops")]
        out[arm] = [b.removeprefix("ops") for b in buckets if per["direct"][b] > per["critical"][b]]
    return out


def section(gate: dict[str, Any] | None) -> list[str]:
    """The gate of every warm start (`gate.json` holds one summary per replicate)."""
    if gate is None:
        return ["_No gate results (run the gate stage)._", ""]
    lines = []
    for ws, one in gate["warm_starts"].items():
        lines += [f"### Warm start `{ws}`: gate {'passed' if one['passed'] else 'MISSED'}", "",
                  *warm_start_section({"split": gate["split"], **one})]
    return lines


def warm_start_section(gate: dict[str, Any]) -> list[str]:
    prefers = direct_preferred(gate)
    lines = [
        f"Measured on `{gate['split']}` ({gate['rows']} questions), before any GRPO step.",
        "",
        checks_table(gate),
        "Abilities per number of operations (A's direct answers are reported, never gated: an easy question "
        "answered without a CoT is how a reward that pays for short CoTs can collapse them):",
        "",
        abilities_table(gate),
    ]
    if rule := gate.get("settings_rule"):
        lines += [f"**The settings' rule** (docs/testbed.md), from these numbers: α = {rule['alpha']:.3f} (the critical "
                  f"steps' share of c_orig) and λ = {rule['lambda']:.3g} (a CoT as long as c_orig costs a quarter of EM); "
                  f"with short CoTs paying, α = {rule['short_alpha']:g} and λ = {rule['short_lambda']:.3g}. The arms train "
                  "with the λ and α in the table below.", ""]
    if gate.get("landscape"):
        lines += [
            "**Where each arm's reward points** (mean R = EM − λ·max(0, len(c) − α·len(c_orig))² of four reference "
            "CoTs under the arm's own λ, α and reader; A without B is scored on its own answer, cannot stop early, "
            "and its critical-steps EM is taken as its c_orig's):",
            "",
            landscape_table(gate),
            *(f"- `{arm}`: a direct answer out-rewards the critical steps on "
              + (f"{', '.join(ops)}-operation questions." if ops else "no question group.")
              for arm, ops in prefers.items()),
            "",
        ]
    return lines
