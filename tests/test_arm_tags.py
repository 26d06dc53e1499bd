"""A training run's `arm` tag names what it trains: the report and the Pareto figure group runs by it."""

from __future__ import annotations

import itertools
import re

import pytest

from conftest import compose_config
from hawkeye.config import validate
from hawkeye.errors import ConfigError
from hawkeye.paths import REPO_ROOT
from hawkeye.training.arms import arm_config, run_arm, trained_arm


def _recipe(target: str) -> str:
    """The commands of a Makefile target, continuation lines joined."""
    text = (REPO_ROOT / "Makefile").read_text().replace("\\\n", " ")
    match = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", text, re.MULTILINE)
    assert match, f"no `{target}` target in the Makefile"
    return match.group(1)


def sweep_jobs() -> list[list[str]]:
    """The overrides of every job `make sweep` runs: each `src/train.py -m` line, its comma lists
    expanded as Hydra's basic sweeper does (the cartesian product)."""
    jobs = []
    for command in re.split(r"[;&]", _recipe("sweep")):
        words = command.split()
        if "src/train.py" not in words or "-m" not in words:
            continue
        overrides = [w for w in words[words.index("src/train.py") + 1:] if "=" in w]
        choices = [[f"{k}={v}" for v in values.split(",")] for k, values in (o.split("=", 1) for o in overrides)]
        jobs += [list(job) for job in itertools.product(*choices)]
    return jobs


def test_the_sweep_has_jobs_with_and_without_b() -> None:
    jobs = sweep_jobs()
    assert len(jobs) == 9  # lambda x alpha with B (3 x 2), lambda without B (3)
    assert sum("responder=none" in job for job in jobs) == 3


@pytest.mark.parametrize("job", sweep_jobs(), ids=lambda job: " ".join(job))
def test_a_sweep_job_is_tagged_with_what_it_trains(job: list[str]) -> None:
    cfg = validate(compose_config(job))
    if cfg.responder.name_or_path is None:
        assert run_arm(cfg) == "no_b"
    else:
        assert cfg.reward.answer_leak == "mask" and run_arm(cfg) == "b_mask"


@pytest.mark.parametrize("arm", ["b_mask", "no_b", "b_allow"])
def test_the_base_arms_are_named_by_what_they_train(arm: str) -> None:
    """The naming rule and conf/arms/default.yaml agree: an arm's overrides train what its name says."""
    cfg = validate(compose_config(["arms.run=[b_mask,no_b,b_allow]"]))
    assert trained_arm(arm_config(cfg, arm)) == arm


def test_an_arm_tag_that_names_another_setting_fails_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="'tracking.arm'=b_allow.*trains b_mask"):
        run_arm(validate(compose_config(["tracking.arm=b_allow"])))
    with pytest.raises(ConfigError, match="'tracking.arm'=b_mask"):
        run_arm(validate(compose_config(["tracking.arm=b_mask", "responder=none"])))
    # the train stage names its runs by arm: b_mask_short trains with B under mask
    assert run_arm(validate(compose_config(["tracking.arm=b_mask_short"]))) == "b_mask_short"
