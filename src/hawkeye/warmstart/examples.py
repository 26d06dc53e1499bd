"""Supervised examples for the warm start: what A and B see, built from the testbed's labelled CoTs.

Model A learns the verbose solver: question -> reference CoT (with its planted waste) -> \\boxed{a},
through the same reasoning prompt that curation, GRPO and evaluation use. A small share of A's
examples use the direct prompt (answer only), so that "A told to answer directly" is a format A
knows and the gate measures its accuracy rather than its confusion.

Model B learns to read a CoT and answer. Its views were fixed from the method's definition alone,
before any GRPO run: B must answer from any CoT that A could hand it in any arm, so it sees
- the full reference CoT (answer stated: B copies it),
- the critical equations only (what a well-compressed A writes),
- a partial CoT with the last 1-2 steps missing (B finishes them: the collaboration of the paper),
- the CoT as B reads it under `reward.answer_leak=mask`,
- no CoT (so B knows the format, and "B alone" measures how weak B is without A).
B never sees a GRPO output: all its CoTs come from the generator.
"""

from __future__ import annotations

import random
from typing import Any

from hawkeye.prompts import direct_messages, reasoning_messages, render, responder_messages
from hawkeye.reward.leak import what_b_reads

Example = tuple[str, str]  # (rendered prompt, target text without EOS)


def boxed(answer: str) -> str:
    return f"\\boxed{{{answer}}}"


def a_target(row: dict[str, Any]) -> str:
    return f"{row['reference_cot']} {boxed(row['answer'])}"


def a_example(row: dict[str, Any], tok: Any, rng: random.Random, direct_fraction: float) -> Example:
    if rng.random() < direct_fraction:
        return render(tok, direct_messages(row["question"])), boxed(row["answer"])
    return render(tok, reasoning_messages(row["question"])), a_target(row)


def _critical(row: dict[str, Any]) -> list[str]:
    return [s["text"] for s in row["segments"] if s["kind"] == "critical"]


def b_view(row: dict[str, Any], view: str, rng: random.Random) -> tuple[str, str]:
    """(CoT as B reads it, B's target) for one view of `row`."""
    answer, steps = row["answer"], _critical(row)
    if view == "full":
        return a_target(row), boxed(answer)
    if view == "critical":
        return f"{' '.join(steps)} {boxed(answer)}", boxed(answer)
    if view == "partial":
        missing = min(rng.choice((1, 2)), len(steps) - 1)
        return " ".join(steps[:-missing]), f"{' '.join(steps[-missing:])} {boxed(answer)}"
    if view == "masked":
        cot = a_target(row) if rng.random() < 0.5 else f"{' '.join(steps)} {boxed(answer)}"
        return what_b_reads(cot, "mask"), f"{steps[-1]} {boxed(answer)}"
    if view == "none":
        return "", boxed(answer)
    raise ValueError(f"unknown B view {view!r}")


def b_example(row: dict[str, Any], tok: Any, rng: random.Random, views: dict[str, float]) -> Example:
    view = rng.choices(list(views), weights=list(views.values()))[0]
    cot, target = b_view(row, view, rng)
    # Deliberately `responder_messages`, not `responder_prompt`: `b_view` has already built the exact
    # CoT this SFT view shows B (full, critical, partial, masked or none), so no answer_leak rule applies.
    return render(tok, responder_messages(row["question"], cot)), target
