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

from hawkeye.serving.app import build_app
from hawkeye.serving.from_config import ENGINES, pipeline_from_config


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


if __name__ == "__main__":
    main()
