"""Compose conf/ into params.yaml, exactly as `dvc exp run` does with hydra.enabled.

`dvc repro` reads params.yaml (DVC stages run `--config-dir . --config-name params`), so it must
match conf/. tests/test_pipeline_files.py fails when they drift; `make params` rewrites it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]


def composed(overrides: list[str]) -> str:
    # version_base=None, like DVC's own composition (dvc/utils/hydra.py).
    with initialize_config_dir(str(ROOT / "conf"), version_base=None):
        cfg = compose(config_name="config", overrides=overrides)
    OmegaConf.resolve(cfg)
    return OmegaConf.to_yaml(cfg)


if __name__ == "__main__":
    text = composed(sys.argv[1:])
    (ROOT / "params.yaml").write_text(text, encoding="utf-8")
    print(f"wrote params.yaml ({len(text.splitlines())} lines)")
