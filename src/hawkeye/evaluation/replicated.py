"""Every method's held-out figures over all warm starts and seeds, with nested intervals.

The evaluation scores every system of every warm start on the same questions (`evaluation.systems`).
Here the systems of one method (an arm or a baseline, read one way: A alone or A → B) are stacked into
`[warm start, seed, question]` arrays and summarised with `evaluation.nested`:

- accuracy, and its difference to the base A *of the same warm start* answering alone (paired per
  question), each with the interval over warm starts, seeds and questions, the half-width each level
  adds, and the spread between warm starts beside the spread between seeds;
- cost as deployed: A's CoT tokens, B's answer tokens, A + B, and the reduction of each against the base A
  alone (its CoT is all it spends), with the same nested interval;
- what compression removed (`evaluation.removal`), mean ± sd over runs;
- the share of questions on which the CoT collapsed (`hawkeye.collapse`, judged with the answer this
  method gives), with its nested interval (ground-truth datasets only).

The base A's own rows (alone, and read by B) are methods too, with one "seed" per warm start.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hawkeye.evaluation.nested import half_widths, nested_interval, spreads
from hawkeye.evaluation.table import A_ALONE, A_TO_B, BASELINE, SystemResult, mean_sd

BASE_A = "base A"
BASE_KEYS = {A_ALONE: BASELINE, A_TO_B: "base_a_b"}


def _stack(members: dict[str, list[SystemResult]], field: str) -> np.ndarray:
    return np.asarray([[getattr(s, field) for s in runs] for runs in members.values()], dtype=float)


def group_methods(per_ws: dict[str, list[SystemResult]]) -> dict[tuple[str, str], dict[str, list[SystemResult]]]:
    """{(arm or BASE_A, reader): {warm start: its systems, by seed}}; fails unless every warm start has the
    same number of seeds of a method (the nested bootstrap draws seeds within a warm start)."""
    groups: dict[tuple[str, str], dict[str, list[SystemResult]]] = {}
    for ws, systems in per_ws.items():
        for s in systems:
            if s.reader not in BASE_KEYS:
                continue
            key = (s.arm or BASE_A, s.reader)
            groups.setdefault(key, {}).setdefault(ws, []).append(s)
    for key, members in groups.items():
        counts = {ws: len(runs) for ws, runs in members.items()}
        if len(set(counts.values())) != 1:
            raise ValueError(f"{key[0]} ({key[1]}): warm starts hold different numbers of seeds {counts}; "
                             "the nested interval needs the same seeds in each")
        for runs in members.values():
            runs.sort(key=lambda s: s.seed or 0)
    return groups


def _reduction(interval: Any) -> tuple[float, float, float]:
    """A relative change (negative = fewer tokens) as a reduction: (mean, low, high)."""
    return -interval.mean, -interval.high, -interval.low


def summarize(members: dict[str, list[SystemResult]], base: dict[str, SystemResult], confidence: float,
              n_resamples: int, seed: int) -> dict[str, Any]:
    """One method's nested figures; `base[ws]` is the base A alone of each warm start."""
    wss = list(members)
    correct = _stack(members, "correct")
    a_tok, b_tok = _stack(members, "cot_tokens"), _stack(members, "b_tokens")
    if b_tok.shape != a_tok.shape:  # A alone: B writes nothing
        b_tok = np.zeros_like(a_tok)
    base_correct = np.asarray([base[ws].correct for ws in wss], dtype=float)[:, None, :]
    base_tok = np.asarray([base[ws].cot_tokens for ws in wss], dtype=float)[:, None, :]
    scale = base_tok.mean(axis=2, keepdims=True)  # each warm start's base A tokens: relative changes per warm start
    args = (confidence, n_resamples, seed)
    acc = nested_interval(correct, *args)
    delta = correct - base_correct
    d = nested_interval(delta, *args)
    comp_a = _reduction(nested_interval((a_tok - base_tok) / scale, *args))
    comp_ab = _reduction(nested_interval((a_tok + b_tok - base_tok) / scale, *args))
    runs = [s for r in members.values() for s in r]
    per_run_acc = [float(np.mean(s.correct)) for s in runs]
    per_run_tok = [float(np.mean(s.cot_tokens)) for s in runs]
    first = runs[0]
    out: dict[str, Any] = {
        "warm_starts": wss, "seeds": [ws if s.seed is None else f"{ws}/seed{s.seed}" for ws, r in members.items() for s in r],
        "uses_b_in_training": first.uses_b_in_training, "answer_leak": first.answer_leak,
        "accuracy_mean": acc.mean, "accuracy_sd": mean_sd(per_run_acc)[1],
        "accuracy_ci_low": acc.low, "accuracy_ci_high": acc.high,
        "accuracy_delta_pooled": d.mean, "accuracy_delta_pooled_ci_low": d.low, "accuracy_delta_pooled_ci_high": d.high,
        **{f"half_width_{k}": v for k, v in half_widths(delta, *args).items()},
        **{f"spread_{k}": v for k, v in spreads(correct).items()},
        "cot_tokens_mean": float(a_tok.mean()), "cot_tokens_sd": mean_sd(per_run_tok)[1],
        "b_tokens_mean": float(b_tok.mean()), "ab_tokens_mean": float((a_tok + b_tok).mean()),
        "compression_mean": comp_a[0], "compression_ci_low": comp_a[1], "compression_ci_high": comp_a[2],
        "compression_ab_mean": comp_ab[0], "compression_ab_ci_low": comp_ab[1], "compression_ab_ci_high": comp_ab[2],
    }
    if all(s.collapsed for s in runs) and not np.isnan(_stack(members, "collapsed")).any():
        col = nested_interval(_stack(members, "collapsed"), *args)
        out["collapsed_mean"], out["collapsed_ci_low"], out["collapsed_ci_high"] = col.mean, col.low, col.high
    for k in sorted({k for s in runs for k in s.removal}):
        out[f"removal_{k}_mean"], out[f"removal_{k}_sd"] = mean_sd([s.removal.get(k, math.nan) for s in runs])
    return out


def aggregate(per_ws: dict[str, list[SystemResult]], confidence: float, n_resamples: int,
              seed: int) -> list[dict[str, Any]]:
    """Every method's nested summary: the base A's rows first, then each (arm, reader) in first-seen order."""
    groups = group_methods(per_ws)
    base = {ws: next(s for s in systems if s.key == BASELINE) for ws, systems in per_ws.items()}
    out = []
    for (arm, reader), members in sorted(groups.items(), key=lambda kv: kv[0][0] != BASE_A):
        row = {"order": len(out), "arm": arm, "reader": reader,
               **summarize(members, base, confidence, n_resamples, seed)}
        if arm == BASE_A:
            row["key"] = BASE_KEYS[reader]
        out.append(row)
    return out
