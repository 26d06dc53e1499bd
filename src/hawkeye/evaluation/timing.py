"""The poster's latency rows on one dataset: Baseline (Full), Hawkeye (CoT only), Hawkeye (Full).

- Baseline (Full): the base A answers alone.
- Hawkeye (CoT only) / (Full): the timed trained A (`eval.latency_arm`, its first seed) writes its
  CoT; for Full, B then reads it (the arm's own answer_leak) and answers.

Each concurrency level runs the three methods back to back on the same servers, so the
Full/Baseline ratio compares numbers measured minutes apart, not a run apart. A level gets
max(eval.latency_requests or one per question, latency_min_requests_per_slot × concurrency)
requests, so its p90/p99 rest on several requests per slot.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from omegaconf import DictConfig

from hawkeye.cot import cot_stop_token_ids
from hawkeye.evaluation import latency as lat
from hawkeye.evaluation.metrics import summarize
from hawkeye.prompts import reasoning_messages, render, responder_prompt

METHODS = ("baseline_full", "cot_only", "full")


def requests_per_level(cfg: DictConfig, n_questions: int, concurrency: int) -> int:
    ev = cfg.eval
    return max(int(ev.latency_requests) or n_questions, int(ev.latency_min_requests_per_slot) * concurrency)


def _prompt_ids(tok: Any, messages: list[dict[str, str]]) -> list[int]:
    return list(tok(render(tok, messages), add_special_tokens=False)["input_ids"])


def full_over_baseline(cells: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Hawkeye (Full) over Baseline (Full) time per request (mean and p50) at one level."""
    out = {}
    for stat in ("mean", "p50"):
        base, full = cells["baseline_full"].get(f"e2e_s_{stat}"), cells["full"].get(f"e2e_s_{stat}")
        ok = base is not None and full is not None and base > 0 and not math.isnan(base)
        out[f"e2e_{stat}"] = full / base if ok else math.nan
    return out


def latency_for_dataset(cfg: DictConfig, rows: list[dict[str, Any]], tokenizers: dict[str, Any],
                        endpoints: dict[str, lat.Endpoint], answer_leak: str,
                        caps: tuple[int, int]) -> dict[str, Any]:
    """{"methods": {method: {concurrency: cell}}, "full_over_baseline": {concurrency: ratios}}.

    `tokenizers` and `endpoints` are keyed by role: baseline_a, hawkeye_a, responder.
    """
    ev = cfg.eval
    questions = [r["question"] for r in rows]
    prompts_base = [_prompt_ids(tokenizers["baseline_a"], reasoning_messages(q)) for q in questions]
    prompts_a = [_prompt_ids(tokenizers["hawkeye_a"], reasoning_messages(q)) for q in questions]

    def prompt_b(i: int, cot: str) -> list[int]:
        return _prompt_ids(tokenizers["responder"], responder_prompt(questions[i], cot, answer_leak)[1])

    n_a, n_b = caps
    # Hawkeye's A writes c and stops: for a reasoning policy, at the end of its think span.
    cot_a = dataclasses.replace(endpoints["hawkeye_a"],
                                stop_token_ids=cot_stop_token_ids(cfg.policy, tokenizers["hawkeye_a"]))
    methods = {
        "baseline_full": lat.single_request(endpoints["baseline_a"], prompts_base, n_a),
        "cot_only": lat.single_request(cot_a, prompts_a, n_a),
        "full": lat.collaborative_request(cot_a, endpoints["responder"], prompts_a, prompt_b, n_a, n_b),
    }
    if ev.hawkeye_url:  # the whole pipeline behind `python -m hawkeye.serve` (one chat request)
        chats = [[{"role": "user", "content": q}] for q in questions]
        methods["serve"] = lat.single_request(lat.Endpoint(ev.hawkeye_url, "hawkeye", kind="chat"), chats, n_b)
    timeout = float(ev.request_timeout_s)
    if ev.warmup_requests:  # compile/allocate on the first request, outside the timed runs
        for name in ("full", "baseline_full"):
            lat.run(lat.closed_loop(methods[name], int(ev.warmup_requests), 1, timeout))

    cells: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in methods}
    ratios: dict[int, dict[str, float]] = {}
    for c in (int(x) for x in ev.concurrency):
        n = requests_per_level(cfg, len(rows), c)
        for name, request in methods.items():
            records, wall = lat.run(lat.closed_loop(request, n, c, timeout))
            cells[name][c] = summarize(records, wall)
        ratios[c] = full_over_baseline({name: cells[name][c] for name in METHODS})
    return {"methods": cells, "full_over_baseline": ratios}
