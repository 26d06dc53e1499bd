"""`vllm bench serve` against `hawkeye.serve` and against a plain vLLM server of A: TTFT side by side.

    python bench/serve_ttft.py                                  # the testbed's models (after `dvc repro`)
    python bench/serve_ttft.py --rounds 3 --num-prompts 200 paths.models_dir=/data/models
    python bench/serve_ttft.py experiment=paper_gsm8k           # on a GPU box

Starts the vLLM servers of the served A and B (`selection.resolve_served`, the engine
arguments of `rollout.vllm`) and `python -m hawkeye.serve` over them, then runs vLLM's own serving
benchmark (`python -m hawkeye.bench_serve`, chat API, random prompts, greedy) against the A server
alone and against hawkeye.serve, in alternating rounds at the same concurrency, so a busy machine
slows both alike. Prints each round's TTFT median, failed requests and the hawkeye/plain TTFT
ratio (median over rounds). Against hawkeye.serve the first chunk is A's first CoT token, so the
ratio is what the A → B front adds to A's own first token.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hawkeye.paths import resolve


def bench(url: str, model: str, tokenizer: str, out: Path, name: str, a: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "hawkeye.bench_serve", "--backend", "openai-chat", "--endpoint",
           "/v1/chat/completions", "--base-url", url, "--model", model, "--tokenizer", tokenizer,
           "--dataset-name", "random", "--random-input-len", str(a.input_len), "--random-output-len",
           str(a.output_len), "--num-prompts", str(a.num_prompts), "--max-concurrency", str(a.concurrency),
           "--temperature", "0", "--seed", "0", "--save-result", "--result-dir", str(out), "--result-filename", name]
    env = dict(os.environ, PYTHONPATH=str(resolve("src")), HF_HUB_OFFLINE="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"vllm bench serve failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads((out / name).read_text())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("overrides", nargs="*", help="Hydra overrides (default experiment: the testbed)")
    p.add_argument("--concurrency", type=int, default=10)
    p.add_argument("--num-prompts", type=int, default=100)
    p.add_argument("--input-len", type=int, default=32)
    p.add_argument("--output-len", type=int, default=96)
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds (plain A, hawkeye.serve) after a warm-up")
    a = p.parse_intermixed_args()

    from hydra import compose, initialize_config_dir

    import hawkeye.runtime
    from hawkeye.paths import CONF_DIR
    from hawkeye.process import free_port
    from hawkeye.selection import resolve_served
    from hawkeye.serving.endpoints import start_endpoints
    from hawkeye.serving.servers import ServerProcess, running

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hawkeye.runtime.start(compose(config_name="config", overrides=a.overrides), check_tracking=False)
    served = resolve_served(cfg)
    models = {role: served.models[role] for role in ("hawkeye_a", "responder")}
    out = Path(tempfile.mkdtemp(prefix="serve-ttft-"))
    with contextlib.ExitStack() as stack:
        eps = start_endpoints(models, {}, cfg.rollout.vllm, str(cfg.serving.host), out / "logs", stack,
                              float(cfg.serving.server_start_timeout_s), seed=int(cfg.seed), cores=cfg.serving.server_cores)
        port = free_port(str(cfg.serving.host))
        front = ServerProcess([sys.executable, "-m", "hawkeye.serve", *a.overrides, "--policy-url",
                               eps["hawkeye_a"].base_url, "--responder-url", eps["responder"].base_url,
                               "--host", str(cfg.serving.host), "--port", str(port)],
                              f"http://{cfg.serving.host}:{port}", out / "logs" / "hawkeye-serve.log",
                              env=dict(os.environ, PYTHONPATH=str(resolve("src"))), name="hawkeye.serve")
        stack.enter_context(running([front], float(cfg.serving.server_start_timeout_s)))
        tok = models["hawkeye_a"].path
        targets = {"plain A": (eps["hawkeye_a"].base_url, eps["hawkeye_a"].model), "hawkeye.serve": (front.base_url,
                                                                                                     "hawkeye")}
        for url, model in targets.values():  # warm-up: first-request allocations outside the rounds
            bench(url, model, tok, out, "warmup.json", argparse.Namespace(**{**vars(a), "num_prompts": 10}))
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
        for r in range(a.rounds):
            for name, (url, model) in targets.items():
                res = bench(url, model, tok, out, f"{name.replace(' ', '_')}-{r}.json", a)
                rounds[name].append(res)
                print(f"round {r + 1} {name}: TTFT median {res['median_ttft_ms']:.1f} ms, "
                      f"{res['completed']} completed, {res['failed']} failed, {res['request_throughput']:.1f} req/s",
                      file=sys.stderr, flush=True)
    ratios = [h["median_ttft_ms"] / p["median_ttft_ms"] for p, h in zip(rounds["plain A"], rounds["hawkeye.serve"],
                                                                         strict=True)]
    summary = {"concurrency": a.concurrency, "num_prompts": a.num_prompts, "input_len": a.input_len,
               "output_len": a.output_len, "load_average": os.getloadavg(),
               **{name: {"median_ttft_ms": [round(x["median_ttft_ms"], 1) for x in rs],
                         "p99_ttft_ms": [round(x["p99_ttft_ms"], 1) for x in rs],
                         "failed": [x["failed"] for x in rs], "completed": [x["completed"] for x in rs],
                         "mean_output_tokens": [round(x["total_output_tokens"] / max(x["completed"], 1), 1)
                                                for x in rs]}
                  for name, rs in rounds.items()},
               "ttft_ratio_rounds": [round(x, 2) for x in ratios],
               "ttft_ratio_hawkeye_over_plain": round(statistics.median(ratios), 2)}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
