"""`python -m hawkeye.serve`: the A → B pipeline as one OpenAI-compatible chat endpoint.

    # vLLM engines for A and B, started here from the config (torn down on exit)
    python -m hawkeye.serve experiment=testbed --port 8000
    # running vLLM servers for A and B (e.g. on other machines)
    python -m hawkeye.serve --policy-url http://127.0.0.1:8001 --responder-url http://127.0.0.1:8002
    # in-process HF generate (tiny models, tests)
    python -m hawkeye.serve experiment=smoke --engine hf

The models are the ones the evaluate stage times (`selection.resolve_served`): the trained A
of `eval.latency_arm` (else the base A), B, and the `answer_leak` that A trained under; the token
caps are `selection.token_caps`. A's CoT stops at `policy.think_end`. `--timeout-s` bounds
every wait on A or B (connect, first byte, each gap between chunks): past it the client gets a 504
error body. A model given by URL that is down or stuck at start does not stop it: it serves,
`/health` names that model, and requests succeed once the model answers. The API is in
`serving.app` and `serving.protocol`.
"""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

from hawkeye.serving.app import build_app
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
    # The servers' host, start timeout and cores are the `eval` keys on purpose: the evaluate stage times
    # these same engines (`serving.endpoints`), so serving and its measurement cannot drift apart.
    endpoints = start_endpoints({r: models[r] for r in remote}, urls, cfg.rollout.vllm, str(cfg.eval.host),
                                resolve(cfg.paths.runs_dir) / "serve" / "logs", stack,
                                float(cfg.eval.server_start_timeout_s), seed=int(cfg.seed),
                                cores=cfg.eval.server_cores, names_now=False)

    def make(role: str) -> ChatModel:
        m = models[role]
        if role in endpoints:
            return chat_model(role, endpoints[role], m, cfg.policy, timeout_s)
        stop = role_stop_token_ids(role, m, cfg.policy)  # a bad think_end fails before the weights load
        lm = load_causal_lm(m.path, str(m.cfg.dtype), bool(m.cfg.trust_remote_code))
        return LocalHFChatModel(lm.eval(), m.tokenizer, name=ROLE_NAMES[role], stop_token_ids=stop)

    return Pipeline(make("hawkeye_a"), make("responder"), *token_caps(cfg), answer_leak=served.answer_leak)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hawkeye.serve", description=__doc__.split("\n")[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. experiment=smoke policy=smollm2_135m")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--engine", choices=ENGINES, default="vllm",
                        help="what runs A and B when no URL is given: vLLM servers started here (default), or "
                             "in-process HF generate")
    parser.add_argument("--policy-url", help="a running OpenAI-compatible server of Model A (base URL)")
    parser.add_argument("--responder-url", help="a running OpenAI-compatible server of Model B (base URL)")
    parser.add_argument("--timeout-s", type=float, default=30.0,
                        help="longest wait on A or B for a byte (connect, first byte, between chunks) before the "
                             "client gets a 504 (default 30)")
    args = parser.parse_intermixed_args(argv)  # overrides before and after the flags, as Hydra apps take them
    if args.timeout_s <= 0:
        parser.error(f"--timeout-s={args.timeout_s} must be > 0")

    import uvicorn
    from hydra import compose, initialize_config_dir

    from hawkeye.config import validate
    from hawkeye.paths import CONF_DIR
    from hawkeye.serving.servers import check_port_free

    check_port_free(args.host, args.port, "hawkeye.serve")  # before any model loads or engine starts
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = validate(compose(config_name="config", overrides=args.overrides))
    with contextlib.ExitStack() as stack:
        pipeline = pipeline_from_config(cfg, stack, args.engine, args.policy_url, args.responder_url, args.timeout_s)
        # no access log: a line per request is work on the cores the engines share
        uvicorn.run(build_app(pipeline), host=args.host, port=args.port, log_level="info", access_log=False)

