"""A config as flat dotted keys: the MLflow params of a run and the config a checkpoint records."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf


def to_flat_params(cfg: DictConfig, prefix: str = "") -> dict[str, Any]:
    """Flatten a config into dotted keys (MLflow params)."""
    flat: dict[str, Any] = {}
    container = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
    assert isinstance(container, dict)
    for k, v in container.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            flat.update(to_flat_params(v, prefix=f"{key}."))  # type: ignore[arg-type]
        else:
            flat[key] = v
    return flat
