"""Config validation: bad values and unknown keys fail at start, naming the key."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import compose_config
from hawkeye.config import validate
from hawkeye.errors import ConfigError
from hawkeye.paths import REPO_ROOT
from hawkeye.training.config import check_master_weights


@pytest.mark.parametrize("preset", ["smoke", "testbed", "packaged", "paper_gsm8k"])
def test_presets_validate(preset: str) -> None:
    cfg = validate(compose_config([f"experiment={preset}"]))
    assert "lam" not in cfg.reward and "alpha" not in cfg.reward  # λ, α: only the top-level keys
    check_master_weights(cfg)  # every preset trains: src/train.py refuses 16-bit master weights


@pytest.mark.parametrize("preset", ["smoke", "testbed", "packaged", "paper_gsm8k"])
def test_responder_none_removes_b_in_every_preset(preset: str) -> None:
    """`responder=none` is the no-B ablation on any preset: no preset may set B's model in its own
    body, which would override the group and keep B in the loop."""
    cfg = compose_config([f"experiment={preset}", "responder=none"])
    assert cfg.responder.name == "none" and cfg.responder.name_or_path is None


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("alpha=1.5", "alpha"),
        ("alpha=0", "alpha"),
        ("lambda=-1", "lambda"),
        ("grpo.group_size=1", "grpo.group_size"),
        ("grpo.loss_type=ppo", "grpo.loss_type"),
        ("reward.answer_leak=maybe", "reward.answer_leak"),
        ("eval.concurrency=[0]", "eval.concurrency"),
        ("rollout.backend=tgi", "rollout.backend"),
        ("+foo=1", "foo"),
        ("+grpo.foo=1", "grpo.foo"),
        ("seed=abc", "seed"),
    ],
)
def test_bad_config_names_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=f"'{key}'"):
        validate(compose_config(["experiment=smoke", override]))


def test_lambda_is_the_sweep_handle() -> None:
    cfg = validate(compose_config(["experiment=smoke", "lambda=0.5", "alpha=0.4"]))
    assert cfg["lambda"] == 0.5 and cfg.alpha == 0.4


@pytest.mark.parametrize("override", ["alpha=1.5", "lambda=-1", "+bogus=1", "bogus=1"])
def test_train_entry_point_fails_before_loading_models(override: str) -> None:
    """The real CLI: exits non-zero at once with the key in the message, no model loaded."""
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "src" / "train.py"), "experiment=smoke", override],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert proc.returncode != 0
    key = override.lstrip("+").split("=")[0]
    assert key in proc.stderr + proc.stdout
    assert "Loading weights" not in proc.stderr


@pytest.mark.parametrize("override", ["+reward.lam=0.7", "+reward.alpha=0.5"])
def test_reward_has_no_second_lambda_or_alpha(override: str) -> None:
    """λ and α have one name each, the top-level `lambda` and `alpha`: the reward group rejects copies."""
    with pytest.raises(ConfigError, match=f"'{override.lstrip('+').split('=')[0]}'"):
        validate(compose_config(["experiment=smoke", override]))
