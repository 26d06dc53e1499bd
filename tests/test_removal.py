"""What compression removed, on hand-built rows and CoTs whose every measure is worked out by hand:
the values of `testbed_reading.steps_kept` and `evaluation.removal`, and the tables that show them."""

from __future__ import annotations

import pytest

from hawkeye.data.sources.testbed_reading import steps_kept
from hawkeye.evaluation.markdown import dataset_sections
from hawkeye.evaluation.removal import MEASURES, removal, waste_tokens
from hawkeye.evaluation.replicated import aggregate
from hawkeye.evaluation.table import A_ALONE, SystemResult, score_systems

# Mia has 5 apples; three operations: 5 + 3 = 8, 8 - 2 = 6, 6 * 2 = 12.
MIA = {
    "question": "Mia has 5 apples. She buys 3 more. She gives away 2. She then doubles them. "
                "How many apples does Mia have now?",
    "answer": "12",
    "segments": [{"kind": "filler", "text": "Let me think."},
                 {"kind": "critical", "text": "She buys 3 more: 5 + 3 = 8."},
                 {"kind": "repeat", "text": "So Mia has 8 apples."},
                 {"kind": "critical", "text": "She gives away 2: 8 - 2 = 6."},
                 {"kind": "critical", "text": "She then doubles them: 6 * 2 = 12."},
                 {"kind": "fine", "text": "6 + 6 = 12."}],
}
NO_TRUTH = {"question": "What is 2 + 2?", "answer": "4"}  # a row without ground truth: no measures

# Every equation holds as written, but the second starts from 9 (the true total is 8) and the third
# carries that error on: only the first step is right.
WRONG_RUNNING = ("She buys 3 more: 5 + 3 = 8. She gives away 2: 9 - 2 = 7. "
                 "She then doubles them: 7 * 2 = 14. \\boxed{14}")
# Two right steps, stopping before the last; one sentence that fits no template; two waste sentences.
WITH_OTHER = ("Let me think. She buys 3 more: 5 + 3 = 8. So Mia has 8 apples. First I add them up. "
              "She gives away 2: 8 - 2 = 6. \\boxed{6}")
ANSWER_ONLY = "\\boxed{12}"


def words(text: str, add_special_tokens: bool = False) -> dict[str, list[str]]:
    """A tokenizer with one token per word, so waste tokens can be counted by hand."""
    return {"input_ids": text.split()}


def test_a_step_is_right_only_with_the_true_running_values() -> None:
    kept = steps_kept(WRONG_RUNNING, MIA)
    assert (kept.total, kept.kept, kept.correct) == (3, [True, True, True], [True, False, False])
    # the true result from a wrong operand (the equation does not hold): not right either
    assert steps_kept("She buys 3 more: 6 + 3 = 8.", MIA).correct == [False, False, False]
    # the true operand, a wrong result
    assert steps_kept("She buys 3 more: 5 + 3 = 9.", MIA).correct == [False, False, False]
    # the reference's own steps are all right
    assert steps_kept("She buys 3 more: 5 + 3 = 8. She gives away 2: 8 - 2 = 6. "
                      "She then doubles them: 6 * 2 = 12.", MIA).correct == [True, True, True]


def test_steps_kept_reads_each_sentence_of_a_cot() -> None:
    kept = steps_kept(WITH_OTHER, MIA)
    assert (kept.kept, kept.correct, kept.n_kept, kept.n_correct) == ([True, True, False], [True, True, False], 2, 2)
    assert kept.leaves_last_to_b and not kept.no_steps
    assert kept.waste_sentences == ["Let me think.", "So Mia has 8 apples."]
    assert kept.other_sentences == ["First I add them up."]
    assert kept.n_sentences == 5  # \boxed{6} is not counted
    empty = steps_kept(ANSWER_ONLY, MIA)
    assert empty.no_steps and not empty.leaves_last_to_b and (empty.n_kept, empty.n_sentences) == (0, 0)


def test_removal_measures_by_hand() -> None:
    cots = [WRONG_RUNNING, WITH_OTHER, ANSWER_ONLY, "Four."]
    rows = [MIA, MIA, MIA, NO_TRUTH]
    assert waste_tokens(cots, rows, words) == 8  # "Let me think." + "So Mia has 8 apples."
    m = removal(cots, rows, words, base_waste=16)
    assert set(m) == set(MEASURES)
    assert m == pytest.approx({
        "steps_kept": 5 / 9,     # 3 + 2 + 0 of 3 steps in each of three CoTs
        "kept_correct": 3 / 5,   # 1 of WRONG_RUNNING's 3, both of WITH_OTHER's 2
        "waste_left": 8 / 16,
        "leaves_last": 1 / 3,    # WITH_OTHER
        "no_steps": 1 / 3,       # ANSWER_ONLY
        "other_share": 1 / 8,    # one `other` in 3 + 5 + 0 sentences, answers left out
    })
    assert removal(["Four."], [NO_TRUTH], words, 16) == {}


def test_removal_tables_show_every_measure_per_model_and_per_arm() -> None:
    def alone(key: str, arm: str | None, seed: int | None, no_steps: float, other: float) -> SystemResult:
        measures = dict.fromkeys(MEASURES, 0.5) | {"no_steps": no_steps, "other_share": other}
        return SystemResult(key, key, A_ALONE, [True, False], [10, 10], arm=arm, seed=seed,
                            uses_b_in_training=False, answer_leak="allow", removal=measures)

    systems = [alone("baseline", None, None, 0.0, 0.01),
               alone("no_b/seed1/a", "no_b", 1, 0.2, 0.1), alone("no_b/seed2/a", "no_b", 2, 0.4, 0.3)]
    rows = score_systems(systems, 0.95, 50, 0)
    methods = aggregate({"ws1": systems}, 0.95, 50, 0)
    text = "\n".join(dataset_sections({"test": {"n": 2, "methods": methods, "warm_starts": {"ws1": {"systems": rows}}}},
                                       0.95))
    assert "| Model A | Critical steps kept (%) | Kept steps correct (%) | Waste left (% of base A's) | " \
           "Stops before the last step (%) | No step at all (%) | Sentences fitting no template (%) |" in text
    assert "| Base A | 50.0 | 50.0 | 50.0 | 50.0 | 0.0 | 1.0 |" in text
    assert "| no_b seed2 | 50.0 | 50.0 | 50.0 | 50.0 | 40.0 | 30.0 |" in text
    # per arm: the mean ± sample sd of seeds 1 and 2
    assert "| no_b | 50.0 ± 0.0 | 50.0 ± 0.0 | 50.0 ± 0.0 | 50.0 ± 0.0 | 30.0 ± 14.1 | 20.0 ± 14.1 |" in text
