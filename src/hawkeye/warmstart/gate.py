"""The pre-flight gate: before GRPO spends minutes, check that the testbed can show a result.

Measured on the held-out split with the same prompts, caps and answer checker as everything else:
- a_greedy / a_sampled: A with its CoT, greedy and at the rollout temperature (what GRPO samples);
- a_direct: A told to answer directly (the CoT must matter);
- b_alone: B with an empty CoT (B must need A);
- b_with_cot: B reading A's greedy CoT as the reward has it read (`reward.answer_leak`);
- truncated: the share of A's greedy CoTs cut at `rollout.max_new_tokens` (c_orig must be A's length).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hawkeye.answers import exact_match
from hawkeye.errors import HawkeyeError
from hawkeye.generation.base import GenerationBackend, SamplingParams
from hawkeye.prompts import direct_messages, reasoning_messages, render, responder_prompt
from hawkeye.reward.reward import cot_length


class GateError(HawkeyeError):
    """A pre-flight check missed its threshold."""


@dataclass(frozen=True)
class Check:
    metric: str
    value: float
    threshold: float
    kind: str  # "min" or "max"

    @property
    def passed(self) -> bool:
        return self.value >= self.threshold if self.kind == "min" else self.value <= self.threshold

    def describe(self) -> str:
        sign = ">=" if self.kind == "min" else "<="
        return f"{self.metric}={self.value:.3f} (needs {sign} {self.threshold:g})"


def _accuracy(texts: list[str], rows: list[dict[str, Any]]) -> float:
    return sum(exact_match(t, r["answer"]) for t, r in zip(texts, rows, strict=True)) / len(rows)


def measure(a: GenerationBackend, b: GenerationBackend, rows: list[dict[str, Any]], cfg: Any) -> dict[str, float]:
    """The gate's metrics on `rows` (A and B as generation backends)."""
    r, seed = cfg.rollout, int(cfg.seed)
    cap = int(r.max_new_tokens)
    greedy = SamplingParams(max_new_tokens=cap, temperature=0.0, seed=seed)
    sampled = SamplingParams(max_new_tokens=cap, temperature=float(r.temperature), top_p=float(r.top_p), seed=seed)
    b_params = SamplingParams(max_new_tokens=int(r.responder_max_new_tokens), temperature=0.0, seed=seed)
    questions = [row["question"] for row in rows]

    cots = a.generate([render(a.tokenizer, reasoning_messages(q)) for q in questions], greedy)
    samples = a.generate([render(a.tokenizer, reasoning_messages(q)) for q in questions], sampled)
    direct = a.generate([render(a.tokenizer, direct_messages(q)) for q in questions], greedy)
    leak = str(cfg.reward.answer_leak)
    b_cot = b.generate([render(b.tokenizer, responder_prompt(q, c.text, leak)[1])
                        for q, c in zip(questions, cots, strict=True)], b_params)
    b_none = b.generate([render(b.tokenizer, responder_prompt(q, "", leak)[1]) for q in questions], b_params)
    n_tok = [cot_length(g) for g in cots]
    return {
        "a_greedy": _accuracy([g.text for g in cots], rows),
        "a_sampled": _accuracy([g.text for g in samples], rows),
        "a_direct": _accuracy([g.text for g in direct], rows),
        "b_alone": _accuracy([g.text for g in b_none], rows),
        "b_with_cot": _accuracy([g.text for g in b_cot], rows),
        "truncated": sum(g.finish_reason == "length" for g in cots) / len(rows),
        "a_cot_tokens_mean": sum(n_tok) / len(n_tok),
    }


def checks(metrics: dict[str, float], gate: Any) -> list[Check]:
    return [
        Check("a_greedy", metrics["a_greedy"], float(gate.a_greedy_min), "min"),
        Check("a_sampled", metrics["a_sampled"], float(gate.a_sampled_min), "min"),
        Check("a_direct", metrics["a_direct"], float(gate.a_direct_max), "max"),
        Check("b_alone", metrics["b_alone"], float(gate.b_alone_max), "max"),
        Check("b_with_cot", metrics["b_with_cot"], float(gate.b_with_cot_ratio_min) * metrics["a_greedy"], "min"),
        Check("truncated", metrics["truncated"], float(gate.truncated_max), "max"),
    ]


def enforce(results: list[Check]) -> None:
    """Raise GateError naming every missed metric, its value and its threshold."""
    failed = [c.describe() for c in results if not c.passed]
    if failed:
        raise GateError("pre-flight gate failed: " + "; ".join(failed)
                        + " (thresholds: warmstart.gate.*; set warmstart.gate.enforce=false to continue anyway)")
