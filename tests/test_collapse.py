"""Collapse, the one definition: per question against the ground truth, per run by the k rule, and its
calibration on constructed CoTs over generated testbed questions (the real reading of the real text)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from conftest import TESTBED_SPEC, collapse_rule
from hawkeye.answers import exact_match
from hawkeye.collapse import (
    collapse_window,
    collapsed_on,
    collapsed_share,
    se_steps,
    standard_error,
    steps_to_judge,
    verdict,
)
from hawkeye.data.schema import make_curated_row, validate_curated_row
from hawkeye.data.sources.testbed import critical_steps, generate
from hawkeye.errors import ConfigError

RULE = collapse_rule()
G, QUESTIONS = 8, 2          # the testbed's group size and questions per step: n = 16 rollouts per step
N = G * QUESTIONS
STEPS = 20                   # two windows of the default k = 10


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return generate("train", 60, seed=11, spec=TESTBED_SPEC)


def _row_with_ops(rows: list[dict], n_ops: int) -> dict:
    return next(r for r in rows if len(critical_steps(r["segments"])) == n_ops)


def _value(step: str) -> str:
    """The result of a critical step ("He sells 2: 16 - 2 = 14." -> "14")."""
    return step.rstrip(".").rsplit("= ", 1)[1]


# ---- per question ------------------------------------------------------------------------------

def test_a_cot_collapses_on_a_question_when_it_states_few_steps_and_the_answer_is_wrong(rows: list[dict]) -> None:
    row = _row_with_ops(rows, 4)
    steps = critical_steps(row["segments"])
    assert collapsed_on(r"\boxed{3}", row, False, RULE) == 1.0                     # no step, wrong
    assert collapsed_on(" ".join(steps[:2]), row, False, RULE) == 1.0              # 2 of 4 = the share: "at most"
    assert collapsed_on(" ".join(steps[:3]), row, False, RULE) == 0.0              # 3 of 4, wrong: a mistake
    assert collapsed_on(" ".join(steps), row, False, RULE) == 0.0                  # every step, wrong: a mistake
    assert collapsed_on(rf"\boxed{{{row['answer']}}}", row, True, RULE) == 0.0    # no step, right: compression
    assert collapsed_on("Let me think. So Tom has 3 apples.", row, False, RULE) == 1.0  # waste is no step


def test_rows_without_ground_truth_are_not_judged(rows: list[dict]) -> None:
    gsm = {"id": "g", "question": "Tom has 3 apples. How many?", "answer": "3"}
    assert math.isnan(collapsed_on(r"\boxed{4}", gsm, False, RULE))
    row = rows[0]
    assert collapsed_share([r"\boxed{0}", r"\boxed{0}"], [False, False], [row, row], RULE) == 1.0
    assert math.isnan(collapsed_share([r"\boxed{0}", r"\boxed{0}"], [False, False], [row, gsm], RULE))
    with pytest.raises(ValueError, match="equal, non-empty"):
        collapsed_share([r"\boxed{0}"], [False, True], [row], RULE)


def test_curated_training_rows_keep_their_ground_truth(rows: list[dict]) -> None:
    """Training judges collapse on curated rows: their labelled segments survive curation and its schema."""
    row = rows[0]
    curated = make_curated_row(row, cot_orig="x", cot_orig_tokens=5, orig_correct=True, cot_refined="x",
                               cot_refined_tokens=5, refine_rejected=False, flags=[], cot_critical_tokens=3)
    read = validate_curated_row(curated, "train.jsonl", 1, for_training=True)
    assert read["segments"] == row["segments"]
    assert collapsed_on(r"\boxed{999}", read, False, RULE) == 1.0


def test_the_share_of_a_question_needs_a_share_below_one() -> None:
    with pytest.raises(ConfigError, match="steps_share"):
        collapse_rule(steps_share=1.0)   # every CoT would state "at most all" of its steps
    with pytest.raises(ConfigError, match="margin"):
        collapse_rule(margin=0.0)


# ---- per run: the k rule ------------------------------------------------------------------------

def test_k_is_the_fewest_steps_whose_standard_error_is_at_most_half_the_margin() -> None:
    for n in (1, 2, 3, 8, 16, 64):
        for margin in (0.1, 0.2, 0.3, 0.5):
            k = se_steps(n, margin)
            assert standard_error(n, k) <= margin / 2 + 1e-12
            assert k == 1 or standard_error(n, k - 1) > margin / 2
    assert se_steps(16, 0.2) == 4          # sqrt(0.5 / (16·4)) = 0.088 <= 0.1
    assert se_steps(2, 0.2) == 25          # exactly at the bound: sqrt(0.5 / 50) = 0.1
    # window_steps is the least k, half the curve the most
    assert collapse_window(100, 16, RULE) == 10
    assert collapse_window(200, 1, RULE) == 50   # one rollout per step: the SE rule, not window_steps, sets k
    assert collapse_window(60, 1, RULE) == 30
    assert collapse_window(3, 16, RULE) == 1
    assert steps_to_judge(16, RULE) == 20 and steps_to_judge(1, RULE) == 100


def test_the_verdict_reports_k_and_is_not_judged_without_ground_truth() -> None:
    v = verdict([0.0] * 10 + [0.5] * 10, N, RULE)
    assert v.k == 10 and v.collapsed and v.rise == pytest.approx(0.5) and v.se == pytest.approx(math.sqrt(0.5 / 160))
    short = verdict([0.0] * 10 + [0.15] * 10, N, RULE)
    assert not short.collapsed and short.judged                       # 15 points < the 20-point margin
    unknown = verdict([math.nan] * 20, N, RULE)
    assert not unknown.judged and not unknown.collapsed
    assert not verdict([0.0] * 10 + [1.0] * 10, None, RULE).judged     # rollouts unknown: an older curve
    assert not verdict([0.5] * 10 + [0.0] * 10, N, RULE).collapsed    # the share fell: the opposite of collapse


# ---- calibration on constructed CoTs ------------------------------------------------------------

@dataclass
class Rollout:
    cot: str     # A's CoT
    scored: str  # the text whose answer the reward scored (A's own without B, B's with B)


Make = Callable[[dict, int, random.Random], Rollout]


def careful(row: dict, i: int, rng: random.Random) -> Rollout:
    """The critical steps and the boxed answer: the first window of every case."""
    cot = " ".join(critical_steps(row["segments"])) + rf" \boxed{{{row['answer']}}}"
    return Rollout(cot, cot)


def guesser(row: dict, i: int, rng: random.Random) -> Rollout:
    """(a) a direct answer, no steps, right 10% of the time (a weak guesser)."""
    guess = row["answer"] if rng.random() < 0.1 else str(int(row["answer"]) + rng.choice((-3, -2, -1, 1, 2, 3)))
    return Rollout(rf"\boxed{{{guess}}}", rf"\boxed{{{guess}}}")


def first_step_only(row: dict, i: int, rng: random.Random) -> Rollout:
    """(b) the first step only, its value given as the answer."""
    first = critical_steps(row["segments"])[0]
    cot = f"{first} \\boxed{{{_value(first)}}}"
    return Rollout(cot, cot)


def steps_without_box(row: dict, i: int, rng: random.Random) -> Rollout:
    """(d) the critical steps, no box: the answer is still right (the last number, as EM reads it)."""
    cot = " ".join(critical_steps(row["segments"]))
    return Rollout(cot, cot)


def right_without_steps(row: dict, i: int, rng: random.Random) -> Rollout:
    """(f) no steps, yet the scored answer is right (B or A did it in its head): compression."""
    return Rollout(rf"\boxed{{{row['answer']}}}", rf"\boxed{{{row['answer']}}}")


def stops_halfway(row: dict, i: int, rng: random.Random) -> Rollout:
    """(e) the old definition's miss: 5 rollouts of 16 keep every step and the answer; the others state
    the first half of the steps and box the value they stopped at (wrong)."""
    if i % N < 5:
        return careful(row, i, rng)
    steps = critical_steps(row["segments"])
    kept = steps[: len(steps) // 2]
    words = row["question"].split()
    value = _value(kept[-1]) if kept else words[2]  # "Ivy has 5 pens. ..." starts from 5
    cot = " ".join([*kept, rf"\boxed{{{value}}}"])
    return Rollout(cot, cot)


def _run(rows: list[dict], first: Make, last: Make, seed: int = 0) -> tuple[list[float], list[float], list[float]]:
    """STEPS steps of N rollouts (G per question): `first` for the first half, `last` for the second.
    Per step: the collapsed share (the real per-question function), the EM, and the CoT's words over
    the critical steps' words (a length ratio, whitespace words standing in for tokens)."""
    rng = random.Random(seed)
    shares, em, ratio = [], [], []
    for step in range(STEPS):
        make = first if step < STEPS // 2 else last
        batch = [rows[(step * QUESTIONS + q) % len(rows)] for q in range(QUESTIONS) for _ in range(G)]
        outs = [make(r, i, rng) for i, r in enumerate(batch)]
        correct = [bool(exact_match(o.scored, r["answer"])) for o, r in zip(outs, batch, strict=True)]
        shares.append(collapsed_share([o.cot for o in outs], correct, batch, RULE))
        em.append(sum(correct) / len(correct))
        ratio.append(sum(len(o.cot.split()) for o in outs)
                     / sum(len(" ".join(critical_steps(r["segments"])).split()) for r in batch))
    return shares, em, ratio


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


@pytest.mark.parametrize(("last", "fires"), [
    (guesser, True),               # (a) direct answers everywhere, a weak guesser's accuracy
    (first_step_only, True),       # (b) the first step only
    (careful, False),              # (c) the critical steps with the box: nothing changed
    (steps_without_box, False),    # (d) the critical steps, no box, the answer right
    (right_without_steps, False),  # (f) no steps but right answers: compression, not collapse
])
def test_calibration_on_constructed_cots(rows: list[dict], last: Make, fires: bool) -> None:
    shares, em, _ = _run(rows, careful, last)
    v = verdict(shares, N, RULE)
    assert v.k == 10 and v.share_first == 0.0 and em[0] == 1.0
    assert v.collapsed is fires, (last.__name__, v)


def test_calibration_the_old_definitions_miss_fires(rows: list[dict]) -> None:
    """(e) CoTs at about 0.7 × the critical content with training EM down about 70 points: the old
    definition (CoT below half the critical content) could not fire; this one does."""
    shares, em, ratio = _run(rows, careful, stops_halfway)
    k = 10
    assert 0.6 <= _mean(ratio[-k:]) <= 0.8                  # the case really is ~0.7x the critical content
    assert 0.65 <= _mean(em[:k]) - _mean(em[-k:]) <= 0.75   # ... with EM down ~70 points
    assert verdict(shares, N, RULE).collapsed


def test_calibration_noise_alone_does_not_fire(rows: list[dict]) -> None:
    """The same guesser in both windows: whatever its share, a flat curve never crosses the margin."""
    for seed in range(5):
        shares, _, _ = _run(rows, guesser, guesser, seed=seed)
        v = verdict(shares, N, RULE)
        assert v.judged and not v.collapsed and abs(v.rise) < RULE["margin"] / 2
