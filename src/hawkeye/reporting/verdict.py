"""The collapse verdict in words, generated from the numbers and never from the paper's claim.

The paper's claim (1): trained without Model B, A's CoT collapses (it becomes very short and the
answers stop being right); trained with B reading the CoT, it does not. Whatever the runs did is
said plainly: a no-B arm that did not collapse, or a B arm that did, is named with its seeds.
"""

from __future__ import annotations

from typing import Any

from hawkeye.reporting.curves import ArmSummary


def definition(rule: Any, k_values: set[int]) -> str:
    ks = ", ".join(str(k) for k in sorted(k_values)) or "?"
    return (f"**Collapse** (`hawkeye.collapse`, the definition the training detector uses too): over the last k "
            f"steps, mean CoT length < {float(rule.length_fraction):g} × the critical content of the steps' questions "
            f"(their critical steps in A's tokens) **and** training EM fell by at least "
            f"{100 * float(rule.accuracy_drop):g} points from the mean of the first k steps to the mean of the last k "
            f"(k = {ks}: per-step EM is the mean over a few questions and is noisy). Keys: `collapse.*`.")


def _seeds(arm: ArmSummary) -> str:
    hit = arm.collapsed
    names = ", ".join(f"ws{r.run.warm_start} seed {r.run.seed}" if r.run.warm_start else f"seed {r.run.seed}"
                      for r in hit)
    unit = "runs" if any(r.run.warm_start for r in arm.runs) else "seeds"
    return f"{len(hit)} of {len(arm.runs)} {unit}" + (f" ({names})" if hit else "")


def per_arm_lines(arms: list[ArmSummary]) -> list[str]:
    lines = []
    for a in arms:
        kind = f"trained with B, answer_leak={a.answer_leak}" if a.uses_b else "trained without B"
        lines.append(f"- `{a.arm}` ({kind}): collapsed in {_seeds(a)}.")
    return lines


def claim_sentence(arms: list[ArmSummary], pairs: dict[str, list[str]] | None = None) -> str:
    """The verdict on claim (1), one setting at a time: `pairs` = {setting: [arm with B, arm without B]}
    (arms that differ only in B). Without pairs, every no-B arm is held against every arm with B."""
    if not arms:
        return "No arm runs were found, so the paper's claim (1) was not tested."
    by_name = {a.arm: a for a in arms}
    if pairs:
        found = {s: p for s, p in pairs.items() if all(a in by_name for a in p)}
        if not found:
            return "No pair of arms (with B, without B) of `arms.pairs` was found, so claim (1) was not tested."
        return " ".join(_setting_verdict(s, by_name[p[0]], by_name[p[1]]) for s, p in found.items())
    no_b = [a for a in arms if not a.uses_b]
    with_b = [a for a in arms if a.uses_b]
    if not no_b or not with_b:
        missing = "without B" if not no_b else "with B"
        return f"No arm trained {missing} was found, so the paper's claim (1) (collapse without B, none with B) was not tested."
    return " ".join(_setting_verdict("all arms", w, n) for n in no_b for w in with_b)


def _setting_verdict(setting: str, with_b: ArmSummary, no_b: ArmSummary) -> str:
    n_hit, b_hit = len(no_b.collapsed), len(with_b.collapsed)
    if n_hit == len(no_b.runs) and b_hit == 0:
        verdict = "claim (1) held"
    elif n_hit == 0 or b_hit == len(with_b.runs):
        verdict = "claim (1) did not hold"
    else:
        verdict = "claim (1) held only in part"
    return (f"**Setting `{setting}`: {verdict}.** Without B (`{no_b.arm}`) the policy collapsed in {_seeds(no_b)}; "
            f"with B (`{with_b.arm}`, answer_leak={with_b.answer_leak}) in {_seeds(with_b)}. "
            f"Over the last k steps, without B: {_where(no_b)}; with B: {_where(with_b)}.")


def _where(arm: ArmSummary) -> str:
    """Where an arm ended, in the definition's two terms (means over its seeds)."""
    ratio, _ = arm.mean_sd("critical_ratio_last")
    drop, _ = arm.mean_sd("em_drop")
    return f"CoT at {ratio:.2f} × the critical content, training EM {-100 * drop:+.1f} points"
