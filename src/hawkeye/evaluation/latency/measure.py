"""The poster's latency rows on one dataset: Baseline (Full), Hawkeye (CoT only), Hawkeye (Full).

- Baseline (Full): the base A answers alone.
- Hawkeye (CoT only): the timed trained A (`selection.resolve_served`) writes its CoT.
- Hawkeye (Full): that CoT, then B reads it (the run's own answer_leak) and answers: the A → B
  pipeline of `hawkeye.serve` (`serving.pipeline`), over the same vLLM servers.

Prompts are the offline backends' (token ids from each model's own tokenizer), so token counts
agree with the quality part. Each concurrency level runs the three methods back to back on the
same servers, so the Full/Baseline ratio compares numbers measured minutes apart, not a run apart.
A level gets max(eval.latency_requests or one per question, latency_min_requests_per_slot ×
concurrency) requests, so its p90/p99 rest on several requests per slot.

Besides the timings, every cell records where the time went (`stats.breakdown`), the CPU seconds
per request of the client and of each server (their process groups), and how late the client's
event loop ran; before the first cell, each server's CPU use while idle.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from omegaconf import DictConfig

from hawkeye.evaluation.latency.client import (
    GREEDY,
    LoopLag,
    closed_loop,
    cpu_seconds,
    single,
    through_pipeline,
)
from hawkeye.evaluation.latency.machine import idle_cpu, own_cpu_seconds
from hawkeye.evaluation.latency.stats import breakdown, summarize
from hawkeye.prompts import reasoning_messages
from hawkeye.selection import Served
from hawkeye.serving.chat_models import Decoding, RemoteChatModel
from hawkeye.serving.endpoints import Endpoint, chat_model
from hawkeye.serving.pipeline import Pipeline

METHODS = ("baseline_full", "cot_only", "full")
CLIENT = "client"


def requests_per_level(cfg: DictConfig, n_questions: int, concurrency: int) -> int:
    ev = cfg.eval
    return max(int(ev.latency_requests) or n_questions, int(ev.latency_min_requests_per_slot) * concurrency)


def full_over_baseline(cells: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Hawkeye (Full) over Baseline (Full) at one level: time per request (mean and p50), and CPU
    seconds per request (every process measured together: the ratio time per request tends to once
    the cores are saturated, its floor on this machine)."""
    out = {}
    for stat in ("mean", "p50"):
        base, full = cells["baseline_full"].get(f"e2e_s_{stat}"), cells["full"].get(f"e2e_s_{stat}")
        out[f"e2e_{stat}"] = _ratio(full, base)
    cpu = [sum((cells[m].get("cpu_s_per_request") or {}).values()) for m in ("full", "baseline_full")]
    out["cpu_per_request"] = _ratio(*cpu)
    return out


def _ratio(x: float | None, y: float | None) -> float:
    ok = x is not None and y is not None and y > 0 and not math.isnan(y)
    return x / y if ok else math.nan


def cpu_probes(endpoints: dict[str, Endpoint]) -> dict[str, Any]:
    """The client's own CPU time, and each server's started here (by served name)."""
    probes: dict[str, Any] = {CLIENT: own_cpu_seconds}
    for ep in endpoints.values():
        if ep.server is not None:
            probes[ep.server.served_name] = ep.server.cpu_seconds
    return probes


def latency_for_dataset(cfg: DictConfig, rows: list[dict[str, Any]], served: Served,
                        endpoints: dict[str, Endpoint], caps: tuple[int, int]) -> dict[str, Any]:
    """{"methods": {method: {concurrency: cell}}, "full_over_baseline": {concurrency: ratios},
    "idle_cpu_percent": {process: % of one core}, "servers": {role: served name}}."""
    return asyncio.run(_measure(cfg, rows, served, endpoints, caps))


async def _measure(cfg: DictConfig, rows: list[dict[str, Any]], served: Served, endpoints: dict[str, Endpoint],
                   caps: tuple[int, int]) -> dict[str, Any]:
    ev = cfg.eval
    timeout = float(ev.request_timeout_s)
    questions = [r["question"] for r in rows]
    n_a, n_b = caps
    model = {role: chat_model(role, endpoints[role], served.models[role], cfg.policy, timeout)
             for role in ("baseline_a", "hawkeye_a", "responder")}
    reasoning = [reasoning_messages(q) for q in questions]
    replay = replay_lengths(cfg)
    # A replay times given token counts (each call generates exactly its count), not the models' own lengths
    decoding = Decoding(exact_length=True) if replay else GREEDY
    n_base, n_cot, n_answer = (replay["baseline_tokens"], replay["cot_tokens"], replay["answer_tokens"]) if replay \
        else (n_a, n_a, n_b)
    methods = {
        "baseline_full": single(model["baseline_a"], reasoning, n_base, decoding),
        "cot_only": single(model["hawkeye_a"], reasoning, n_cot, decoding),
        "full": through_pipeline(Pipeline(model["hawkeye_a"], model["responder"], n_cot, n_answer,
                                          served.answer_leak), questions, decoding),
    }
    if ev.hawkeye_url:  # the whole pipeline behind `python -m hawkeye.serve` (one chat request)
        model["serve"] = RemoteChatModel(ev.hawkeye_url, "hawkeye", timeout_s=timeout, name="hawkeye.serve")
        methods["serve"] = single(model["serve"], [[{"role": "user", "content": q}] for q in questions], n_b)
    probes = cpu_probes(endpoints)
    try:
        if ev.warmup_requests:  # compile/allocate on the first request, outside the timed runs
            for name in ("full", "baseline_full"):
                await closed_loop(methods[name], int(ev.warmup_requests), 1, timeout)
        idle = await asyncio.to_thread(idle_cpu, {k: p for k, p in probes.items() if k != CLIENT},
                                       float(ev.idle_probe_s))
        cells: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in methods}
        ratios: dict[int, dict[str, float]] = {}
        for c in (int(x) for x in ev.concurrency):
            n = requests_per_level(cfg, len(rows), c)
            for name, request in methods.items():
                lag = LoopLag()
                with cpu_seconds(probes) as cpu:
                    async with lag.measuring():
                        records, wall = await closed_loop(request, n, c, timeout)
                cell = summarize(records, wall)
                ok = max(cell["completed"], 1)
                cells[name][c] = cell | lag.summary() | {
                    "breakdown": breakdown(records),
                    "cpu_s_per_request": {k: v / ok for k, v in cpu.items()},
                    "cpu_busy_cores": sum(cpu.values()) / wall if wall > 0 else math.nan,
                }
            ratios[c] = full_over_baseline({name: cells[name][c] for name in METHODS})
    finally:
        for m in model.values():
            await m.aclose()
    return {"methods": cells, "full_over_baseline": ratios, "idle_cpu_percent": idle,
            "servers": {role: ep.model for role, ep in endpoints.items()}, "replay": replay}


def replay_lengths(cfg: DictConfig) -> dict[str, int] | None:
    """`eval.latency_replay` as ints ({baseline_tokens, cot_tokens, answer_tokens}), or None: time the models'
    own lengths. A replay answers "how fast would these token counts be on these engines", e.g. another
    run's measured lengths on larger models; its tables say so."""
    replay = cfg.eval.get("latency_replay")
    return None if not replay else {k: int(replay[k]) for k in ("baseline_tokens", "cot_tokens", "answer_tokens")}
