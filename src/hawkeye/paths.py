"""Where the repository lives, so relative config paths resolve the same from any cwd."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(os.environ.get("HAWKEYE_ROOT", Path(__file__).resolve().parents[2]))
CONF_DIR = REPO_ROOT / "conf"


def resolve(path: str | os.PathLike[str]) -> Path:
    """A config path relative to the repository root (absolute paths are kept)."""
    p = Path(path)
    return p if p.is_absolute() else REPO_ROOT / p
