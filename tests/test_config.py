"""Config validation: bad values and unknown keys fail at start, naming the key."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import compose_config
from hawkeye.config import validate
from hawkeye.errors import ConfigError
from hawkeye.paths import REPO_ROOT


@pytest.mark.parametrize("preset", ["smoke", "testbed", "packaged", "paper_gsm8k"])
def test_presets_validate(preset: str) -> None:
    cfg = validate(compose_config([f"experiment={preset}"]))
    assert cfg.reward.lam == cfg["lambda"] and cfg.reward.alpha == cfg.alpha


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
    assert cfg.reward.lam == 0.5 and cfg.reward.alpha == 0.4


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


def test_reward_lam_cannot_diverge_from_lambda() -> None:
    with pytest.raises(ConfigError, match="'reward.lam'"):
        validate(compose_config(["experiment=smoke", "reward.lam=0.7"]))
