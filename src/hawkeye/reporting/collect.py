"""Read the finished train runs of one experiment (optionally one sweep) back from MLflow.

Every finished run counts: the arm runs (tag `arm`) and the λ × α sweep runs of
`src/train.py -m lambda=... alpha=...` (tag `sweep_id`). A run repeated with the same
(λ, α, arm, seed) is superseded by the newest one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hawkeye.errors import DataError
from hawkeye.tracking.names import train_metric


@dataclass
class TrainRun:
    run_id: str
    name: str
    lam: float
    alpha: float
    responder: str
    final: dict[str, float]
    curve: list[tuple[int, float]] = field(default_factory=list)   # (step, mean CoT tokens)
    em_curve: list[tuple[int, float]] = field(default_factory=list)
    arm: str = ""          # the `arm` tag, else what the config says: "no B" or "B (<answer_leak>)"
    seed: int | None = None
    sweep_id: str = "none"


def _runs(client: Any, experiment: str, stage: str, sweep_id: str | None) -> list[Any]:
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    query = f"tags.stage = '{stage}' and attributes.status = 'FINISHED'"
    if sweep_id:
        query += f" and tags.sweep_id = '{sweep_id}'"
    return client.search_runs([exp.experiment_id], filter_string=query, order_by=["attributes.start_time DESC"],
                              max_results=5000)


def arm_label(tags: dict[str, str], params: dict[str, str]) -> str:
    arm = tags.get("arm")
    if arm and arm != "none":
        return arm
    if params.get("responder.name") == "none":
        return "no B"
    return f"B ({params.get('reward.answer_leak', '?')})"


def _float(x: str | None) -> float:
    try:
        return float(x) if x is not None else float("nan")
    except ValueError:
        return float("nan")


def train_runs(client: Any, experiment: str, sweep_id: str | None = None) -> list[TrainRun]:
    """The newest finished train run per (λ, α, arm, seed), with its per-step CoT length and EM."""
    latest: dict[tuple[float, float, str, str], TrainRun] = {}
    for run in _runs(client, experiment, "train", sweep_id):
        p, tags = run.data.params, run.data.tags
        arm = arm_label(tags, p)
        key = (_float(p.get("lambda")), _float(p.get("alpha")), arm, str(p.get("seed")))
        if key in latest:
            continue
        history = client.get_metric_history(run.info.run_id, train_metric("cot_tokens_mean"))
        em = client.get_metric_history(run.info.run_id, train_metric("em"))
        seed = p.get("seed")
        latest[key] = TrainRun(
            run_id=run.info.run_id,
            name=run.info.run_name,
            lam=key[0],
            alpha=key[1],
            responder=p.get("responder.name", "?"),
            final=dict(run.data.metrics),
            curve=sorted((m.step, m.value) for m in history),
            em_curve=sorted((m.step, m.value) for m in em),
            arm=arm,
            seed=int(seed) if seed is not None and seed.lstrip("-").isdigit() else None,
            sweep_id=tags.get("sweep_id", "none"),
        )
    return sorted(latest.values(), key=lambda r: (r.arm, r.lam, r.alpha, r.seed if r.seed is not None else -1))


def load_evaluation(eval_dir: Path, datasets: list[str], confidence: float) -> dict[str, Any] | None:
    """The evaluate stage's quality results, rebuilt from `metrics.json`, in the order of `datasets` (JSON
    keys are sorted on disk); None when the stage has not run. Latency is not read: the report is a
    deterministic output, and timings differ run to run (they stay in `latency.json`/`latency.md`)."""
    metrics_path = eval_dir / "metrics.json"
    if not metrics_path.is_file():
        return None
    metrics = _read_json(metrics_path)
    results = {}
    for name, m in metrics.items():
        if not isinstance(m, dict) or "methods" not in m:
            raise DataError(f"{metrics_path}: dataset {name!r} has no 'methods' table (written by an older "
                            "evaluate stage? run it again)")
        results[name] = {"n": m.get("quality", {}).get("n"), "quality": m["quality"],
                         "methods": sorted(m["methods"].values(), key=lambda r: r.get("order", 0)),
                         "warm_starts": {ws: {"systems": sorted(w.values(), key=lambda r: r.get("order", 0))}
                                         for ws, w in (m.get("warm_starts") or {}).items()}}
    order = {name: i for i, name in enumerate(datasets)}
    results = dict(sorted(results.items(), key=lambda kv: order.get(kv[0], len(order))))
    return {"results": results, "context": {"confidence": confidence}}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: unreadable JSON: {e}") from e
