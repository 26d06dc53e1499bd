"""The served A → B pipeline built from a config (`python -m hawkeye.serve`, `hawkeye/serve.py`, is its
command): the models the evaluate stage times, on vLLM servers started here, running servers given by
URL, or in-process HF generate."""

from __future__ import annotations

import contextlib
from typing import Any

from hawkeye.serving.chat_models import ChatModel, LocalHFChatModel
from hawkeye.serving.pipeline import Pipeline

ENGINES = ("vllm", "hf")


def pipeline_from_config(cfg: Any, stack: contextlib.ExitStack, engine: str = "vllm", policy_url: str | None = None,
                         responder_url: str | None = None, timeout_s: float = 30.0) -> Pipeline:
    """The served pipeline: a role given by URL uses that server; the others run on `engine` (vLLM
    servers started now, torn down by `stack`; or in-process HF models)."""
    from hawkeye.models.load import load_causal_lm
    from hawkeye.paths import resolve
    from hawkeye.selection import resolve_served, token_caps
    from hawkeye.serving.endpoints import ROLE_NAMES, chat_model, role_stop_token_ids, start_endpoints

    served = resolve_served(cfg)
    models = {role: served.models[role] for role in ("hawkeye_a", "responder")}
    urls = {"hawkeye_a": policy_url, "responder": responder_url}
    remote = {r for r in models if urls[r]} if engine == "hf" else set(models)
    # The `serving` keys: the evaluate stage times these same engines (`serving.endpoints`) with them.
    endpoints = start_endpoints({r: models[r] for r in remote}, urls, cfg.rollout.vllm, str(cfg.serving.host),
                                resolve(cfg.paths.runs_dir) / "serve" / "logs", stack,
                                float(cfg.serving.server_start_timeout_s), seed=int(cfg.seed),
                                cores=cfg.serving.server_cores, names_now=False)

    def make(role: str) -> ChatModel:
        m = models[role]
        if role in endpoints:
            return chat_model(role, endpoints[role], m, cfg.policy, timeout_s)
        stop = role_stop_token_ids(role, m, cfg.policy)  # a bad think_end fails before the weights load
        lm = load_causal_lm(m.path, str(m.cfg.dtype), bool(m.cfg.trust_remote_code))
        return LocalHFChatModel(lm.eval(), m.tokenizer, name=ROLE_NAMES[role], stop_token_ids=stop)

    return Pipeline(make("hawkeye_a"), make("responder"), *token_caps(cfg), answer_leak=served.answer_leak)
