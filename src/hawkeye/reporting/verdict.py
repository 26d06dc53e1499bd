"""The collapse verdict in words, generated from the numbers and never from the paper's claim.

The paper's claim (1): trained without Model B, A's CoT collapses (it stops stating the question's
critical steps and the answers stop being right); trained with B reading the CoT, it does not.
Whatever the runs did is said plainly: a no-B arm that did not collapse, or a B arm that did, is
named with its seeds; a run whose questions have no ground truth is "not judged"; and runs from fewer warm
starts than a verdict needs (`reporting.decide.MIN_WARM_STARTS`) say "cannot tell".
"""

from __future__ import annotations

from typing import Any

from hawkeye.collapse import WORST_VARIANCE
from hawkeye.reporting import decide
from hawkeye.reporting.curves import ArmSummary


def definition(rule: Any, k_values: set[int]) -> str:
    ks = ", ".join(str(k) for k in sorted(k_values)) or "?"
    margin = float(rule.margin)
    return (f"**Collapse** (`hawkeye.collapse`, the definition the training detector uses too). Per question: a "
            f"CoT has collapsed when it states at most {float(rule.steps_share):g} of the question's critical steps "
            f"(ground truth: the testbed's labelled steps) **and** the answer scored for it is wrong (B's answer in "
            f"the arms with B, A's own without). Per run: the collapsed share of the rollouts, averaged over the last "
            f"k steps, exceeds its average over the first k steps by at least {100 * margin:g} points. k is the "
            f"fewest steps (at least {int(rule.window_steps)}, at most half the curve) for which the standard error "
            f"of that difference, sqrt(2 · {WORST_VARIANCE:g} / (n·k)) with n rollouts per step, is at most "
            f"{100 * margin / 2:g} points (k = {ks}). Questions without ground truth (no labelled steps) are not "
            f"judged. Keys: `collapse.*`.")


def _names(runs: list) -> str:
    return ", ".join(f"ws{r.run.warm_start} seed {r.run.seed}" if r.run.warm_start else f"seed {r.run.seed}"
                     for r in runs)


def _seeds(arm: ArmSummary) -> str:
    hit, judged, unjudged = arm.collapsed, arm.judged, arm.not_judged
    unit = "runs" if any(r.run.warm_start for r in arm.runs) else "seeds"
    text = f"{len(hit)} of {len(judged)} judged {unit}" + (f" ({_names(hit)})" if hit else "")
    if unjudged:
        text += "; not judged: " + _names(unjudged)
    return text


def per_arm_lines(arms: list[ArmSummary]) -> list[str]:
    lines = []
    for a in arms:
        kind = f"trained with B, answer_leak={a.answer_leak}" if a.uses_b else "trained without B"
        what = f"collapsed in {_seeds(a)}" if a.judged else "not judged (no ground truth for its questions)"
        lines.append(f"- `{a.arm}` ({kind}): {what}.")
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
    if not no_b.judged or not with_b.judged:
        missing = ", ".join(f"`{a.arm}`" for a in (no_b, with_b) if not a.judged)
        return (f"**Setting `{setting}`: not judged.** No run of {missing} could be judged (its questions have no "
                f"ground-truth critical steps), so claim (1) was not tested here.")
    n_hit, b_hit = len(no_b.collapsed), len(with_b.collapsed)
    why = decide.too_few_warm_starts(min(_warm_starts(no_b), _warm_starts(with_b)))
    if why:
        verdict = f"claim (1): cannot tell ({why})"
    elif n_hit == len(no_b.judged) and b_hit == 0:
        verdict = "claim (1) held"
    elif n_hit == 0 or b_hit == len(with_b.judged):
        verdict = "claim (1) did not hold"
    else:
        verdict = "claim (1) held only in part"
    return (f"**Setting `{setting}`: {verdict}.** Without B (`{no_b.arm}`) the policy collapsed in {_seeds(no_b)}; "
            f"with B (`{with_b.arm}`, answer_leak={with_b.answer_leak}) in {_seeds(with_b)}. "
            f"First k → last k steps, without B: {_where(no_b)}; with B: {_where(with_b)}.")


def _warm_starts(arm: ArmSummary) -> int:
    """Independent warm starts among an arm's judged runs (a run of no replicate counts as one)."""
    return len({r.run.warm_start for r in arm.judged})


def _where(arm: ArmSummary) -> str:
    """Where an arm went, in the definition's terms (means over its judged seeds)."""
    first, last, drop = (arm.mean_sd(a, judged_only=True)[0] for a in ("collapsed_share_first", "collapsed_share_last",
                                                                        "em_drop"))
    return (f"collapsed rollouts {100 * first:.1f}% → {100 * last:.1f}% ({100 * (last - first):+.1f} points), "
            f"training EM {-100 * drop:+.1f} points")
