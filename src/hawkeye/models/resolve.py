"""Which Model A's and Model B the run uses, resolved and checked before anything starts.

Shared by the evaluate stage (`hawkeye.evaluation`) and the server (`hawkeye.serve`), so both pick
the same trained A, the same B and the same token caps from one config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hawkeye.evaluation.arms import latency_run, trained_runs
from hawkeye.models.load import load_tokenizer, resolve_model_path


@dataclass
class Model:
    role: str
    path: str             # resolved local folder or hub id
    cfg: DictConfig       # the policy/responder node, name_or_path set to `path`
    tokenizer: Any


def policy_checkpoint(cfg: DictConfig) -> str:
    """The trained Model A timed (and served) as Hawkeye: `eval.latency_arm`'s first seed among the
    runs `eval.policy_checkpoint` selects (see `hawkeye.evaluation.arms`), else the base policy."""
    timed = latency_run(cfg, trained_runs(cfg))
    return str(timed.path) if timed else str(cfg.policy.name_or_path)


def load_model(cfg: DictConfig, role: str, node: DictConfig, spec: str) -> Model:
    """Resolve and check one model folder (fails naming it) and load its tokenizer."""
    path = resolve_model_path(spec, cfg.paths.models_dir)
    node = OmegaConf.merge(node, {"name_or_path": path})
    return Model(role, path, node, load_tokenizer(path, bool(node.trust_remote_code)))


def resolve_models(cfg: DictConfig) -> dict[str, Model]:
    """Base A, the timed (Hawkeye) A and B, resolved and checked before anything is started."""
    specs = {"baseline_a": (cfg.policy, str(cfg.policy.name_or_path)),
             "hawkeye_a": (cfg.policy, policy_checkpoint(cfg)),
             "responder": (cfg.responder, str(cfg.responder.name_or_path))}
    return {role: load_model(cfg, role, node, spec) for role, (node, spec) in specs.items()}


def token_caps(cfg: DictConfig) -> tuple[int, int]:
    """(A's CoT cap, B's answer cap): eval.* if set, else the rollout caps A was trained under."""
    ev, ro = cfg.eval, cfg.rollout
    return int(ev.max_new_tokens or ro.max_new_tokens), int(ev.responder_max_new_tokens or ro.responder_max_new_tokens)
