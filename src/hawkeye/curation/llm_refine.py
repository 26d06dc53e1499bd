"""LLM-assisted refinement (the poster's "LLM-assisted feedback"), guarded by a check.

A teacher model (`curate.teacher`; null = the policy itself) gets the question and the rules
output, and a feedback prompt asking it to remove the three kinds of redundancy. Its rewrite is
kept only if it passes `check_refinement`; otherwise the rules output is kept and the row
counts as a rejection. Where ground truth exists (testbed rows), the caller also passes the
critical values each rewrite must keep (`waste.critical_values`): a rewrite that drops one is
rejected as "lost_critical".

What "a number the solution needs" means here (simple on purpose): the final answer, plus the
result of every equation in the rules output, i.e. the number right after each `=` sign
("48 / 2 = 24" needs 24). Intermediate results are what later steps and the answer build on;
operands can be re-derived from the question.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence

from hawkeye.answers import answers_match, extract_answer
from hawkeye.curation.rules import normalize_number, numbers
from hawkeye.generation.base import GenerationBackend, SamplingParams
from hawkeye.prompts import render

FEEDBACK_PROMPT = (
    "Here is a math question and a step-by-step solution.\n\n"
    "Question: {question}\n\nSolution:\n{cot}\n\n"
    "Rewrite the solution so it is as short as possible. Remove (1) repeated sentences, "
    "(2) filler words and phrases such as \"Okay, so\", \"Hmm\", \"Wait\" and \"Let me think\", and "
    "(3) overly fine-grained steps: merge small arithmetic steps into one line. Keep every number "
    "that the answer depends on, and keep the final answer exactly as it is written. "
    "Reply with the rewritten solution only."
)
EQUATION_RESULT = re.compile(r"=\s*\$?\(?\s*(-?\d[\d,]*(?:\.\d+)?)")


def feedback_messages(question: str, cot: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": FEEDBACK_PROMPT.format(question=question, cot=cot)}]


def needed_numbers(solution: str) -> set[str]:
    """The final answer (if numeric) and every equation's result, normalised."""
    needed = {normalize_number(n) for n in EQUATION_RESULT.findall(solution)}
    answer = extract_answer(solution, fallback_last_number=True)
    if answer is not None:
        needed |= numbers(answer)
    return needed


def check_refinement(
    candidate: str, reference: str, length: Callable[[str], int] = len, required: Collection[str] = ()
) -> str | None:
    """Why `candidate` cannot replace `reference` ("empty", "longer", "lost_answer",
    "lost_numbers", "lost_critical": a value of `required` is missing), or None if it can."""
    if not candidate.strip():
        return "empty"
    if length(candidate) > length(reference):
        return "longer"
    gold = extract_answer(reference, fallback_last_number=True)
    if gold is not None and not answers_match(gold, extract_answer(candidate, fallback_last_number=True)):
        return "lost_answer"
    if needed_numbers(reference) - numbers(candidate):
        return "lost_numbers"
    if set(required) - numbers(candidate):
        return "lost_critical"
    return None


def llm_refine(
    teacher: GenerationBackend,
    questions: list[str],
    rules_outputs: list[str],
    max_new_tokens: int,
    seed: int,
    length: Callable[[str], int] = len,
    required: Sequence[Collection[str]] | None = None,
) -> list[tuple[str, str | None]]:
    """One (refined text, rejection reason or None) per row; a rejected row keeps the rules output.
    Rows whose rules output is empty are passed through (nothing to refine). `required[i]`: the
    normalised numbers row i's rewrite must keep (ground truth, where there is some)."""
    todo = [i for i, text in enumerate(rules_outputs) if text.strip()]
    prompts = [render(teacher.tokenizer, feedback_messages(questions[i], rules_outputs[i])) for i in todo]
    greedy = SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0, seed=seed)
    gens = teacher.generate(prompts, greedy) if prompts else []
    results: list[tuple[str, str | None]] = [(text, None) for text in rules_outputs]
    for i, gen in zip(todo, gens, strict=True):
        candidate = gen.text.strip()
        reason = check_refinement(candidate, rules_outputs[i], length, required[i] if required else ())
        results[i] = (rules_outputs[i], reason) if reason else (candidate, None)
    return results
