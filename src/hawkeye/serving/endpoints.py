"""The vLLM servers behind the roles (baseline_a, hawkeye_a, responder): given by URL, or started here.

Shared by the evaluate stage (which times all three roles) and `hawkeye.serve` (which serves
hawkeye_a → responder), so both run the same engines with the same arguments (`rollout.vllm`).
One server per distinct model: the base A doubles as the timed A when no trained A exists. A
server given by URL for the timed A never stands in for the Baseline (a trained A must never be
timed as the base A).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from hawkeye.cot import cot_stop_token_ids
from hawkeye.models.resolve import Model
from hawkeye.serving.chat_models import RemoteChatModel
from hawkeye.serving.servers import ServerProcess, running, vllm_server

ROLE_NAMES = {"baseline_a": "Model A (base)", "hawkeye_a": "Model A", "responder": "Model B"}


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    model: str | None                     # the name the server answers to; None: asked at its first request
    server: ServerProcess | None = None   # started here (its processes can be measured); None: given by URL


def start_endpoints(models: Mapping[str, Model], urls: Mapping[str, str | None], vllm_cfg: Any, host: str,
                    log_dir: str | os.PathLike[str], stack: contextlib.ExitStack, start_timeout_s: float,
                    seed: int = 0, cores: Mapping[str, Sequence[int] | None] | None = None,
                    engine_timings: bool = True, names_now: bool = True) -> dict[str, Endpoint]:
    """An endpoint per role of `models`: its URL when given, else a vLLM server started now (servers of
    distinct models start together and are torn down by `stack`). `cores` pins a role's server to
    those CPU cores (a model shared by two roles runs on the first role's). `names_now=False`: a
    server given by URL is asked its model's name at its first request instead of now, so one that
    is down or stuck does not stop the caller from starting (`hawkeye.serve`)."""
    urls = dict(urls)
    if ("baseline_a" in models and "hawkeye_a" in models and not urls.get("baseline_a")
            and models["baseline_a"].path == models["hawkeye_a"].path):
        urls["baseline_a"] = urls.get("hawkeye_a")
    endpoints: dict[str, Endpoint] = {}
    to_start: dict[str, ServerProcess] = {}  # one server per distinct model path
    for role, model in models.items():
        if urls.get(role):
            url = str(urls[role])
            endpoints[role] = Endpoint(url, served_model(url) if names_now else None)
        elif model.path not in to_start:
            to_start[model.path] = vllm_server(model.path, role.replace("_", "-"), host, log_dir, vllm_cfg,
                                               model_cfg=model.cfg, seed=seed, cores=(cores or {}).get(role),
                                               engine_timings=engine_timings)
    if to_start:
        stack.enter_context(running(list(to_start.values()), start_timeout_s))
    for role, model in models.items():
        if role not in endpoints:
            server = to_start[model.path]
            endpoints[role] = Endpoint(server.base_url, server.served_name, server)
    return endpoints


def served_model(base_url: str) -> str:
    r = httpx.get(base_url.rstrip("/") + "/v1/models", timeout=10)
    r.raise_for_status()
    return str(r.json()["data"][0]["id"])


def role_stop_token_ids(role: str, model: Model, policy_cfg: Any) -> tuple[int, ...]:
    """The extra stop ids of a served role: Hawkeye's A stops at `policy.think_end` (its CoT ends
    there and B answers); the base A answers in full (Baseline) and B stops at EOS alone."""
    return cot_stop_token_ids(policy_cfg, model.tokenizer) if role == "hawkeye_a" else ()


def chat_model(role: str, endpoint: Endpoint, model: Model, policy_cfg: Any, timeout_s: float) -> RemoteChatModel:
    """The role's model on its endpoint, prompted as the offline backends prompt it (token ids from
    its own tokenizer), stopping where `role_stop_token_ids` says."""
    return RemoteChatModel(endpoint.base_url, endpoint.model, tokenizer=model.tokenizer,
                           stop_token_ids=role_stop_token_ids(role, model, policy_cfg), timeout_s=timeout_s,
                           name=ROLE_NAMES[role])

