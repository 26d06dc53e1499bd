"""Schema of the `tracking` config group (MLflow)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TrackingConfig:
    # null -> $MLFLOW_TRACKING_URI if set, else sqlite:///<repo>/mlflow.db. Never the file store.
    uri: str | None = None
    experiment: str = "hawkeye"
    sweep_id: str | None = None     # shared tag of the runs of one sweep (set automatically in -m)
    log_samples: int = 8            # sample completions per logged table
    # Which arm of an ablation a training run is (b_allow, b_mask, no_b; null outside the arms):
    # tagged `arm` on the MLflow run so reports and `mlflow ui` can group runs by it.
    arm: str | None = None
    # Which warm-start replicate a run belongs to (`hawkeye.replicates`; null without warm start): tag `warm_start`.
    warm_start: int | None = None
