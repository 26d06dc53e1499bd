"""Read the runs of one experiment (optionally one sweep) back from MLflow."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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


def _runs(client: Any, experiment: str, stage: str, sweep_id: str | None) -> list[Any]:
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    query = f"tags.stage = '{stage}' and attributes.status = 'FINISHED'"
    if sweep_id:
        query += f" and tags.sweep_id = '{sweep_id}'"
    return client.search_runs([exp.experiment_id], filter_string=query, order_by=["attributes.start_time DESC"])


def train_runs(client: Any, experiment: str, sweep_id: str | None = None) -> list[TrainRun]:
    """The newest finished train run per (λ, α, responder), with its collapse curve."""
    latest: dict[tuple[float, float, str], TrainRun] = {}
    for run in _runs(client, experiment, "train", sweep_id):
        p = run.data.params
        key = (float(p.get("lambda", "nan")), float(p.get("alpha", "nan")), p.get("responder.name", "?"))
        if key in latest:
            continue
        history = client.get_metric_history(run.info.run_id, "cot_tokens_mean")
        em = client.get_metric_history(run.info.run_id, "em")
        latest[key] = TrainRun(
            run_id=run.info.run_id,
            name=run.info.run_name,
            lam=key[0],
            alpha=key[1],
            responder=key[2],
            final=dict(run.data.metrics),
            curve=sorted((m.step, m.value) for m in history),
            em_curve=sorted((m.step, m.value) for m in em),
        )
    return sorted(latest.values(), key=lambda r: (r.responder == "none", r.lam, r.alpha))


def eval_runs(client: Any, experiment: str, sweep_id: str | None = None) -> list[Any]:
    """The newest finished evaluate run per dataset."""
    seen: dict[str, Any] = {}
    for run in _runs(client, experiment, "evaluate", sweep_id):
        dataset = run.data.tags.get("dataset") or run.data.params.get("dataset") or run.info.run_name
        seen.setdefault(dataset, run)
    return list(seen.values())
