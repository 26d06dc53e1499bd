"""The regimes' gate, on the validation split, before any GRPO run: is each regime what it claims to be?

- **A regimes**: A with its CoT (greedy), A told to answer directly, per number of operations,
  len(c_orig), and how often A, sampled as GRPO samples it, skips its CoT and is right when it does (`skips`).
  Its checks bound these (`regimes.a.<name>.checks`).
- **B regimes**: B on each CoT form (`views.gate_form`): nothing (B alone), the first step with its
  value hidden (B alone in the form the short arms handed it), a direct answer, the critical steps
  boxed and bare, the verbose CoT boxed, the critical steps missing one or two; and B reading each A
  regime's own c_orig. Its checks bound these (`regimes.b.<name>.checks`), and every B must stay at most
  `regimes.b_alone_max` alone.
- **The penalty** of each A regime's cells, by the written rule (`config.PenaltyRule`) on its c_orig.

A regime whose gate fails is reported as such, and its cells are not run.
"""

from __future__ import annotations

from typing import Any

from hawkeye.answers import exact_match
from hawkeye.cot import cot_length
from hawkeye.data.sources.testbed_reading import steps_kept
from hawkeye.generation import SamplingParams, make_backend
from hawkeye.prompts import direct_messages, reasoning_messages, render
from hawkeye.regimes import layout
from hawkeye.regimes.config import B_FORMS
from hawkeye.regimes.views import gate_form
from hawkeye.responder.reads import responder_prompt
from hawkeye.warmstart.gate import n_ops, summarize

# Samples per validation question that measure A's skips (`skips`): about 30 skips of one-operation
# questions at a 10% rate, enough to see whether a skip is right.
SKIP_SAMPLES = 4


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def backend(cfg: Any, role: str, regime: str, ws: int) -> Any:
    node = {"name": f"{role}_{regime}", "name_or_path": str(layout.model_dir(cfg, role, regime, ws)), "dtype": "float32"}
    return make_backend(node, cfg.rollout, cfg.paths.models_dir, int(cfg.seed))


def measure_a(a: Any, rows: list[dict[str, Any]], cfg: Any) -> tuple[dict[str, float], list[str]]:
    """(A's measures, its greedy CoTs c_orig) on `rows`."""
    greedy = SamplingParams(max_new_tokens=int(cfg.rollout.max_new_tokens), temperature=0.0, seed=int(cfg.seed))
    qs = [r["question"] for r in rows]
    cots = a.generate([render(a.tokenizer, reasoning_messages(q)) for q in qs], greedy)
    direct = a.generate([render(a.tokenizer, direct_messages(q)) for q in qs], greedy)
    per_row = {"a_greedy": [exact_match(g.text, r["answer"]) for g, r in zip(cots, rows, strict=True)],
               "a_direct": [exact_match(g.text, r["answer"]) for g, r in zip(direct, rows, strict=True)],
               "c_orig_tokens": [float(cot_length(g)) for g in cots]}
    means, by_ops = summarize(per_row, rows)  # the warm-start gate's own per-operation breakdown
    out = {**means, **{f"{k}_{ops}": v for k in ("a_greedy", "a_direct") for ops, v in by_ops[k].items()}}
    return {**out, **skips(a, rows, cfg)}, [g.text for g in cots]


def skips(a: Any, rows: list[dict[str, Any]], cfg: Any) -> dict[str, float]:
    """A sampled as GRPO samples it (reasoning prompt, the rollout's temperature), `SKIP_SAMPLES` times a
    question: `a_skip` the share of CoTs that state no critical step (GRPO's path to a short CoT), and per
    number of operations that share and `a_skip_right_ops<n>`, the share of those skips that are right."""
    params = SamplingParams(max_new_tokens=int(cfg.rollout.max_new_tokens), temperature=float(cfg.rollout.temperature),
                            seed=int(cfg.seed))
    prompts = [render(a.tokenizer, reasoning_messages(r["question"])) for r in rows for _ in range(SKIP_SAMPLES)]
    gens = a.generate(prompts, params)
    by_ops: dict[int, list[tuple[bool, bool]]] = {}
    for i, g in enumerate(gens):
        row = rows[i // SKIP_SAMPLES]
        skipped = steps_kept(g.text, row).n_kept == 0
        by_ops.setdefault(n_ops(row), []).append((skipped, skipped and exact_match(g.text, row["answer"])))
    out = {"a_skip": _mean([float(s) for v in by_ops.values() for s, _ in v])}
    for ops, v in sorted(by_ops.items()):
        out[f"a_skip_ops{ops}"] = _mean([float(s) for s, _ in v])
        out[f"a_skip_right_ops{ops}"] = _mean([float(r) for s, r in v if s])
    return out


def measure_b(b: Any, rows: list[dict[str, Any]], cfg: Any, c_orig: dict[str, list[str]]) -> dict[str, float]:
    """B's accuracy on every gate form (over the rows that can have it), and reading each A's c_orig."""
    params = SamplingParams(max_new_tokens=int(cfg.rollout.responder_max_new_tokens), temperature=0.0,
                            seed=int(cfg.seed))

    def accuracy(pairs: list[tuple[dict[str, Any], str]]) -> float:
        prompts = [render(b.tokenizer, responder_prompt(r["question"], cot, "allow")[1]) for r, cot in pairs]
        answers = b.generate(prompts, params) if prompts else []
        return _mean([exact_match(g.text, r["answer"]) for g, (r, _) in zip(answers, pairs, strict=True)])

    out = {}
    for form in B_FORMS:
        out[form] = accuracy([(r, c) for r in rows if (c := gate_form(r, form)) is not None])
    for a, cots in c_orig.items():
        out[f"c_orig_{a}"] = accuracy(list(zip(rows, cots, strict=True)))
    return out


def penalty(cfg: Any, c_orig_tokens: float) -> dict[str, float]:
    """The rule's (alpha, lambda) for an A regime whose c_orig averages `c_orig_tokens` on validation."""
    p = cfg.regimes.penalty
    alpha = float(p.alpha)
    return {"alpha": alpha, "lambda": float(p.orig_cost) / ((1 - alpha) * c_orig_tokens) ** 2}


def failures(measures: dict[str, float], checks: dict[str, list[float]]) -> list[str]:
    """Every bound missed, as 'measure=value not in [low, high]'."""
    out = []
    for measure, (low, high) in checks.items():
        value = measures.get(measure, float("nan"))
        if not low <= value <= high:
            out.append(f"{measure}={value:.3f} not in [{low:g}, {high:g}]")
    return out


def run(cfg: Any, val_rows: list[dict[str, Any]], ws: int) -> dict[str, Any]:
    """One warm start's gate: {"a": {regime: {...}}, "b": {regime: {...}}}, each with `failed` (empty: passed)."""
    r = cfg.regimes
    n = int(r.gate_rows)
    rows = val_rows[:n] if n else val_rows
    out: dict[str, Any] = {"rows": len(rows), "a": {}, "b": {}}
    c_orig: dict[str, list[str]] = {}
    for name in r.run_a:
        a = backend(cfg, "a", name, ws)
        try:
            measures, c_orig[name] = measure_a(a, rows, cfg)
        finally:
            a.close()
        out["a"][name] = {"measures": measures, "penalty": penalty(cfg, measures["c_orig_tokens"]),
                          "failed": failures(measures, dict(r.a[name].checks))}
    for name in r.run_b:
        b = backend(cfg, "b", name, ws)
        try:
            measures = measure_b(b, rows, cfg, c_orig)
        finally:
            b.close()
        bounds = {"none": [0.0, float(r.b_alone_max)], **dict(r.b[name].checks)}
        out["b"][name] = {"measures": measures, "failed": failures(measures, bounds)}
    for role in ("a", "b"):
        for name, g in out[role].items():
            state = "passed" if not g["failed"] else "MISSED: " + "; ".join(g["failed"])
            print(f"[regimes gate] ws{ws} {role.upper()} regime {name}: {state}", flush=True)
    return out
