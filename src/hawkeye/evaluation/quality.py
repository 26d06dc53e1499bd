"""Answer quality of the three methods on one dataset, with greedy batched generation.

- Baseline (Full): Model A (base) gets the reasoning prompt and answers itself.
- Hawkeye: Model A (trained) writes the CoT c with the same prompt; B is given c exactly as in
  training and serving (`reward.leak.what_b_reads` under `reward.answer_leak`); Model B reads
  (q, c, s) and answers.
- B alone (optional): Model B gets the reasoning prompt, a floor that shows what A's CoT adds.

Accuracy is `hawkeye.answers.exact_match` on the answering model's new text. Tokens count the
generated tokens without the final EOS, as the reward's len(c) does. Compression is Hawkeye A's
mean CoT tokens over Baseline A's mean tokens (lower = shorter CoT).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hawkeye.answers import exact_match
from hawkeye.data.schema import validate_rows
from hawkeye.files import read_jsonl
from hawkeye.generation.base import GenerationBackend, SamplingParams
from hawkeye.prompts import reasoning_messages, render, responder_messages
from hawkeye.reward.leak import what_b_reads
from hawkeye.reward.reward import cot_length

PREPARED_FIELDS = ("id", "question", "answer")


def load_rows(prepared_dir: str | Path, name: str, max_rows: int) -> tuple[list[dict[str, Any]], Path]:
    """The first `max_rows` rows (0 = all) of `<prepared_dir>/<name>.jsonl`, checked strictly."""
    path = Path(prepared_dir) / f"{name}.jsonl"
    # The essentials first (missing/empty question or answer), then the full prepared-row schema.
    rows = [dict(r) for r in validate_rows(read_jsonl(path, required=PREPARED_FIELDS), path)]
    return (rows[:max_rows] if max_rows else rows), path


# What B reads of A's CoT: the one rule training and serving use (`reward.leak.what_b_reads`).
leak_view = what_b_reads
# Generated tokens without the final EOS: the reward's len(c), counted by its one function.
n_tokens = cot_length


def evaluate_quality(
    rows: list[dict[str, Any]],
    base_a: GenerationBackend,
    hawkeye_a: GenerationBackend,
    b: GenerationBackend,
    max_tokens_a: int,
    max_tokens_b: int,
    answer_leak: str = "mask",
    include_b_alone: bool = False,
    seed: int = 0,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(summary metrics, per-sample rows) for one dataset. `base_a` may be `hawkeye_a`."""
    greedy_a = SamplingParams(max_new_tokens=max_tokens_a, temperature=0.0, seed=seed)
    greedy_b = SamplingParams(max_new_tokens=max_tokens_b, temperature=0.0, seed=seed)
    questions = [r["question"] for r in rows]
    golds = [str(r["answer"]) for r in rows]

    # Baseline (Full): A answers on its own.
    base = base_a.generate([render(base_a.tokenizer, reasoning_messages(q)) for q in questions], greedy_a)
    # Hawkeye: A writes c (reuse the baseline when A is the same model: greedy gives the same c).
    cots = base if hawkeye_a is base_a else hawkeye_a.generate(
        [render(hawkeye_a.tokenizer, reasoning_messages(q)) for q in questions], greedy_a)
    seen = [what_b_reads(c.text, answer_leak) for c in cots]
    answers = b.generate([render(b.tokenizer, responder_messages(q, c)) for q, c in zip(questions, seen, strict=True)],
                         greedy_b)
    b_alone = b.generate([render(b.tokenizer, reasoning_messages(q)) for q in questions], greedy_a) \
        if include_b_alone else None

    samples: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        common = {"id": row["id"], "question": row["question"], "gold": golds[i]}
        samples.append({**common, "method": "baseline", "a_text": base[i].text, "a_tokens": n_tokens(base[i]),
                        "b_text": "", "b_tokens": 0, "correct": exact_match(base[i].text, golds[i])})
        samples.append({**common, "method": "hawkeye", "a_text": cots[i].text, "a_tokens": n_tokens(cots[i]),
                        "cot_seen_by_b": seen[i], "b_text": answers[i].text, "b_tokens": n_tokens(answers[i]),
                        "correct": exact_match(answers[i].text, golds[i])})
        if b_alone is not None:
            samples.append({**common, "method": "b_alone", "a_text": "", "a_tokens": 0, "b_text": b_alone[i].text,
                            "b_tokens": n_tokens(b_alone[i]), "correct": exact_match(b_alone[i].text, golds[i])})
    return summarize_quality(samples), samples


def summarize_quality(samples: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len({s["id"] for s in samples})}
    for method in dict.fromkeys(s["method"] for s in samples):
        rows = [s for s in samples if s["method"] == method]
        n = len(rows)
        out[f"{method}_accuracy"] = sum(s["correct"] for s in rows) / n
        out[f"{method}_a_tokens"] = sum(s["a_tokens"] for s in rows) / n
        out[f"{method}_b_tokens"] = sum(s["b_tokens"] for s in rows) / n
        out[f"{method}_tokens"] = out[f"{method}_a_tokens"] + out[f"{method}_b_tokens"]
    base_tokens = out.get("baseline_a_tokens", 0.0)
    # The poster's "compression ratio": the share of Baseline A's tokens that Hawkeye's A no longer
    # writes (331 -> 171 tokens = 48.3%); the same 1 − len/len_orig that training logs.
    out["compression"] = 1.0 - out["hawkeye_a_tokens"] / base_tokens if base_tokens else float("nan")
    return out
