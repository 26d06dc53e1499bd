"""The pre-flight gate: before GRPO spends minutes, check that the testbed can show a result either way.

Measured on the validation split (never the test split) with the same prompts, caps and answer
checker as everything else, each also broken down by the question's number of operations:

- a_greedy / a_sampled: A with its CoT, greedy and at the rollout temperature (what GRPO samples);
- a_direct: A told to answer directly. Reported, not gated: an easy question answered without a
  CoT is the way a reward that pays for short CoTs can collapse them;
- b_alone: B with an empty CoT (B must need A);
- for each rule B reads under in an arm with B (`reward.answer_leak` of those arms):
  - b_reads_c_orig/<rule>: B reading A's greedy CoT (`c_orig`), as the reward has it read;
  - b_finish/<rule>: B reading the question's critical steps (ground truth) with the last one or
    two removed (alternately), as that rule shows them: B must compute what is missing;
- truncated: the share of A's greedy CoTs cut at `rollout.max_new_tokens` (c_orig must be A's length);
- a_cot_tokens_mean, critical_tokens_mean: len(c_orig) and the critical steps' length in A's tokens.

And, before any GRPO step, **where each arm's reward points** (`landscape`): the mean reward
R = EM − λ·max(0, len(c) − α·len(c_orig))² of four reference CoTs under each arm's own λ, α and
reader, per question: A's `c_orig`; the critical steps with the answer; the critical steps without
the last one or two ("stop early"); and A's direct answer. EM is measured where it can be: B's
answers under the arm's rule, A's own for the no-B arm (which cannot stop early: its stated answer
would be an intermediate value; its critical-steps EM is taken as its c_orig's). An arm whose
reward prefers the direct answer on some questions has a way to collapse; one whose reward prefers
its c_orig has no reason to compress.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hawkeye.answers import exact_match
from hawkeye.cot import cot_length
from hawkeye.data.sources.testbed import critical_steps
from hawkeye.data.sources.testbed_reading import critical_tokens
from hawkeye.errors import HawkeyeError
from hawkeye.generation.base import GenerationBackend, SamplingParams
from hawkeye.prompts import direct_messages, reasoning_messages, render
from hawkeye.responder.reads import responder_prompt
from hawkeye.warmstart.examples import partial_cot


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


def n_ops(row: dict[str, Any]) -> int:
    return len(critical_steps(row["segments"]))


def finish_view(row: dict[str, Any], index: int) -> str:
    """The critical steps without the last one (even rows) or two (odd rows), never all of them."""
    steps = critical_steps(row["segments"])
    return partial_cot(steps, min(1 + index % 2, len(steps) - 1))


def _scores(texts: list[str], rows: list[dict[str, Any]]) -> list[float]:
    return [exact_match(t, r["answer"]) for t, r in zip(texts, rows, strict=True)]


def measure(a: GenerationBackend, b: GenerationBackend, rows: list[dict[str, Any]], cfg: Any,
            rules: list[str]) -> dict[str, list[float]]:
    """The gate's measurements, one value per row: {metric: [...]}, and the reference CoTs' lengths
    (`len/<policy>`). `rules`: the `answer_leak` rules B reads under in the arms with B."""
    r, seed = cfg.rollout, int(cfg.seed)
    cap = int(r.max_new_tokens)
    greedy = SamplingParams(max_new_tokens=cap, temperature=0.0, seed=seed)
    sampled = SamplingParams(max_new_tokens=cap, temperature=float(r.temperature), top_p=float(r.top_p), seed=seed)
    b_params = SamplingParams(max_new_tokens=int(r.responder_max_new_tokens), temperature=0.0, seed=seed)
    questions = [row["question"] for row in rows]

    def ask_b(cots: list[str], rule: str) -> list[str]:
        prompts = [render(b.tokenizer, responder_prompt(q, c, rule)[1]) for q, c in zip(questions, cots, strict=True)]
        return [g.text for g in b.generate(prompts, b_params)]

    cots = a.generate([render(a.tokenizer, reasoning_messages(q)) for q in questions], greedy)
    samples = a.generate([render(a.tokenizer, reasoning_messages(q)) for q in questions], sampled)
    direct = a.generate([render(a.tokenizer, direct_messages(q)) for q in questions], greedy)
    per_row: dict[str, list[float]] = {
        "a_greedy": _scores([g.text for g in cots], rows),
        "a_sampled": _scores([g.text for g in samples], rows),
        "a_direct": _scores([g.text for g in direct], rows),
        "b_alone": _scores(ask_b([""] * len(rows), "allow"), rows),
        "truncated": [float(g.finish_reason == "length") for g in cots],
        "a_cot_tokens_mean": [float(cot_length(g)) for g in cots],
        "critical_tokens_mean": [float(critical_tokens(row, a.tokenizer)) for row in rows],
    }
    finish = [finish_view(row, i) for i, row in enumerate(rows)]
    critical = [f"{' '.join(critical_steps(row['segments']))} \\boxed{{{row['answer']}}}" for row in rows]
    for rule in rules:
        per_row[f"b_reads_c_orig/{rule}"] = _scores(ask_b([g.text for g in cots], rule), rows)
        per_row[f"b_finish/{rule}"] = _scores(ask_b(finish, rule), rows)
        per_row[f"b_reads_critical/{rule}"] = _scores(ask_b(critical, rule), rows)
    def n_tok(text: str) -> float:
        return float(len(a.tokenizer(text, add_special_tokens=False)["input_ids"]))

    per_row |= {"len/c_orig": per_row["a_cot_tokens_mean"], "len/critical": [n_tok(c) for c in critical],
                "len/stop_early": [n_tok(c) for c in finish], "len/direct": [float(cot_length(g)) for g in direct]}
    return per_row


def summarize(per_row: dict[str, list[float]], rows: list[dict[str, Any]]) -> tuple[dict[str, float],
                                                                                    dict[str, dict[str, float]]]:
    """(means over all rows, means per number of operations: {metric: {"ops<n>": value}})."""
    ops = [n_ops(row) for row in rows]
    metrics = {k: _mean(v) for k, v in per_row.items()}
    by_ops = {k: {f"ops{n}": _mean([x for x, o in zip(v, ops, strict=True) if o == n]) for n in sorted(set(ops))}
              for k, v in per_row.items()}
    return metrics, by_ops


POLICIES = ("c_orig", "critical", "stop_early", "direct")

# The rule that sets the testbed's penalty (docs/testbed.md), from the validation split's numbers:
QUARTER = 0.25  # a CoT as long as c_orig costs a quarter of EM


def rule_settings(per_row: dict[str, list[float]], short_alpha: float) -> dict[str, float]:
    """The settings the written rule gives (the config must carry them, rounded):
    - alpha: the critical steps' share of A's c_orig (the target sits at the known critical content);
    - lambda: a CoT as long as c_orig costs a quarter of EM, λ·((1 − α)·len(c_orig))² = 1/4;
    - short_lambda, at alpha = `short_alpha` (a target below the critical content): twice the λ at which,
      for A alone, a direct answer earns as much as the critical steps (mean EM gain of the critical
      steps over answering directly, over their mean squared excess over the target), so that a
      short CoT pays."""
    orig, critical = per_row["len/c_orig"], per_row["critical_tokens_mean"]
    alpha = sum(critical) / sum(orig)
    mean_orig = sum(orig) / len(orig)
    excess = [max(0.0, n - short_alpha * o) ** 2 for n, o in zip(per_row["len/critical"], orig, strict=True)]
    gain = _mean(per_row["a_greedy"]) - _mean(per_row["a_direct"])
    return {"alpha": alpha, "lambda": QUARTER / ((1 - alpha) * mean_orig) ** 2,
            "short_alpha": short_alpha, "short_lambda": 2 * gain / _mean(excess)}


def landscape(per_row: dict[str, list[float]], rows: list[dict[str, Any]],
              arms: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """{arm: {policy: {"all": mean reward, "ops<n>": ...}}}; `arms`: {arm: {"lambda", "alpha", "rule"}},
    rule None for an arm without B."""
    from hawkeye.reward.reward import length_penalty

    out: dict[str, dict[str, dict[str, float]]] = {}
    for arm, p in arms.items():
        rule = p["rule"]
        em = {"c_orig": per_row["a_greedy"] if rule is None else per_row[f"b_reads_c_orig/{rule}"],
              "critical": per_row["a_greedy"] if rule is None else per_row[f"b_reads_critical/{rule}"],
              "stop_early": [0.0] * len(rows) if rule is None else per_row[f"b_finish/{rule}"],
              # with B, a direct answer is read under the rule: masked, B answers alone; allowed, B copies it
              "direct": per_row["b_alone"] if rule == "mask" else per_row["a_direct"]}
        out[arm] = {}
        for policy in POLICIES:
            rewards = [e - length_penalty(int(n), int(o), float(p["lambda"]), float(p["alpha"]))
                       for e, n, o in zip(em[policy], per_row[f"len/{policy}"], per_row["len/c_orig"], strict=True)]
            mean, by_ops = summarize({"r": rewards}, rows)
            out[arm][policy] = {"all": mean["r"], **by_ops["r"]}
    return out


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def checks(metrics: dict[str, float], gate: Any, rules: list[str]) -> list[Check]:
    a = metrics["a_greedy"]
    out = [
        Check("a_greedy", a, float(gate.a_greedy_min), "min"),
        Check("a_sampled", metrics["a_sampled"], float(gate.a_sampled_min), "min"),
        Check("b_alone", metrics["b_alone"], float(gate.b_alone_max), "max"),
        Check("truncated", metrics["truncated"], float(gate.truncated_max), "max"),
    ]
    for rule in rules:
        out += [Check(f"b_finish/{rule}", metrics[f"b_finish/{rule}"], float(gate.b_finish_ratio_min) * a, "min"),
                Check(f"b_reads_c_orig/{rule}", metrics[f"b_reads_c_orig/{rule}"],
                      float(gate.b_reads_c_orig_ratio_min) * a, "min")]
    return out


def enforce(results: list[Check]) -> None:
    """Raise GateError naming every missed metric, its value and its threshold."""
    failed = [c.describe() for c in results if not c.passed]
    if failed:
        raise GateError("pre-flight gate failed: " + "; ".join(failed)
                        + " (thresholds: warmstart.gate.*; set warmstart.gate.enforce=false to continue anyway)")
