"""What every entry point does first: validate the config, pin threads, seed."""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType

from omegaconf import DictConfig

from hawkeye.config import validate
from hawkeye.seeding import seed_everything


def start(cfg: DictConfig) -> DictConfig:
    """Validate (fails before any model loads, naming the key), then threads and seeds."""
    cfg = validate(cfg)
    threads = int(cfg.trainer.num_threads)
    if threads > 0:
        import torch

        # Oversubscribed threads made CPU training 3-20x slower on 2 cores.
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        torch.set_num_threads(threads)
    seed_everything(int(cfg.seed))
    _sigterm_as_interrupt()
    return cfg


def _sigterm_as_interrupt() -> None:
    """Treat SIGTERM (pre-emption, `kill`) like Ctrl-C: temp files are removed, the MLflow run
    is marked KILLED and servers are torn down by the same `finally`/`except` paths."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
