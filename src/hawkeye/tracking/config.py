"""Schema of the `tracking` config group (MLflow)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TrackingConfig:
    # null -> $MLFLOW_TRACKING_URI if set, else sqlite:///<repo>/mlflow.db. Never the file store.
    uri: str | None
    experiment: str
    sweep_id: str | None  # shared tag of the runs of one sweep (set automatically in -m)
    log_samples: int      # sample completions per logged table
    # Which arm of an ablation a training run is, set by the train stage (e.g. b_mask_short); null: named
    # by what the run trains (b_mask, b_allow, no_b: `hawkeye.training.arms.run_arm`). Tagged `arm` on
    # the MLflow run so reports and `mlflow ui` can group runs by it.
    arm: str | None
    # Which warm-start replicate a run belongs to (`hawkeye.replicates`; null without warm start): tag `warm_start`.
    warm_start: int | None
