"""One model as the evaluation and the server name it: its folder resolved and checked, its tokenizer.

No weights are loaded here: the generation backends and servers load them from `Model.path`.
Which models those are (the trained runs, the timed A) is `hawkeye.selection`'s choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hawkeye.models.load import load_tokenizer, resolve_model_path


@dataclass
class Model:
    role: str
    path: str             # resolved local folder or hub id
    cfg: DictConfig       # the policy/responder node, name_or_path set to `path`
    tokenizer: Any


def resolve_model(cfg: DictConfig, role: str, node: DictConfig, spec: str) -> Model:
    """Resolve and check one model folder (fails naming it) and load its tokenizer (not its weights)."""
    path = resolve_model_path(spec, cfg.paths.models_dir)
    node = OmegaConf.merge(node, {"name_or_path": path})
    return Model(role, path, node, load_tokenizer(path, bool(node.trust_remote_code)))
