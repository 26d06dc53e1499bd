"""Which process of a distributed run this is, read before any process group exists."""

from __future__ import annotations

import os


def is_primary_process() -> bool:
    """Global rank 0 of a distributed run, read from the launcher's environment before any process
    group exists: torchrun/SLURM (RANK, SLURM_PROCID), or Lightning's own launcher, which starts the
    other processes of a node with LOCAL_RANK and tells the nodes apart with NODE_RANK."""
    for key in ("RANK", "SLURM_PROCID"):
        if os.environ.get(key) is not None:
            return int(os.environ[key]) == 0
    return int(os.environ.get("LOCAL_RANK", 0)) == 0 and int(os.environ.get("NODE_RANK", 0)) == 0
