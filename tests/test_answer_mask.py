"""What Model B reads of A's CoT: under `answer_leak=mask`, A's result (the value of its stated answer and
of its last computed value) is replaced wherever it stands alone and nothing else changes; training,
evaluation and serving share the rule."""

from __future__ import annotations

import asyncio

import pytest

from hawkeye.evaluation.quality import reason, respond
from hawkeye.generation.base import Generation, SamplingParams
from hawkeye.responder.model import Responder
from hawkeye.responder.reads import ANSWER_PLACEHOLDER as M
from hawkeye.responder.reads import what_b_reads

# (A's CoT, what B reads under mask). Every case keeps all text but the values of A's result.
MASK_TABLE = [
    # stated answers extract_answer used to miss or mangle
    ("So answer is 7.", f"So answer is {M}."),
    ("**Answer:** 7", f"**Answer:** {M}"),
    ("**Answer**: 7 apples", f"**Answer**: {M} apples"),
    ("Answer: **7**", f"Answer: **{M}**"),
    ("Final Answer\n7", f"Final Answer\n{M}"),
    ("## Final Answer\n\n$\\boxed{42}$", f"## Final Answer\n\n$\\boxed{{{M}}}$"),
    # a bare `18` and `= 18` are masked too; a sentence giving the answer keeps its words
    ("16-3-4=9 eggs. 9*2 = 18. So she makes 18 dollars.\nThe answer is \\boxed{18}.",
     f"16-3-4=9 eggs. 9*2 = {M}. So she makes {M} dollars.\nThe answer is \\boxed{{{M}}}."),
    ("The answer is 18 because 16-3-4=9 and 9*2=18 dollars",
     f"The answer is {M} because 16-3-4=9 and 9*2={M} dollars"),
    ("the answer is 18, since 9*2=18", f"the answer is {M}, since 9*2={M}"),
    # matched by value: thousands separators, trailing .0, a dollar sign, GSM8K calculator marks
    ("She has 1,800 dollars, i.e. 1800.0 in all. #### 1800", f"She has {M} dollars, i.e. {M} in all. #### {M}"),
    ("It costs $18 per hour. The answer is $18.00.", f"It costs ${M} per hour. The answer is ${M}."),
    ("9*2 = <<9*2=18>>18 dollars\n#### 18", f"9*2 = <<9*2={M}>>{M} dollars\n#### {M}"),
    # numbers that merely contain the digits stay
    ("118 + 18.5 + 1/18 + 18/5 + 18,000 + x18 + 18th. The answer is 18.",
     f"118 + 18.5 + 1/18 + 18/5 + 18,000 + x18 + 18th. The answer is {M}."),
    ("\\frac{1}{18} of 36 is 2, \\sqrt{18} is not, so \\boxed{18}",
     f"\\frac{{1}}{{18}} of 36 is 2, \\sqrt{{18}} is not, so \\boxed{{{M}}}"),
    ("We used 2^2 = 4, 12 and 2.5 of 2 kg. Answer: 2", f"We used 2^2 = {M}, 12 and 2.5 of {M} kg. Answer: {M}"),
    # signs: a negative answer, and a binary minus that is not part of the number (the last "=" is
    # A's last computed value: hidden too)
    ("x = -3 and 5-3=2. Answer: -3", f"x = {M} and 5-3={M}. Answer: {M}"),
    ("20-18=2, so the answer is 18", f"20-{M}={M}, so the answer is {M}"),
    # A's own answer is the LAST one it states; earlier candidates stay
    ("The answer is 4. Wait, no. 4 + 2 = 6. The answer is 6.", f"The answer is 4. Wait, no. 4 + 2 = {M}. The answer is {M}."),
    # a non-numeric answer is masked where it is written as such
    ("So x = \\frac{1}{2}, \\boxed{\\frac{1}{2}}", f"So x = {M}, \\boxed{{{M}}}"),
    # no answer stated: the last computed value is hidden (else B reads the result off the last "= y")
    ("16-3-4=9 and 9*2=18", f"16-3-4=9 and 9*2={M}"),
    ("She buys 3 more: 9 + 3 = 12. 9 + 1 = 10. 10 + 1 = 11. 11 + 1 = 12. So Tom has 12 coins.",
     f"She buys 3 more: 9 + 3 = {M}. 9 + 1 = 10. 10 + 1 = 11. 11 + 1 = {M}. So Tom has {M} coins."),
    # a boxed number other than the last computed value does not unmask the result
    ("She buys 3 more: 9 + 3 = 12. \\boxed{13}", f"She buys 3 more: 9 + 3 = {M}. \\boxed{{{M}}}"),
    # no answer and no equation: the last number is the result
    ("Tom has 5 apples now.", f"Tom has {M} apples now."),
    ("x = 1,800 dollars", f"x = {M} dollars"),
    ("", ""),
]


@pytest.mark.parametrize(("cot", "expected"), MASK_TABLE)
def test_mask_replaces_only_the_value_of_a_s_answer(cot: str, expected: str) -> None:
    assert what_b_reads(cot, "mask") == expected


@pytest.mark.parametrize("mode", ["allow", "penalize"])
def test_allow_and_penalize_show_the_cot_as_written(mode: str) -> None:
    for cot, _ in MASK_TABLE:
        assert what_b_reads(cot, mode) == cot


def test_unknown_mode_fails_naming_it() -> None:
    with pytest.raises(ValueError, match="answer_leak='hide'"):
        what_b_reads("The answer is 7.", "hide")


# ---- one rule, three callers: training (Responder), evaluation (quality), serving (serve.Pipeline)

COT = "3 + 4 = 7 apples, so the answer is \\boxed{7}."


class _Tok:
    def apply_chat_template(self, messages, tokenize, add_generation_prompt):  # noqa: ANN001, ANN201
        return messages[0]["content"]


class _Recording:
    """A generation backend that records its prompts and replies with a fixed text."""

    def __init__(self, reply: str) -> None:
        self.tokenizer, self.reply, self.prompts = _Tok(), reply, []

    def generate(self, prompts: list[str], params: SamplingParams) -> list[Generation]:
        self.prompts += prompts
        return [Generation(text=self.reply, token_ids=[1, 2], finish_reason="stop") for _ in prompts]

    def close(self) -> None:
        pass


def _reasoning_of(prompt: str) -> str:
    return prompt.split("Reasoning: ", 1)[1].split("\n\nThe reasoning above", 1)[0]


@pytest.mark.parametrize("mode", ["mask", "allow", "penalize"])
def test_training_evaluation_and_serving_give_b_the_same_text(mode: str) -> None:
    from hawkeye.serving.chat_models import ChatModel
    from hawkeye.serving.pipeline import Pipeline, Turn

    expected = what_b_reads(COT, mode)
    assert (M in expected) == (mode == "mask")

    b_train = _Recording("\\boxed{7}")
    Responder(backend=b_train, params=SamplingParams(), answer_leak=mode).answer(["3 + 4?"], [COT])

    b_eval = _Recording("\\boxed{7}")
    cots = reason(_Recording(COT), ["3 + 4?"], 8, seed=0)
    logged, _ = respond(b_eval, ["3 + 4?"], [c.text for c in cots], mode, 8, seed=0)

    class Scripted(ChatModel):
        def __init__(self, text: str) -> None:
            self.text, self.seen = text, []

        async def stream(self, messages, max_tokens, decoding, out):  # noqa: ANN001, ANN202
            self.seen.append(messages)
            yield self.text

    a_serve, b_serve = Scripted(COT), Scripted("\\boxed{7}")

    async def drain() -> None:
        async for _ in Pipeline(a_serve, b_serve, 8, 8, answer_leak=mode).events("3 + 4?", Turn()):
            pass

    asyncio.run(drain())
    seen = {
        "training": _reasoning_of(b_train.prompts[0]),
        "evaluation": _reasoning_of(b_eval.prompts[0]),
        "evaluation (logged)": logged[0],
        "serving": _reasoning_of(b_serve.seen[0][0]["content"]),
    }
    assert seen == dict.fromkeys(seen, expected)
