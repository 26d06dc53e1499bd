"""Supervised examples for the warm start: what A and B see, built from the testbed's labelled CoTs.

Model A learns the verbose solver: question -> reference CoT (with its planted waste) -> \\boxed{a},
through the same reasoning prompt that curation, GRPO and evaluation use. A small share of A's
examples use the direct prompt (answer only), so that "A told to answer directly" is a format A
knows and the gate measures its accuracy rather than its confusion.

Model B learns to read a CoT and answer. Its views were fixed from the method's definition alone,
before any GRPO run: B must answer from any CoT that A could hand it, as B reads it under any arm's
rule (`reward.answer_leak`, applied by `responder.reads.what_b_reads`). The CoTs A could write are
the reference (verbose) CoT with its answer, the critical steps with their answer, the critical steps
with the last one or two missing (A stops early, as in the poster's "Adding these values together."),
and nothing at all. B's target is one rule: the critical steps from the first one whose result B
cannot read, then the boxed answer; with no CoT at all, the boxed answer alone (B is a responder: it
finishes what A wrote, it is never taught to solve a question from scratch). So
- under `allow`, a CoT that states its answer teaches B to copy it, and a partial CoT teaches B to
  finish the missing steps;
- under `mask` (A's result hidden: its stated answer and its last computed value), B redoes the last
  step it can see and finishes any that are missing: B has work to do in every view;
- with no CoT, B answers alone: a small share, so B knows the format while staying weak alone.
B never sees a GRPO output: all its CoTs come from the generator.
"""

from __future__ import annotations

import random
from typing import Any

from hawkeye.data.sources.testbed import critical_steps
from hawkeye.prompts import direct_messages, reasoning_messages, render, responder_messages
from hawkeye.responder.reads import what_b_reads

Example = tuple[str, str]  # (rendered prompt, target text without EOS)


def boxed(answer: str) -> str:
    return f"\\boxed{{{answer}}}"


def a_target(row: dict[str, Any]) -> str:
    return f"{row['reference_cot']} {boxed(row['answer'])}"


def a_example(row: dict[str, Any], tok: Any, rng: random.Random, direct_fraction: float) -> Example:
    if rng.random() < direct_fraction:
        return render(tok, direct_messages(row["question"])), boxed(row["answer"])
    return render(tok, reasoning_messages(row["question"])), a_target(row)


# B's views: (what A could write, the rule B reads it under). The weights (warmstart.b_views) are fixed
# by the design above, not tuned on results.
VIEWS = {
    "full": ("reference", "allow"),
    "critical": ("critical", "allow"),
    "partial": ("partial", "allow"),
    "masked_full": ("reference", "mask"),
    "masked_critical": ("critical", "mask"),
    "masked_partial": ("partial", "mask"),
    "none": ("none", "allow"),
}


def partial_cot(steps: list[str], missing: int, answer_stated: str | None = None) -> str:
    """The critical steps without the last `missing`, optionally ending in a boxed intermediate value."""
    shown = " ".join(steps[: len(steps) - missing])
    return f"{shown} {boxed(answer_stated)}" if answer_stated is not None else shown


def b_view(row: dict[str, Any], view: str, rng: random.Random) -> tuple[str, str]:
    """(CoT as B reads it, B's target) for one view of `row`."""
    if view not in VIEWS:
        raise ValueError(f"unknown B view {view!r} (views: {sorted(VIEWS)})")
    written, rule = VIEWS[view]
    answer, steps = row["answer"], critical_steps(row["segments"])
    if written == "reference":
        cot, shown = a_target(row), len(steps)
    elif written == "critical":
        cot, shown = f"{' '.join(steps)} {boxed(answer)}", len(steps)
    elif written == "partial":
        missing = min(rng.choice((1, 2)), len(steps) - 1)  # a one-step question: its step, unboxed
        shown = len(steps) - missing
        # A that stops early may box its intermediate value (a stated answer that is not the answer)
        stated = step_value(steps[shown - 1]) if shown and rng.random() < 0.5 else None
        cot = partial_cot(steps, missing, stated)
    else:
        cot, shown = "", 0
    seen = what_b_reads(cot, rule)
    if not shown:
        return seen, boxed(answer)
    # Under mask the last shown step's result is hidden: B recomputes it, then the missing ones.
    first_to_write = shown - 1 if rule == "mask" and seen != cot else shown
    return seen, " ".join([*steps[first_to_write:], boxed(answer)])


def step_value(step: str) -> str:
    """The value a critical step computes ("She buys 3 more: 9 + 3 = 12." -> "12")."""
    return step.rstrip(".").rsplit("= ", 1)[1]


def b_example(row: dict[str, Any], tok: Any, rng: random.Random, views: dict[str, float]) -> Example:
    view = rng.choices(list(views), weights=list(views.values()))[0]
    cot, target = b_view(row, view, rng)
    # Deliberately `responder_messages`, not `responder_prompt`: `b_view` has already built the exact
    # CoT this SFT view shows B (full, critical, partial, masked or none), so no answer_leak rule applies.
    return render(tok, responder_messages(row["question"], cot)), target
