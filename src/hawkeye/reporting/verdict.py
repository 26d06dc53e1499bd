"""The collapse verdict in words, generated from the numbers and never from the paper's claim.

The paper's claim (1): trained without Model B, A's CoT collapses (it becomes very short and the
answers stop being right); trained with B reading the CoT, it does not. Whatever the runs did is
said plainly: a no-B arm that did not collapse, or a B arm that did, is named with its seeds.
"""

from __future__ import annotations

from hawkeye.reporting.curves import ArmSummary


def definition(length_fraction: float, accuracy_drop: float, k_values: set[int]) -> str:
    ks = ", ".join(str(k) for k in sorted(k_values)) or "?"
    return (f"**Collapse** (this report's definition): over the last k steps, mean CoT length < "
            f"{length_fraction:g} · α · len(c_orig) **and** training EM fell by more than {100 * accuracy_drop:g} "
            f"points from the mean of the first k steps to the mean of the last k (k = {ks}: per-step EM is the mean "
            f"over a few questions and is noisy). Thresholds: `eval.collapse_length_fraction`, "
            f"`eval.collapse_accuracy_drop`, `eval.em_window_steps`.")


def _seeds(arm: ArmSummary) -> str:
    hit = arm.collapsed
    names = ", ".join(f"seed {r.run.seed}" for r in hit)
    return f"{len(hit)} of {len(arm.runs)} seeds" + (f" ({names})" if hit else "")


def per_arm_lines(arms: list[ArmSummary]) -> list[str]:
    lines = []
    for a in arms:
        kind = f"trained with B, answer_leak={a.answer_leak}" if a.uses_b else "trained without B"
        lines.append(f"- `{a.arm}` ({kind}): collapsed in {_seeds(a)}.")
    return lines


def claim_sentence(arms: list[ArmSummary]) -> str:
    """One sentence (or a few) on whether claim (1) held, from the per-run verdicts."""
    no_b = [a for a in arms if not a.uses_b]
    with_b = [a for a in arms if a.uses_b]
    if not arms:
        return "No arm runs were found, so the paper's claim (1) was not tested."
    if not no_b or not with_b:
        missing = "without B" if not no_b else "with B"
        return f"No arm trained {missing} was found, so the paper's claim (1) (collapse without B, none with B) was not tested."
    nob_runs = [r for a in no_b for r in a.runs]
    nob_hit = [r for r in nob_runs if r.collapsed]
    b_hit_arms = [a for a in with_b if a.collapsed]
    parts = []
    if not nob_hit:
        parts.append(f"The arm trained without B did not collapse (0 of {len(nob_runs)} runs): the paper's claim that "
                     "training without B collapses was not reproduced here.")
    elif len(nob_hit) < len(nob_runs):
        parts.append(f"The arm trained without B collapsed in only {len(nob_hit)} of {len(nob_runs)} runs.")
    else:
        parts.append(f"The arm trained without B collapsed in every run ({len(nob_runs)} of {len(nob_runs)}).")
    for a in b_hit_arms:
        parts.append(f"The B arm `{a.arm}` collapsed in {_seeds(a)}, against the paper's claim that B prevents "
                     "collapse.")
    if not b_hit_arms:
        parts.append(f"No run of the arms with B collapsed ({', '.join(f'`{a.arm}`' for a in with_b)}).")
    held = len(nob_hit) == len(nob_runs) and not b_hit_arms
    if held:
        verdict = "The paper's claim (1) held on this run."
    elif not nob_hit or len(b_hit_arms) == len(with_b):
        verdict = "The paper's claim (1) did not hold on this run."
    else:
        verdict = "The paper's claim (1) held only in part on this run."
    return " ".join([verdict, *parts])
