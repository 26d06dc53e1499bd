"""Shared fixtures: tiny models built once per session, composed configs, an isolated MLflow store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from hydra import compose, initialize_config_dir  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from hawkeye.paths import CONF_DIR  # noqa: E402


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models_dir in which `tiny:qwen2?seed=0` (A) and `?seed=1` (B) are built once."""
    from hawkeye.models.load import resolve_model_path

    d = tmp_path_factory.mktemp("models")
    for spec in ("tiny:qwen2?seed=0", "tiny:qwen2?seed=1"):
        resolve_model_path(spec, str(d))
    return d


@pytest.fixture()
def mlflow_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def compose_config(overrides: list[str] | None = None) -> DictConfig:
    """The config a stage would see for `overrides` (Hydra's compose API, no app run)."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides or [])


@pytest.fixture()
def smoke_overrides(tmp_path: Path, tiny_models_dir: Path) -> list[str]:
    """experiment=smoke with every output redirected into tmp_path."""
    return [
        "experiment=smoke",
        f"paths.models_dir={tiny_models_dir}",
        f"paths.prepared_dir={tmp_path / 'prepared'}",
        f"paths.curated_dir={tmp_path / 'curated'}",
        f"paths.train_dir={tmp_path / 'train'}",
        f"paths.eval_dir={tmp_path / 'eval'}",
        f"paths.reports_dir={tmp_path / 'reports'}",
    ]


@pytest.fixture()
def live_server() -> Any:
    """Serve ASGI apps with uvicorn on a real socket (a thread each); returns `start(app) -> base URL`."""
    import threading
    import time

    import uvicorn

    from hawkeye.process import free_port

    started: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(app: Any) -> str:
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        started.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in started:
        server.should_exit = True
        thread.join(timeout=10)
