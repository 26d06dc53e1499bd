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
