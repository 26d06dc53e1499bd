"""The ablation arms of the testbed: the same GRPO run with and without Model B, over several seeds.

Each (arm, seed) is one ordinary `src/train.py` run (its own MLflow run, tagged `arm`), composed from
this stage's own resolved config plus the arm's overrides, and written to
`${paths.train_dir}/<arm>/seed<seed>/`. Runs go `arms.jobs` at a time, one CPU core each, because a
tiny model's step is single-thread bound and two cores run two arms in the time of one.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hawkeye import runs
from hawkeye.errors import ConfigError, HawkeyeError
from hawkeye.paths import REPO_ROOT, resolve
from hawkeye.reward.config import LEAK_MODES


@dataclass
class ArmsConfig:
    """Schema of the `arms` config group: which runs the `train` stage makes."""

    arms: dict[str, list[str]]  # name -> train.py overrides
    run: list[str]              # which arms train
    seeds: list[int]
    jobs: int                   # runs side by side, one core each
    # The with-B arm the report holds against the compression target (and serving times as Hawkeye).
    default: str
    # Claim (1), per setting: [the arm with B, the arm without B that differs from it only in B].
    pairs: dict[str, list[str]]

    def __post_init__(self) -> None:
        if not self.arms:
            raise ConfigError("arms={} must name at least one arm")
        for name in self.run:
            if name not in self.arms:
                raise ConfigError(f"run={list(self.run)}: unknown arm {name!r} (defined: {sorted(self.arms)})")
        for name in self.arms:
            if not name.replace("_", "").isalnum():
                raise ConfigError(f"arms={name!r}: an arm name must be letters, digits and '_' (it names a folder)")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds={list(self.seeds)} must be a non-empty list of distinct seeds")
        if self.jobs < 1:
            raise ConfigError(f"jobs={self.jobs} must be >= 1")
        if self.default not in self.arms:
            raise ConfigError(f"default={self.default!r}: unknown arm (defined: {sorted(self.arms)})")
        for setting, pair in self.pairs.items():
            if len(pair) != 2 or any(a not in self.arms for a in pair):
                raise ConfigError(f"pairs.{setting}={list(pair)} must be [an arm with B, an arm without B], "
                                  f"both defined (defined: {sorted(self.arms)})")


class ArmError(HawkeyeError):
    """An arm's training run failed."""


def arm_config(cfg: Any, arm: str) -> Any:
    """The composed config with `arm`'s overrides applied (what that arm's runs train with)."""
    if arm not in cfg.arms.arms:
        raise ConfigError(f"config key 'arms.run': unknown arm {arm!r} (defined: {sorted(cfg.arms.arms)})")
    return OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(cfg.arms.arms[arm])))


def trains_with_b(cfg: Any) -> bool:
    """Whether Model B is in the reward loop: `responder=none` (no `name_or_path`) scores A alone."""
    return cfg.responder.get("name_or_path") is not None


def trained_arm(cfg: Any) -> str:
    """The arm a config trains, named by what B does: `no_b` without B, else `b_<reward.answer_leak>`
    (b_mask, b_allow, ...): the names of the base arms of conf/arms/default.yaml."""
    return f"b_{cfg.reward.answer_leak}" if trains_with_b(cfg) else "no_b"


def run_arm(cfg: Any) -> str:
    """The `arm` tag of a training run. A run the train stage starts carries its arm's name
    (`tracking.arm`, e.g. b_mask_short); any other run, a sweep's included, is named by what it trains.
    A given name must agree with what this config trains, so no tag claims a setting the run did not use:
    a name of the rule's (no_b, b_<answer_leak>) is the rule's; a defined arm's overrides train the same."""
    trained = trained_arm(cfg)
    arm = cfg.tracking.get("arm")
    if arm is None:
        return trained
    if arm in {"no_b", *(f"b_{mode}" for mode in LEAK_MODES)}:
        claimed = str(arm)
    elif arm in cfg.arms.arms:
        claimed = trained_arm(arm_config(cfg, arm))
    else:
        return str(arm)
    if claimed != trained:
        raise ConfigError(f"config key 'tracking.arm'={arm} names an arm that trains {claimed}, but this config "
                          f"trains {trained} (leave tracking.arm unset: the tag is then derived)")
    return str(arm)


def reading_rules(cfg: Any) -> list[str]:
    """The rules (`reward.answer_leak`) Model B reads A's CoT by in the arms that train with B."""
    rules = []
    for arm in cfg.arms.run:
        arm_cfg = arm_config(cfg, arm)
        if trains_with_b(arm_cfg) and arm_cfg.reward.answer_leak not in rules:
            rules.append(str(arm_cfg.reward.answer_leak))
    return rules


def jobs(cfg: Any) -> list[tuple[str, int, list[str]]]:
    """(arm, seed, overrides) of every run, arms in config order, seeds inner."""
    out = []
    for arm in cfg.arms.run:
        overrides = cfg.arms.arms[arm]
        for seed in cfg.arms.seeds:
            # as configured (relative to the repository root, where every run starts), so the run's
            # config.json names no folder of this machine
            run_dir = runs.arm_dir(cfg.paths.train_dir, arm, seed)
            extra = [f"seed={seed}", f"paths.train_dir={run_dir}", f"tracking.arm={arm}"]
            out.append((arm, int(seed), list(overrides) + extra))
    return out


def _log_path(cfg: Any, arm: str, seed: int) -> Path:
    """Where a run's output goes: beside its results, but not one of them (`.dvcignore`)."""
    return runs.arm_dir(resolve(cfg.paths.train_dir), arm, seed) / runs.TRAIN_LOG


def train_command(config_dir: Path, overrides: list[str]) -> list[str]:
    """One run's command line: `src/train.py` on this stage's config plus the run's overrides."""
    return [sys.executable, str(REPO_ROOT / "src" / "train.py"), "--config-dir", str(config_dir),
            "--config-name", "arms_base", *overrides, "trainer.num_threads=1"]


class _InFlight:
    """One stage's runs: a flag that keeps queued runs from starting once a run failed or the stage was
    stopped, and the runs in flight, so that a stop (Ctrl-C, SIGTERM) ends them with this process rather
    than leaving them to train on."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self._live: set[subprocess.Popen] = set()
        self._lock = threading.Lock()

    def run(self, cmd: list[str], log: Any, env: dict[str, str]) -> int | None:
        """`cmd`'s exit code, or None when the stage stopped before it could start."""
        with self._lock:  # a stop either sees this run in flight or keeps it from starting
            if self.stop.is_set():
                return None
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT)
            self._live.add(proc)
        try:
            return proc.wait()
        finally:
            with self._lock:
                self._live.discard(proc)

    def end(self, grace_s: float = 30.0) -> None:
        """Start nothing more; SIGTERM every run in flight (train.py keeps its last checkpoint and marks its
        MLflow run killed), then SIGKILL what is still running after `grace_s`."""
        with self._lock:
            self.stop.set()
            live = list(self._live)
        for proc in live:
            proc.terminate()
        deadline = time.monotonic() + grace_s
        for proc in live:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()


def _run_one(config_dir: Path, arm: str, seed: int, overrides: list[str], log_path: Path, flight: _InFlight) -> float:
    if flight.stop.is_set():  # a run failed, or the stage was stopped: what is queued does not start
        return math.nan
    start = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"[train] {arm} seed {seed}: started (log {log_path})", flush=True)
    with open(log_path, "w") as log:
        rc = flight.run(train_command(config_dir, overrides), log, env)
    if rc is None:
        return math.nan
    seconds = time.perf_counter() - start
    if rc != 0:
        flight.stop.set()
        tail = "".join(log_path.read_text().splitlines(keepends=True)[-15:])
        print(f"[train] {arm} seed {seed}: FAILED (exit {rc}) after {seconds:.0f} s", flush=True)
        raise ArmError(f"arm {arm} seed {seed} failed (exit {rc}); log {log_path}:\n{tail}")
    print(f"[train] {arm} seed {seed}: finished in {seconds:.0f} s", flush=True)
    return seconds


def run_arms(cfg: DictConfig) -> dict[str, Any]:
    """Train every (arm, seed); return {arm: {seed: seconds}}. The first failure is raised after the
    runs in flight finish (their logs name the arm and seed); the runs still queued never start. A stop
    (Ctrl-C, SIGTERM) ends the runs in flight too."""
    base = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(base, dict)
    base.pop("experiment", None)  # already applied; `experiment` is not a config group of a flat file
    timings: dict[str, dict[int, float]] = {}
    with tempfile.TemporaryDirectory(prefix="arms-") as tmp:
        OmegaConf.save(OmegaConf.create(base), Path(tmp) / "arms_base.yaml")
        pool, flight = ThreadPoolExecutor(max_workers=int(cfg.arms.jobs)), _InFlight()
        try:
            futures = {(arm, seed): pool.submit(_run_one, Path(tmp), arm, seed, overrides,
                                                _log_path(cfg, arm, seed), flight)
                       for arm, seed, overrides in jobs(cfg)}
            for (arm, seed), future in futures.items():
                timings.setdefault(arm, {})[seed] = future.result()
        except KeyboardInterrupt:
            flight.end()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return timings
