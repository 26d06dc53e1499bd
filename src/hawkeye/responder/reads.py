"""Answer leakage, and the one rule for what Model B reads of A's CoT (training, evaluation, serving).

A CoT that states its final answer lets Model B copy it instead of reasoning. The paper's reference
code decoded B's prompt together with B's answer, so the answer stated inside the CoT was scored as
B's answer (1317 of 1319 GSM8K test cases). Here the answer is only ever read from B's new tokens,
and `reward.answer_leak` says what B sees:

- allow:    B reads the CoT as written (the paper's setting).
- mask:     B reads the CoT with A's result hidden: every standalone occurrence of the VALUE of
            A's stated answer and of A's last computed value is replaced by `ANSWER_PLACEHOLDER`,
            and every other character is kept. So B has work to do: it must compute at least the
            last operation itself. A's stated answer is what `hawkeye.answers.extract_answer`
            finds (boxed, `####`, "the answer is", "Answer:", a "Final Answer" heading); its last
            computed value is the number after the last "=" (with no "=" and no stated answer, the
            last number). Both come from A's text alone, never from the gold answer. Hiding both
            closes two leaks: a CoT that states no answer would show its last "= y" to B, and a
            CoT that boxes some other number would show its real result there. Numbers are
            matched by value ("1,800", "1800.0"), never inside another number (118, 18.5, 1/18,
            \\frac{1}{18}).
- penalize: B reads the CoT as written; the reward loses `leak_penalty` when the CoT states the gold answer.
"""

from __future__ import annotations

import re
from fractions import Fraction

from hawkeye.answers import answers_match, canonical_answer, extract_answer
from hawkeye.prompts import responder_messages

ANSWER_PLACEHOLDER = "[masked]"

# A number standing alone: not glued to a word, a decimal point, a digit group, a fraction slash or
# an exponent on either side. The minus sign belongs to the number only when it is not a binary
# minus (not after a word character or a closing bracket): in "20-18" the number is 18.
_NUMBER = re.compile(
    r"(?<![\w.,/^])(?:(?<![\w)\]}])-)?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w/^]|[.,]\d)"
)
# Numbers inside these are parts of another value (a fraction, a root, an exponent), not values.
_COMPOUND = re.compile(
    r"\\[dt]?frac\s*\{[^{}]*\}\s*\{[^{}]*\}|\\sqrt\s*(?:\[[^\]]*\])?\s*\{[^{}]*\}|\^\s*\{[^{}]*\}"
)
_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _value(number: str) -> Fraction:
    return Fraction(number.replace(",", ""))


# The value an equation computes: the number right after an "=" (a `$` may stand between).
_COMPUTED = re.compile(r"=\s*\$?\s*(-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)(?![\d.,]\d)")


def last_computed_value(cot: str) -> str | None:
    """The number after the last "=" of `cot` that is followed by one (None if there is none)."""
    found = _COMPUTED.findall(cot)
    return found[-1] if found else None


def stated_results(cot: str) -> list[str]:
    """What A's CoT gives as its result, as written: its stated answer and its last computed value
    (the last number, when it states no answer and computes nothing)."""
    answer = extract_answer(cot)
    computed = last_computed_value(cot)
    if answer is None and computed is None:
        computed = extract_answer(cot, fallback_last_number=True)
    return [r for r in (answer, computed) if r is not None]


def mask_answer(cot: str) -> str:
    """`cot` with every standalone occurrence of A's stated answer and last computed value replaced."""
    for result in stated_results(cot):
        canonical = canonical_answer(result)
        if _PLAIN_NUMBER.fullmatch(canonical):
            cot = _mask_number(cot, _value(canonical))
        else:
            cot = _mask_literal(cot, result.strip())
    return cot


def _mask_number(cot: str, value: Fraction) -> str:
    inside = [m.span() for m in _COMPOUND.finditer(cot)]

    def replace(m: re.Match[str]) -> str:
        if any(a <= m.start() < b for a, b in inside) or _value(m.group(0)) != value:
            return m.group(0)
        return ANSWER_PLACEHOLDER

    return _NUMBER.sub(replace, cot)


def _mask_literal(cot: str, answer: str) -> str:
    """A non-numeric answer (`\\frac{1}{2}`, `x+1`, `(1, 2)`) is masked where it is written as such.
    Prose without a digit or a LaTeX command and shorter than 3 characters ("a", "B") is left alone:
    masking every such word would blank the CoT, not the answer."""
    if not re.search(r"[\d\\]", answer) and len(answer) < 3:
        return cot
    before = r"(?<![\w.])" if re.match(r"\w", answer) else ""
    after = r"(?!\w|\.\d)" if re.search(r"\w$", answer) else ""
    return re.sub(before + re.escape(answer) + after, lambda _: ANSWER_PLACEHOLDER, cot)


def what_b_reads(cot: str, answer_leak: str) -> str:
    """The CoT as Model B is given it under `reward.answer_leak` (allow | mask | penalize).

    The one home of this rule. `responder_prompt` applies it and builds B's messages;
    training (`responder.model.Responder`), evaluation (`evaluation.quality`), serving and
    its timing (`serving.pipeline`) and the warm-start gate all go through that, so B sees the same text in each."""
    if answer_leak == "mask":
        return mask_answer(cot)
    if answer_leak in ("allow", "penalize"):
        return cot
    raise ValueError(f"answer_leak={answer_leak!r} must be one of allow, mask, penalize")


def responder_prompt(question: str, cot: str, answer_leak: str) -> tuple[str, list[dict[str, str]]]:
    """(the CoT as B reads it, B's messages) for A's raw `cot` under `reward.answer_leak`
    (allow | mask | penalize): the one builder of Model B's input."""
    seen = what_b_reads(cot, answer_leak)
    return seen, responder_messages(question, seen)


def states_answer(cot: str, gold: str) -> bool:
    """True when the CoT explicitly states the gold answer (boxed, `####` or "the answer is")."""
    return answers_match(gold, extract_answer(cot, fallback_last_number=False))
