"""The generation backend the quality part of the evaluate stage writes with, per model."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from omegaconf import DictConfig

from hawkeye.generation import make_backend
from hawkeye.generation.base import GenerationBackend
from hawkeye.generation.openai_server import OpenAIServerBackend
from hawkeye.models.resolve import Model
from hawkeye.serving.endpoints import Endpoint
from hawkeye.serving.servers import running, vllm_server


@contextlib.contextmanager
def open_backend(cfg: DictConfig, model: Model, served: dict[str, Endpoint],
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
            server = vllm_server(model.path, model.role.replace("/", "-").replace("_", "-"), cfg.serving.host, log_dir,
                                 cfg.rollout.vllm, model_cfg=model.cfg, seed=int(cfg.seed))
            stack.enter_context(running([server], float(cfg.serving.server_start_timeout_s)))
            ep = Endpoint(server.base_url, server.served_name, server)
        yield OpenAIServerBackend(ep.base_url, ep.model, model.tokenizer, timeout_s=float(ev.request_timeout_s))
