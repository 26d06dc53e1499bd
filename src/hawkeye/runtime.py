"""What every entry point does first: validate the config, check the tracking store, pin threads,
seed, and treat SIGTERM as Ctrl-C (`hawkeye.process`); and how entry points read `-m`."""

from __future__ import annotations

import os

from omegaconf import DictConfig

from hawkeye.config import validate
from hawkeye.process import install_sigterm_as_interrupt
from hawkeye.seeding import seed_everything


def start(cfg: DictConfig, check_tracking: bool = True) -> DictConfig:
    """Validate (naming the key), then check that the MLflow store answers (naming the URI),
    all before any model loads or server starts; then threads and seeds.

    `check_tracking=False` is for callers that log nothing to MLflow (the latency CLI, the benchmarks);
    every pipeline stage logs, so it checks.
    """
    cfg = validate(cfg)
    if check_tracking:
        from hawkeye.tracking.mlflow_run import check_reachable, tracking_uri

        check_reachable(tracking_uri(cfg))
    threads = int(cfg.trainer.num_threads)
    if threads > 0:
        import torch

        # Oversubscribed threads made CPU training 3-20x slower on 2 cores.
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        torch.set_num_threads(threads)
    seed_everything(int(cfg.seed))
    install_sigterm_as_interrupt()
    return cfg


def flags_first(argv: list[str]) -> list[str]:
    """Hydra's parser wants `-m/--multirun` before the overrides; accept it anywhere, so that
    `python src/train.py experiment=smoke -m lambda=0.1,1.0` works as typed."""
    flags = [a for a in argv[1:] if a in ("-m", "--multirun")]
    return [argv[0], *flags, *(a for a in argv[1:] if a not in flags)]
