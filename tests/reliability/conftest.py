"""Fixtures of the reliability suite (the tiny models and compose helper come from tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import prepared_row, write_lines


@pytest.fixture()
def prepared(tmp_path: Path) -> Path:
    """Valid prepared splits for the smoke config (train: gsm_symbolic_train, test: gsm8k_test)."""
    d = tmp_path / "prepared"
    write_lines(d / "gsm_symbolic_train.jsonl", [prepared_row(i) for i in range(6)])
    write_lines(d / "gsm8k_test.jsonl", [prepared_row(i) for i in range(10, 13)])
    write_lines(d / "aime.jsonl", [prepared_row(i) for i in range(20, 22)])
    return d


@pytest.fixture()
def hydra_dir(tmp_path: Path) -> str:
    """Keeps a subprocess's Hydra output folder out of the repository."""
    return f"hydra.run.dir={tmp_path / 'hydra'}"
