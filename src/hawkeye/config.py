"""Validate a composed Hydra config against the schemas, before anything heavy happens.

Each config group has a dataclass schema in the subpackage that uses it. A value has one home, the
YAML in conf/; a schema holds the types and the checks. Its fields have no defaults (omegaconf's
MISSING), so a key the YAML leaves out fails here, naming it, instead of taking a second, drifting
copy of its value. The one exception is an optional key: `X | None = None`, meaning "not this kind
of thing" (a model without a think span), which no YAML writes as null. Merging the YAML onto the
schema rejects unknown keys and wrong types; instantiating it runs the range checks in
`__post_init__`. The top-level `lambda` cannot be a dataclass field (a Python keyword), so the
top level is checked here by hand. Every error names the offending key.

This module sits above the packages whose schemas it gathers: none of them imports it (or
`hawkeye.runtime`, which runs it); entry points do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from hawkeye.baselines.config import BaselinesConfig
from hawkeye.collapse import CollapseConfig
from hawkeye.curation.config import CurateConfig
from hawkeye.data.config import DataConfig
from hawkeye.errors import ConfigError
from hawkeye.evaluation.config import EvalConfig
from hawkeye.evaluation.nested import QUESTIONS_SHARE, questions_needed
from hawkeye.generation.config import RolloutConfig
from hawkeye.models.config import ModelConfig
from hawkeye.regimes.config import RegimesConfig
from hawkeye.reward.config import RewardConfig
from hawkeye.serving.config import ServingConfig
from hawkeye.tracking.config import TrackingConfig
from hawkeye.training.arms import ArmsConfig
from hawkeye.training.config import GRPOConfig, TrainerConfig
from hawkeye.warmstart.config import WarmstartConfig

log = logging.getLogger(__name__)


@dataclass
class PathsConfig:
    models_dir: str
    prepared_dir: str
    curated_dir: str
    runs_dir: str
    warmstart_dir: str         # the gate's results; each replicate's resume state (ws<k>/)
    train_dir: str
    eval_dir: str
    reports_dir: str
    baselines_dir: str | None  # the supervised baselines (stage `baselines`)


GROUP_SCHEMAS: dict[str, type] = {
    "policy": ModelConfig,
    "responder": ModelConfig,
    "data": DataConfig,
    "curate": CurateConfig,
    "reward": RewardConfig,
    "rollout": RolloutConfig,
    "grpo": GRPOConfig,
    "trainer": TrainerConfig,
    "eval": EvalConfig,
    "serving": ServingConfig,
    "tracking": TrackingConfig,
    "warmstart": WarmstartConfig,
    "arms": ArmsConfig,
    "collapse": CollapseConfig,
    "baselines": BaselinesConfig,
    "regimes": RegimesConfig,
    "paths": PathsConfig,
}
SCALARS: dict[str, tuple[type, ...]] = {
    "seed": (int,),
    "lambda": (int, float),
    "alpha": (int, float),
    "resume": (bool,),
}
# Present only in some presets or set by the Hydra launcher.
OPTIONAL_KEYS = {"experiment"}


def validate(cfg: DictConfig) -> DictConfig:
    """Return a validated, fully resolved copy of `cfg`; raise ConfigError naming the key."""
    try:
        resolved = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as e:
        raise ConfigError(f"config key '{getattr(e, 'full_key', '?')}': {e}") from e
    assert isinstance(resolved, dict)

    allowed = set(GROUP_SCHEMAS) | set(SCALARS) | OPTIONAL_KEYS
    for key in resolved:
        if key not in allowed:
            raise ConfigError(f"unknown config key '{key}' (allowed top-level keys: {sorted(allowed)})")
    for key, types in SCALARS.items():
        if key not in resolved:
            raise ConfigError(f"missing config key '{key}'")
        value = resolved[key]
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            raise ConfigError(f"config key '{key}'={value!r} must be {'/'.join(t.__name__ for t in types)}")
    check_length_penalty(resolved)

    out: dict[str, Any] = {k: resolved[k] for k in SCALARS}
    for group, schema in GROUP_SCHEMAS.items():
        out[group] = _check_group(group, schema, resolved.get(group))
    if "experiment" in resolved:
        out["experiment"] = resolved["experiment"]
    _check_across_groups(out)
    return OmegaConf.create(out)


def check_length_penalty(cfg: dict[str, Any]) -> None:
    """The one range check of λ and α (Algorithm 1's length penalty). They live only at the top
    level (`lambda`, `alpha`: the sweep handles); the reward reads them from there."""
    if cfg["lambda"] < 0:
        raise ConfigError(f"config key 'lambda'={cfg['lambda']} must be >= 0")
    if not 0 < cfg["alpha"] <= 1:
        raise ConfigError(f"config key 'alpha'={cfg['alpha']} must be in (0, 1]")


def _check_test_size(cfg: dict[str, Any]) -> None:
    """A generated test split must be large enough to judge the configured margin (`eval.margin`)."""
    data, margin = cfg["data"], cfg["eval"]["margin"]
    if data["name"] != "testbed":
        return
    if margin is None:
        if data["test_size"] < questions_needed(0.03):
            log.warning("data.test_size=%d: with eval.margin unset, no margin is checked; a 3-point margin needs "
                        ">= %d questions", data["test_size"], questions_needed(0.03))
        return
    need = questions_needed(margin)
    if data["test_size"] < need:
        raise ConfigError(f"config key 'data.test_size'={data['test_size']} is too small to judge eval.margin={margin}: "
                          f"sampling the questions would add more than {QUESTIONS_SHARE:.2f} of it to the interval; "
                          f"use >= {need} (or eval.margin=null)")


def _check_across_groups(cfg: dict[str, Any]) -> None:
    """Constraints that span two groups (a group's schema sees only its own node)."""
    _check_test_size(cfg)
    g, t = cfg["grpo"], cfg["trainer"]
    world = t["devices"] * t["num_nodes"]  # one process per device under DDP/FSDP
    # Each rank trains on an equal share of the step's questions (hawkeye.training.data.rank_share).
    if g["questions_per_step"] % world:
        raise ConfigError(
            f"config key 'grpo.questions_per_step'={g['questions_per_step']} must be a multiple of the number of "
            f"processes trainer.devices*trainer.num_nodes={t['devices']}*{t['num_nodes']}={world} "
            "(each rank trains on an equal share of a step's questions)"
        )
    per_rank = g["group_size"] * g["questions_per_step"] // world  # completions per rank per step
    mb = t["micro_batch_size"]
    # A cap on the completions per forward/backward. Equal micro-batches: the same peak memory
    # every micro-batch, and no step silently runs a remainder batch. A cap at or above a rank's
    # batch means the whole batch at once.
    if mb and mb < per_rank and per_rank % mb:
        raise ConfigError(
            f"config key 'trainer.micro_batch_size'={mb} must divide the completions per process, "
            f"grpo.group_size*grpo.questions_per_step/processes={g['group_size']}*{g['questions_per_step']}/"
            f"{world}={per_rank} (or be 0 = the whole step at once)"
        )


def _check_group(group: str, schema: type, node: Any) -> Any:
    if node is None:
        node = {}
    if not isinstance(node, dict):
        raise ConfigError(f"config key '{group}' must be a mapping, got {node!r}")
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), node)
        OmegaConf.to_object(merged)  # runs __post_init__ range checks
    except ConfigError as e:
        # Schema messages start with "field=value ...": name the full dotted key.
        msg = str(e)
        field, sep, rest = msg.partition("=")
        if sep and all(part.isidentifier() for part in field.split(".")):
            raise ConfigError(f"config key '{group}.{field}'={rest}") from e
        raise ConfigError(f"config key '{group}': {msg}") from e
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or "?"
        msg = str(getattr(e, "msg", e)).splitlines()[0]
        raise ConfigError(f"config key '{group}.{key}': {msg}") from e
    return OmegaConf.to_container(merged)

