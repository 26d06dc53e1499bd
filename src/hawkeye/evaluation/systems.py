"""Generate every system's answers on every dataset, loading one model at a time.

Each Model A (the base, then every trained run) is loaded once and writes its greedy CoTs for all
datasets; then B reads each of them, the way the run trained (its `reward.answer_leak`; the base
A's CoT the way the config says). One greedy completion per (A, question) serves both A alone and
A → B; for a reasoning policy (`policy.think_end`) B reads, and len(c) counts, only its think span
(`hawkeye.cot.think_span`), as in training.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from omegaconf import DictConfig

from hawkeye.collapse import collapsed_on
from hawkeye.cot import cot_stop_token_ids, think_span
from hawkeye.evaluation import quality as q
from hawkeye.evaluation.removal import removal, waste_tokens
from hawkeye.evaluation.table import BASELINE, SystemResult
from hawkeye.generation.base import GenerationBackend
from hawkeye.models.resolve import Model
from hawkeye.runs import TrainedRun

OpenBackend = Callable[[Model], AbstractContextManager[GenerationBackend]]
Rows = list[dict[str, Any]]


def system_keys(run: TrainedRun | None) -> tuple[str, str]:
    """(A alone, A → B) keys of a trained run, or of the base A (None)."""
    return (BASELINE, "base_a_b") if run is None else (f"{run.arm}/seed{run.seed}/a", f"{run.arm}/seed{run.seed}/a_b")


def evaluate_systems(
    cfg: DictConfig,
    datasets: dict[str, Rows],
    base: Model,
    responder: Model,
    runs: list[tuple[TrainedRun, Model]],
    open_backend: OpenBackend,
    caps: tuple[int, int],
) -> dict[str, tuple[list[SystemResult], Rows]]:
    """{dataset: (systems in table order, per-question samples)}."""
    seed = int(cfg.seed)
    cap_a, cap_b = caps
    a_models: list[tuple[TrainedRun | None, Model]] = [(None, base), *runs]
    questions = {name: [r["question"] for r in rows] for name, rows in datasets.items()}

    cots: dict[tuple[int, str], list[Any]] = {}   # A's whole completion: what A alone answers with
    spans: dict[tuple[int, str], list[Any]] = {}  # c: what B reads and len(c) counts
    removed: dict[tuple[int, str], dict[str, float]] = {}  # what compression removed (ground truth only)
    base_waste: dict[str, int] = {}
    for i, (_, model) in enumerate(a_models):
        with open_backend(model) as a:
            stop_ids = cot_stop_token_ids(cfg.policy, a.tokenizer)
            for name, rows in datasets.items():
                cots[i, name] = q.reason(a, questions[name], cap_a, seed)
                spans[i, name] = [think_span(g, stop_ids, a.tokenizer) for g in cots[i, name]]
                texts = [g.text for g in spans[i, name]]
                if i == 0:  # the base A's waste: what "waste left" is measured against
                    base_waste[name] = waste_tokens(texts, rows, a.tokenizer)
                removed[i, name] = removal(texts, rows, a.tokenizer, base_waste[name])

    out: dict[str, tuple[list[SystemResult], Rows]] = {}
    with open_backend(responder) as b:
        for name, rows in datasets.items():
            results: list[tuple[SystemResult, Rows]] = []
            for i, (run, _) in enumerate(a_models):
                alone_key, with_b_key = system_keys(run)
                leak = str(cfg.reward.answer_leak) if run is None else run.answer_leak
                meta: dict[str, Any] = {"answer_leak": leak, "removal": removed[i, name]}
                if run is not None:
                    meta.update(arm=run.arm, seed=run.seed, uses_b_in_training=run.uses_b)
                label = "Base A" if run is None else f"{run.arm} seed{run.seed}"
                seen, answers = q.respond(b, questions[name], [g.text for g in spans[i, name]], leak, cap_b, seed)
                results.append(q.a_alone(alone_key, "Baseline (base A alone)" if run is None else f"{label}: A alone",
                                         rows, cots[i, name], **meta))
                results.append(q.a_to_b(with_b_key, "Base A → B" if run is None else f"{label}: A → B", rows, spans[i, name], seen, answers, **meta))
                for system, _ in results[-2:]:  # collapse on held-out questions: A's CoT, the answer this system gives
                    system.collapsed = [collapsed_on(g.text, r, ok, cfg.collapse)
                                        for g, r, ok in zip(spans[i, name], rows, system.correct, strict=True)]
                if run is None and cfg.eval.include_b_alone:
                    results.append(q.b_alone(rows, q.reason(b, questions[name], cap_a, seed)))
            out[name] = ([system for system, _ in results], [s for _, samples in results for s in samples])
    return out
