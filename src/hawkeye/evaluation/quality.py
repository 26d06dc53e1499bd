"""Answer quality: greedy, batched generation of A's CoTs and B's answers on one dataset.

- A alone: Model A gets the reasoning prompt and answers itself (its `\boxed{}`).
- A → B: A's CoT c, given to B exactly as in training and serving (`responder.reads.responder_prompt` under
  the run's `reward.answer_leak`), then B reads (q, c, s) and answers.
- B alone (optional): Model B gets the reasoning prompt, a floor that shows what A's CoT adds.

Accuracy is `hawkeye.answers.exact_match` on the answering model's new text. Tokens count the
generated tokens without the final EOS, as the reward's len(c) does. Greedy decoding means one
CoT per (model, question) serves both the A-alone and the A → B system.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hawkeye.answers import exact_match
from hawkeye.cot import cot_length, generated_length
from hawkeye.data.schema import read_rows
from hawkeye.evaluation.table import A_ALONE, A_TO_B, B_ALONE, SystemResult
from hawkeye.generation.base import Generation, GenerationBackend, SamplingParams
from hawkeye.prompts import reasoning_messages, render
from hawkeye.responder.reads import responder_prompt


def load_rows(prepared_dir: str | Path, name: str, max_rows: int) -> tuple[list[dict[str, Any]], Path]:
    """The first `max_rows` rows (0 = all) of `<prepared_dir>/<name>.jsonl`, checked strictly."""
    path = Path(prepared_dir) / f"{name}.jsonl"
    # The prepared-row schema: the essentials first (missing/empty id, question or answer), then every field.
    rows = [dict(r) for r in read_rows(path)]
    return (rows[:max_rows] if max_rows else rows), path


def greedy(max_new_tokens: int, seed: int) -> SamplingParams:
    return SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0, seed=seed)


def reason(a: GenerationBackend, questions: list[str], max_tokens: int, seed: int) -> list[Generation]:
    """Model A's greedy CoT (ending in its own answer) for every question."""
    return a.generate([render(a.tokenizer, reasoning_messages(q)) for q in questions], greedy(max_tokens, seed))


def respond(b: GenerationBackend, questions: list[str], cots: list[str], answer_leak: str, max_tokens: int,
            seed: int) -> tuple[list[str], list[Generation]]:
    """(what B read of each CoT, B's answers)."""
    built = [responder_prompt(q, c, answer_leak) for q, c in zip(questions, cots, strict=True)]
    prompts = [render(b.tokenizer, messages) for _, messages in built]
    return [seen for seen, _ in built], b.generate(prompts, greedy(max_tokens, seed))


def a_alone(key: str, label: str, rows: list[dict[str, Any]], cots: list[Generation],
            **meta: Any) -> tuple[SystemResult, list[dict[str, Any]]]:
    correct = [exact_match(g.text, str(r["answer"])) for g, r in zip(cots, rows, strict=True)]
    system = SystemResult(key, label, A_ALONE, correct, [cot_length(g) for g in cots], [0] * len(rows), **meta)
    samples = [{**_common(r), "system": key, "a_text": g.text, "a_tokens": cot_length(g), "b_text": "",
                "b_tokens": 0, "correct": ok} for r, g, ok in zip(rows, cots, correct, strict=True)]
    return system, samples


def a_to_b(key: str, label: str, rows: list[dict[str, Any]], cots: list[Generation], seen: list[str],
           answers: list[Generation], **meta: Any) -> tuple[SystemResult, list[dict[str, Any]]]:
    correct = [exact_match(g.text, str(r["answer"])) for g, r in zip(answers, rows, strict=True)]
    system = SystemResult(key, label, A_TO_B, correct, [cot_length(g) for g in cots], [generated_length(g) for g in answers],
                          **meta)
    samples = [{**_common(r), "system": key, "a_text": c.text, "a_tokens": cot_length(c), "cot_seen_by_b": s,
                "b_text": g.text, "b_tokens": generated_length(g), "correct": ok}
               for r, c, s, g, ok in zip(rows, cots, seen, answers, correct, strict=True)]
    return system, samples


def b_alone(rows: list[dict[str, Any]], answers: list[Generation]) -> tuple[SystemResult, list[dict[str, Any]]]:
    correct = [exact_match(g.text, str(r["answer"])) for g, r in zip(answers, rows, strict=True)]
    system = SystemResult("b_alone", "B alone", B_ALONE, correct, [0] * len(rows), [generated_length(g) for g in answers])
    samples = [{**_common(r), "system": "b_alone", "a_text": "", "a_tokens": 0, "b_text": g.text,
                "b_tokens": generated_length(g), "correct": ok} for r, g, ok in zip(rows, answers, correct, strict=True)]
    return system, samples


def _common(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "question": row["question"], "gold": str(row["answer"])}
