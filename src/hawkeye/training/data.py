"""Training data: curated rows (q, a, len(c_orig)) and which questions each step trains on.

The questions of step s come from a seeded permutation of the rows, indexed by s (not by a
dataloader position), so a run resumed at step s trains on exactly the questions that an
uninterrupted run would have used: resuming reproduces the same run. Under DDP/FSDP the
`questions_per_step` questions of a step are split between the ranks (`rank_share`): each rank
trains on its own slice, and together the ranks cover the same questions as one process would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
from torch.utils.data import DataLoader, Dataset

from hawkeye.data.schema import CuratedRow, read_curated_rows
from hawkeye.errors import DataError
from hawkeye.paths import resolve


def load_train_rows(path: str | Path) -> list[CuratedRow]:
    """Curated training rows, read through the curated-row schema curate writes with
    (`data.schema.CuratedRow`; cot_orig_tokens must be positive); a bad row fails naming file:line."""
    path = resolve(path)
    if not path.is_file():
        raise DataError(f"{path}: curated training data not found (run `dvc repro curate`, or `python pipelines/curate.py` with the same experiment=, first)")
    return read_curated_rows(path, for_training=True)


def questions_for_step(
    num_rows: int, step: int, per_step: int, seed: int, rank: int = 0, world_size: int = 1
) -> list[int]:
    """Row indices that rank `rank` trains on at step `step`: its share of consecutive slices of
    per-epoch seeded permutations (all of them when world_size is 1)."""
    out = []
    for k in range(step * per_step, (step + 1) * per_step):
        epoch, pos = divmod(k, num_rows)
        out.append(int(np.random.default_rng(seed + epoch).permutation(num_rows)[pos]))
    return rank_share(out, rank, world_size)


def rank_share(items: list[Any], rank: int, world_size: int) -> list[Any]:
    """Rank `rank`'s contiguous, equal slice of one step's items (the config check makes
    `grpo.questions_per_step` a multiple of the number of processes)."""
    if len(items) % world_size:
        raise ValueError(f"{len(items)} questions cannot be split evenly over {world_size} processes")
    per_rank = len(items) // world_size
    return items[rank * per_rank : (rank + 1) * per_rank]


class _Steps(Dataset):
    """One item per step: the rows that step trains on."""

    def __init__(self, rows: list[dict[str, Any]], num_steps: int, per_step: int, seed: int) -> None:
        self.rows, self.num_steps, self.per_step, self.seed = rows, num_steps, per_step, seed

    def __len__(self) -> int:
        return self.num_steps

    def __getitem__(self, step: int) -> list[dict[str, Any]]:
        return [self.rows[i] for i in questions_for_step(len(self.rows), step, self.per_step, self.seed)]


class GRPODataModule(L.LightningDataModule):
    def __init__(self, train_path: str | Path, questions_per_step: int, num_steps: int, seed: int) -> None:
        super().__init__()
        self.rows = load_train_rows(train_path)
        self.train_path = resolve(train_path)
        self.steps = _Steps(self.rows, num_steps, questions_per_step, seed)

    @property
    def mean_orig_tokens(self) -> float:
        return float(np.mean([r["cot_orig_tokens"] for r in self.rows]))

    def rows_for_step(self, step: int) -> list[dict[str, Any]]:
        return self.steps[step]

    def train_dataloader(self) -> DataLoader:
        # batch_size=None: each item already is one step's batch of rows. The module reads the rows
        # of its global step (`rows_for_step`), so a resumed run never depends on loader position.
        return DataLoader(self.steps, batch_size=None, shuffle=False, num_workers=0)
