"""One seed for Python, NumPy, torch (and, through config, the generation backends)."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed every RNG we use; on CPU also ask torch for deterministic kernels."""
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic and not torch.cuda.is_available():
        # Deterministic where the CPU path allows; warn_only keeps ops without a
        # deterministic kernel usable instead of crashing a run.
        torch.use_deterministic_algorithms(True, warn_only=True)


# Seeds handed to one generate() call are `step_seed + i` (sample i of the call), so the seeds of
# different (step, rank) pairs are kept this far apart and never overlap.
SEED_STRIDE = 1 << 16


def step_seed(seed: int, step: int, rank: int = 0, world_size: int = 1) -> int:
    """The sampling seed of one training step on one rank: distinct for every (step, rank), a
    function of the step (not of the process's history), so a resumed run draws the same samples."""
    return seed + (step * world_size + rank) * SEED_STRIDE
