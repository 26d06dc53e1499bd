"""What the regimes' models are fine-tuned on, and the CoT forms their gate hands Model B.

**A's examples** (`a_example`): the warm start's own (question -> reference CoT -> boxed answer, or the
boxed answer alone through the direct prompt), with the direct share set per number of operations: an
A regime that answers easy questions in its head saw many direct answers to them.

**A's skips** (`skip_cot`): of the examples that ask A to reason, this share shows the boxed answer
alone. Without it A, sampled as GRPO samples it, never writes a CoT-free answer (0 of 688 samples on
one-operation questions, docs/regimes.md), so GRPO could never find one, however much it paid: the path
to collapse would not exist. Every A regime gets the same share, so a regime differs only in whether a
skip is right.

**A's drill** (`drill_example`): a fresh story of one operation, of any signature, answered directly.
The splits keep every question's arithmetic away from the others' (`data.sources.testbed`), so a
one-operation question at validation or test is arithmetic A never answered; a 0.56M-parameter A
then answers about half of them in its head, however long it is shown direct answers (docs/regimes.md).
A pretrained model knows its small sums by heart, and this is how an A regime gets to: the drill
covers all 144 one-operation facts in stories drawn afresh (one may match a split's question word for
word: its arithmetic is shared by design either way). Only the one-operation arithmetic is shared: a
two- or three-operation question is still arithmetic A never saw.

**B's views are generic** (`b_view`): prefixes of any CoT form A could write, not the ground-truth
critical forms GRPO happens to push A toward. A form is
- `verbose` (the reference CoT, waste and all) or `bare` (the critical steps only),
- cut after any number of its critical steps (1 .. all of them),
- with or without a box around its last value;
or a `direct` answer (a box, no steps), or `none` (no CoT: B alone, a small share so B knows the format).

**B's target is set by its capacity** `finish` (how many missing operations it computes):
- nothing missing: the boxed answer (the stated or last value, copied);
- m missing operations, m <= finish: the missing critical steps, then the boxed answer;
- more than `finish` missing: the first `finish` of them, then their value boxed. So a copy-only B
  (finish 0) boxes the last value it was given, and a one-operation B stops one step on: both give a
  wrong answer there, by construction, which is the regime;
- no CoT: the boxed answer (B alone).
B reads each form as written (`allow`, the paper's rule): the regimes compare what B can do with what
A hands it, not a masking rule.
"""

from __future__ import annotations

import random
from typing import Any

from hawkeye.data.sources.testbed import TestbedSpec, critical_steps, make_problem
from hawkeye.prompts import direct_messages, reasoning_messages, render, responder_messages
from hawkeye.responder.reads import what_b_reads
from hawkeye.warmstart.examples import Example, a_target, boxed, step_value
from hawkeye.warmstart.gate import n_ops

# The share of drills asked through the reasoning prompt. A 0.56M-parameter A knows a fact only under the
# prompt it learned it with: every drill asked directly, 21% of its CoT-free answers to one-operation
# questions were right when asked to reason; one drill in ten asked to reason, 49% (docs/regimes.md).
# A pretrained model knows its small sums however it is asked: so the drill asks both ways.
DRILL_ASKED_TO_REASON = 0.5

VIEW_STYLES = {"verbose": ("verbose", False), "verbose_boxed": ("verbose", True), "bare": ("bare", False),
               "bare_boxed": ("bare", True)}


def a_example(row: dict[str, Any], tok: Any, rng: random.Random, direct_by_ops: dict[int, float],
              skip_cot: float) -> Example:
    if rng.random() < float(direct_by_ops.get(n_ops(row), 0.0)):
        return render(tok, direct_messages(row["question"])), boxed(row["answer"])
    if rng.random() < skip_cot:  # asked to reason, A sometimes answers at once: GRPO's path to a short CoT
        return render(tok, reasoning_messages(row["question"])), boxed(row["answer"])
    return render(tok, reasoning_messages(row["question"])), a_target(row)


def drill_example(tok: Any, rng: random.Random, spec: TestbedSpec) -> Example:
    """A direct answer to a fresh one-operation story of any signature (see the module doc), asked for
    directly or asked to reason (`DRILL_ASKED_TO_REASON`)."""
    row = make_problem(rng, TestbedSpec(min_ops=1, max_ops=1, max_operand=spec.max_operand, max_total=spec.max_total))
    messages = reasoning_messages if rng.random() < DRILL_ASKED_TO_REASON else direct_messages
    return render(tok, messages(row["question"])), boxed(row["answer"])


def prefix(row: dict[str, Any], shown: int, style: str, box: bool) -> str:
    """A CoT A could write: the first `shown` critical steps, as `style` writes them (`verbose`: the
    reference CoT up to the next critical step, waste included; `bare`: the steps alone), its last
    value boxed when `box`."""
    steps = critical_steps(row["segments"])
    if style == "bare":
        text = " ".join(steps[:shown])
    else:
        segments, seen, kept = row["segments"], 0, []
        for seg in segments:
            if seg["kind"] == "critical":
                if seen == shown:
                    break
                seen += 1
            kept.append(seg["text"])
        text = " ".join(kept)
    return f"{text} {boxed(step_value(steps[shown - 1]))}" if box and shown else text


def target(row: dict[str, Any], shown: int, finish: int) -> str:
    """What B with capacity `finish` writes after the first `shown` critical steps (see the module doc)."""
    steps = critical_steps(row["segments"])
    if shown == 0:
        return boxed(row["answer"])
    missing = len(steps) - shown
    if missing == 0:
        return boxed(row["answer"])
    written = steps[shown:shown + min(missing, finish)]
    last = step_value(written[-1]) if written else step_value(steps[shown - 1])
    return " ".join([*written, boxed(last)])


def b_view(row: dict[str, Any], view: str, finish: int, rng: random.Random) -> tuple[str, str]:
    """(CoT as B reads it, B's target) for one generic view of `row`."""
    if view == "none":
        return "", boxed(row["answer"])
    if view == "direct":  # A answered directly: B copies the box
        return boxed(row["answer"]), boxed(row["answer"])
    if view not in VIEW_STYLES:
        raise ValueError(f"unknown B view {view!r} (views: {sorted([*VIEW_STYLES, 'direct', 'none'])})")
    style, box = VIEW_STYLES[view]
    shown = rng.randint(1, n_ops(row))
    return what_b_reads(prefix(row, shown, style, box), "allow"), target(row, shown, finish)


def b_example(row: dict[str, Any], tok: Any, rng: random.Random, views: dict[str, float], finish: int) -> Example:
    view = rng.choices(list(views), weights=list(views.values()))[0]
    cot, out = b_view(row, view, finish, rng)
    return render(tok, responder_messages(row["question"], cot)), out


def gate_form(row: dict[str, Any], form: str) -> str | None:
    """The CoT handed to B for one gate form (`config.B_FORMS`), or None when the row cannot have it
    (a one-operation question has no 'two steps missing')."""
    steps = critical_steps(row["segments"])
    n = len(steps)
    if form == "none":
        return ""
    if form == "first_step_hidden":  # B alone in the form it meets in training: one step, its value hidden
        return what_b_reads(f"{steps[0]} {boxed(step_value(steps[0]))}", "mask")
    if form == "direct_boxed":
        return boxed(row["answer"])
    if form == "critical_boxed":
        return prefix(row, n, "bare", True)
    if form == "critical_bare":
        return prefix(row, n, "bare", False)
    if form == "verbose_boxed":
        return prefix(row, n, "verbose", True)
    if form in ("missing1_bare", "missing2_bare"):
        missing = int(form[7])
        return prefix(row, n - missing, "bare", False) if n > missing else None
    raise ValueError(f"unknown gate form {form!r}")
