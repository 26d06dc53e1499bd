"""Deterministic CoT refinement rules and the LLM-refinement check, on hand-written examples."""

from __future__ import annotations

import pytest

from hawkeye.answers import extract_answer
from hawkeye.curation.llm_refine import check_refinement, llm_refine, needed_numbers
from hawkeye.curation.rules import (
    apply_rules,
    is_arithmetic_step,
    numbers,
    refine_with_rules,
    strip_filler,
)
from hawkeye.generation.base import Generation

# The poster's "Original Reasoning" (Vieta), with the <Omitted> part left out.
VIETA = (
    "Okay, so I have this equation here: $(2x^2 - mx + n = 0)$. They told me that the sum of the "
    "roots is 6 and the product is 10. Hmm, I need to find $(m + n)$. Alright, let's see how to "
    "approach this. First off, I remember something called Vieta's formulas from algebra class. "
    "To connect the problem statement with the quadratic, I'll use Vieta's relations. Well, the sum "
    "of roots corresponds to $(-\\frac{m}{2})$. I also know the product of roots corresponds to "
    "$(\\frac{n}{2})$. That sets up the system of equations we need to solve.\n\n"
    "Oh, so the sum of roots = $(-b/a = -(-m)/2 = m/2)$. Product of roots = $(c/a = n/2)$ But wait, "
    "in the problem statement, they say the sum of the roots is 6 and the product is 10. So that "
    "gives us two equations: 1) Sum: $(m/2 = 6)$ 2) Product: $(n/2 = 10)$ the value is $(\\boxed{32})$."
)


def test_poster_vieta_example() -> None:
    out = refine_with_rules(VIETA)
    for needed in ("m/2 = 6", "n/2 = 10", "\\boxed{32}"):
        assert needed in out
    for filler in ("Okay, so", "Hmm", "Alright, let's see", "But wait", "Oh, so", "Well,", "First off"):
        assert filler not in out
    assert "how to approach" not in out  # the rest of "Alright, let's see how to approach this."
    assert out.startswith("I have this equation here")  # content after the filler is kept
    assert extract_answer(out) == "32"
    assert numbers(out) == numbers(VIETA)
    assert len(out) < len(VIETA)


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Okay, so the total is 12.", "The total is 12."),
        ("Hmm, I need to find m + n.", "I need to find m + n."),
        ("Alright, let's see how to approach this.", ""),
        ("Wait, 3 + 4 = 7.", "3 + 4 = 7."),
        ("Well, she has 5 apples.", "She has 5 apples."),
        ("Oh, that works.", "That works."),
        ("Let me think.", ""),
        ("Hmm...", ""),
        ("Okay!", ""),
        ("The cost, hmm, is 5 dollars.", "The cost, is 5 dollars."),
        ("Wellington has 3 parks.", "Wellington has 3 parks."),  # a word, not filler
        ("Sorting is hard.", "Sorting is hard."),
    ],
)
def test_strip_filler(sentence: str, expected: str) -> None:
    assert strip_filler(sentence) == expected


def test_repeated_sentences_dropped() -> None:
    text = "She buys 3 pens at 2 dollars each. She buys 3 pens at 2 dollars each. So she pays 6 dollars."
    assert apply_rules(text) == "She buys 3 pens at 2 dollars each. She pays 6 dollars."


def test_near_duplicate_dropped() -> None:
    text = "The total cost is 3 * 2 = 6 dollars.\nSo the total cost is 3 * 2 = 6 dollars!\n#### 6"
    out = apply_rules(text)
    assert out.count("3 * 2 = 6") == 1
    assert out.endswith("#### 6")


def test_near_duplicate_with_a_different_number_is_kept() -> None:
    text = "Then 3 + 4 = 7 apples.\nThen 3 + 4 = 8 apples.\n#### 8"
    out = apply_rules(text)
    assert "3 + 4 = 7" in out and "3 + 4 = 8" in out


def test_threshold_controls_near_duplicates() -> None:
    text = "She has 5 red apples in the basket. She has 5 green apples in the basket."
    assert apply_rules(text, near_duplicate_threshold=0.8).count("She has") == 1
    assert apply_rules(text, near_duplicate_threshold=1.0).count("She has") == 2


def test_fine_grained_arithmetic_merged() -> None:
    text = "Tom has 3 boxes and buys 4 more.\n3 + 4 = 7.\n7 * 2 = 14.\n14 - 1 = 13.\nThe answer is 13."
    out = apply_rules(text)
    assert out == "Tom has 3 boxes and buys 4 more.\n3 + 4 = 7; 7 * 2 = 14; 14 - 1 = 13.\nThe answer is 13."


def test_single_arithmetic_step_untouched() -> None:
    assert apply_rules("First, 3 + 4 = 7 apples.\n7 * 2 = 14.\nDone.") == "First, 3 + 4 = 7 apples.\n7 * 2 = 14.\nDone."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a run from 48 to 72 that spells out "48 + 24 = 72", and two restatements
        ("Natalia sold 48 / 2 = 24 clips in May. So she sold 24 clips in May. Altogether she sold "
         "48 + 24 = 72 clips. 48 + 20 = 68. 68 + 4 = 72. So she sold 72 clips in total.\n#### 72",
         "Natalia sold 48 / 2 = 24 clips in May. Altogether she sold 48 + 24 = 72 clips.\n#### 72"),
        # a spelled-out product next to the product (operands either way round)
        ("Each box holds 6 eggs, so 2 boxes hold 2 * 6 = 12 eggs. 6 + 6 = 12. She uses 5: 12 - 5 = 7. "
         "The answer is 7.",
         "Each box holds 6 eggs, so 2 boxes hold 2 * 6 = 12 eggs. She uses 5: 12 - 5 = 7. The answer is 7."),
        ("The speed is $4 \\times 3 = 12$ km/h. $4 + 4 + 4 = 12$. So the speed is 12 km/h.",
         "The speed is $4 \\times 3 = 12$ km/h."),
        ("It costs $1,200 * 3 = $3,600. 1,200 + 1,200 + 1,200 = 3,600. That is $3,600 in all.",
         "It costs $1,200 * 3 = $3,600."),
        # counted in ones, after filler and before a restatement said twice
        ("Hmm, okay. She buys 3 more: 9 + 3 = 12. 9 + 1 = 10. 10 + 1 = 11. 11 + 1 = 12. So she has 12 pens. "
         "She has 12 pens. Then 12 - 4 = 8.",
         "She buys 3 more: 9 + 3 = 12. Then 12 - 4 = 8."),
    ],
)
def test_fine_steps_fold_into_the_step_they_spell_out(text: str, expected: str) -> None:
    assert refine_with_rules(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the run stops at 11, not at the 12 the equation states: it spells out something else
        ("She has 9 + 3 = 12 apples. 9 + 1 = 10. 10 + 1 = 11. She eats 2.",
         "She has 9 + 3 = 12 apples. 9 + 1 = 10; 10 + 1 = 11.\nShe eats 2."),
        # the run comes before the equation: the equation restates the run, not the other way round
        ("9 + 1 = 10. 10 + 1 = 11. 11 + 1 = 12. So she has 9 + 3 = 12 apples.",
         "9 + 1 = 10; 10 + 1 = 11; 11 + 1 = 12.\nShe has 9 + 3 = 12 apples."),
        # two bare steps: only the spelled-out product goes, never the product it spells, and a step
        # alone spells out only a step written in prose
        ("6 * 2 = 12. 6 + 6 = 12.", "6 * 2 = 12."),
        ("2 * 6 = 12. 2 + 10 = 12.", "2 * 6 = 12; 2 + 10 = 12."),
        # not adjacent: a sum of equal terms elsewhere is not the product's spelling
        ("2 * 6 = 12 eggs. She buys milk. 6 + 6 = 12.", "2 * 6 = 12 eggs. She buys milk. 6 + 6 = 12."),
    ],
)
def test_steps_that_spell_out_nothing_stay(text: str, expected: str) -> None:
    assert refine_with_rules(text) == expected


RUN_THEN_USE = "She has 2 + 6 = 8 cards. 2 + 3 = 5. 5 + 3 = 8. She gives away 5: 8 - 5 = 3. \\boxed{3}"


@pytest.mark.parametrize(
    ("question", "run_kept"),
    [
        ("", True),  # 5 is stated only by the run, and "8 - 5 = 3" uses it
        ("Ann has 2 cards and gets 6 more. She gives 5 away.", False),  # the question states 5
        ("Ann has 2 cards and gets 6 more. She gives five away.", False),  # ... in words
    ],
)
def test_a_value_the_remaining_text_needs_keeps_its_run(question: str, run_kept: bool) -> None:
    out = refine_with_rules(RUN_THEN_USE, question=question)
    assert ("2 + 3 = 5; 5 + 3 = 8" in out) is run_kept
    assert {"2", "6", "8", "5", "3"} <= numbers(out)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("He earns 3 * 4 = 12 dollars. So he has 12 dollars now. He spends 2.",
         "He earns 3 * 4 = 12 dollars. He spends 2."),
        # relating quantities is new information, even with the same number
        ("She sold 48/2 = 24 clips in May. In June she sold 24 more clips. Each clip costs 24 cents.",
         "She sold 48/2 = 24 clips in May. In June she sold 24 more clips. Each clip costs 24 cents."),
        # the answer is stated, not restated
        ("He has 3 + 4 = 7 pens. The answer is 7.", "He has 3 + 4 = 7 pens. The answer is 7."),
        # only right after the equation: later it may say something else
        ("He has 3 + 4 = 7 pens. He buys a notebook. He has 7 pens.",
         "He has 3 + 4 = 7 pens. He buys a notebook. He has 7 pens."),
        # another number is not the value just computed
        ("He has 3 + 4 = 7 pens. He has 8 cups.", "He has 3 + 4 = 7 pens. He has 8 cups."),
    ],
)
def test_restatements(text: str, expected: str) -> None:
    assert refine_with_rules(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        # the same step again on a value computed again since: a new step
        "She gets 7 more: 4 + 7 = 11. She sells 7: 11 - 7 = 4. She gets 7 more: 4 + 7 = 11. The answer is 11.",
        # the same words on another equation: a new step
        "He loses 1: 3 - 1 = 2. He loses 1: 2 - 1 = 1. The answer is 1.",
    ],
)
def test_a_recurring_step_is_not_a_repeat(text: str) -> None:
    assert refine_with_rules(text) == text


@pytest.mark.parametrize(
    ("sentence", "arith"),
    [("3 + 4 = 7.", True), ("$7 \\times 2 = 14$", True), ("3 + 4", False), ("x = 7.", False),
     ("She has 3 + 4 = 7 apples.", False)],
)
def test_is_arithmetic_step(sentence: str, arith: bool) -> None:
    assert is_arithmetic_step(sentence) is arith


def test_gsm8k_calculator_annotations_dropped() -> None:
    text = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nShe sold 48+24 = <<48+24=72>>72 clips.\n#### 72"
    out = apply_rules(text)
    assert "<<" not in out and ">>" not in out
    assert out == "Natalia sold 48/2 = 24 clips in May.\nShe sold 48+24 = 72 clips.\n#### 72"


def test_numbers_are_never_lost() -> None:
    text = (
        "Okay, so first 12 * 3 = 36. Hmm. Wait, 12 * 3 = 36. Then 36 + 1,000 = 1,036.\n"
        "Let me think. 1036 / 2 = 518.\n518 - 18 = 500.\nSo the answer is \\boxed{500}."
    )
    out = refine_with_rules(text)
    assert numbers(out) == numbers(text)
    assert extract_answer(out) == "500"
    assert len(out) < len(text)


def test_rules_are_deterministic_and_idempotent() -> None:
    once = refine_with_rules(VIETA)
    assert refine_with_rules(VIETA) == once
    assert refine_with_rules(once) == once


def test_structure_is_kept() -> None:
    # Display-math delimiters are short "sentences" that repeat: they must all stay.
    text = "1. **Run:**\n   Her speed is:\n   \\[\n   4 \\times 3 = 12\n   \\]\n2. **Walk:**\n   \\[\n   3\n   \\]"
    assert apply_rules(text) == text


def test_code_blocks_pass_through() -> None:
    text = "Okay, so we compute it.\n```python\nx = 3\nx = 3\nprint(x)\n```\nHmm, so x is 3.\n#### 3"
    assert apply_rules(text) == "We compute it.\n```python\nx = 3\nx = 3\nprint(x)\n```\nx is 3.\n#### 3"


def test_line_break_kept_when_a_line_ending_repeat_is_dropped() -> None:
    text = "She has 5 apples now. She has 5 apples now.\nShe eats 2 of them."
    assert apply_rules(text) == "She has 5 apples now.\nShe eats 2 of them."


def test_empty_and_plain_text() -> None:
    assert refine_with_rules("") == ""
    assert refine_with_rules("The answer is 4.") == "The answer is 4."


# --- the LLM refinement check ----------------------------------------------------------------
RULES_OUT = "She sells 48 / 2 = 24 clips in May.\n48 + 24 = 72; 72 - 2 = 70.\nThe answer is \\boxed{70}."


def test_needed_numbers_are_answer_and_equation_results() -> None:
    assert needed_numbers(RULES_OUT) == {"24", "72", "70"}


@pytest.mark.parametrize(
    ("candidate", "reason"),
    [
        ("May: 24. Total 72, minus 2 is 70. \\boxed{70}", None),
        ("", "empty"),
        (RULES_OUT + " Indeed.", "longer"),
        ("May: 24. Total 72. \\boxed{72}", "lost_answer"),
        ("Total is 70. \\boxed{70}", "lost_numbers"),
    ],
)
def test_check_refinement(candidate: str, reason: str | None) -> None:
    assert check_refinement(candidate, RULES_OUT) == reason


def test_check_refinement_keeps_the_critical_values_it_is_given() -> None:
    # 48 and 2 are operands, not results: only ground truth (where there is some) asks for them
    candidate = "May: 24. Total 72, minus 2 is 70. \\boxed{70}"
    assert check_refinement(candidate, RULES_OUT, required={"48", "24", "72", "2", "70"}) == "lost_critical"
    assert check_refinement(candidate, RULES_OUT, required={"24", "72", "2", "70"}) is None


class _ScriptedTeacher:
    """A backend that answers each feedback prompt with a fixed rewrite."""

    class _Tok:
        def apply_chat_template(self, messages: list, tokenize: bool, add_generation_prompt: bool) -> str:
            return messages[0]["content"]

    def __init__(self, replies: list[str]) -> None:
        self.tokenizer = self._Tok()
        self.replies = replies
        self.prompts: list[str] = []

    def generate(self, prompts: list[str], params: object) -> list[Generation]:
        self.prompts.extend(prompts)
        return [Generation(text=r, token_ids=[1]) for r in self.replies[: len(prompts)]]

    def close(self) -> None:
        pass


def test_llm_refine_keeps_good_rewrites_and_falls_back_on_bad_ones() -> None:
    teacher = _ScriptedTeacher(["May 24, total 72, so 70. \\boxed{70}", "No idea. \\boxed{3}"])
    results = llm_refine(teacher, ["q1", "q2", "q3"], [RULES_OUT, RULES_OUT, ""], max_new_tokens=64, seed=0)
    assert results[0] == ("May 24, total 72, so 70. \\boxed{70}", None)
    assert results[1] == (RULES_OUT, "lost_answer")
    assert results[2] == ("", None)  # empty rules output: nothing sent to the teacher
    assert len(teacher.prompts) == 2
    assert "Hmm" in teacher.prompts[0] and RULES_OUT in teacher.prompts[0]


def test_llm_refine_rejects_a_rewrite_that_drops_a_critical_value() -> None:
    rewrite = "May 24, total 72, so 70. \\boxed{70}"
    teacher = _ScriptedTeacher([rewrite, rewrite])
    results = llm_refine(teacher, ["q1", "q2"], [RULES_OUT, RULES_OUT], max_new_tokens=64, seed=0,
                         required=[{"48", "70"}, {"24", "70"}])
    assert results == [(RULES_OUT, "lost_critical"), (rewrite, None)]
