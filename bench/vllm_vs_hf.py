"""vLLM vs HF `generate`: tokens/s on the same model, prompts and greedy settings, in one run.

    python bench/vllm_vs_hf.py                        # SmolLM2, 64 prompts x 64 tokens, 3 paired rounds
    python bench/vllm_vs_hf.py --threads 2 --profile  # both cores; then where each engine's time goes

Realistic batching: vLLM gets every prompt in one `generate()` call, so all requests are in flight
at once (continuous batching); HF `generate` runs them in static batches of `--hf-batch-size`, as
the project's HF backend does (`rollout.batch_size`). Both engines are loaded once, then timed in
alternating rounds (HF, vLLM, HF, vLLM, ...) so a busy, shared machine slows both alike; the
ratio reported is the median of the per-round ratios. Timing excludes model load / engine start
(reported separately). Both backends come from `hawkeye.generation`, so they tokenize
identically; the script also prints how many greedy completions agree token for token.

`--threads N` gives both engines the same N cores: torch threads for HF, and vLLM's OpenMP
binding (`VLLM_CPU_OMP_THREADS_BIND`; by default vLLM-CPU keeps one core for its scheduler
process, which on a 2-core machine leaves its model one thread). `--profile` (needs
`--in-process`) runs one more round of each under `torch.profiler` and prints the operators that
take the time, and the compute bound: the tokens/s the measured matmul speed of this CPU allows.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

from omegaconf import OmegaConf

from hawkeye.generation import SamplingParams, make_backend
from hawkeye.prompts import reasoning_messages, render

QUESTIONS = [
    "Tom has {a} apples and buys {b} more. How many apples does he have now?",
    "A book costs {a} dollars. How much do {b} books cost?",
    "Sara had {a} dollars and spent {b}. How many dollars are left?",
    "A train travels {a} km per hour for {b} hours. How far does it go?",
]


def prompts(n: int) -> list[str]:
    return [QUESTIONS[i % len(QUESTIONS)].format(a=7 + 3 * i, b=2 + i % 5) for i in range(n)]


def vllm_settings(args: argparse.Namespace) -> dict[str, Any]:
    """`rollout.vllm` for this run: the project's engine settings, with this bench's flags."""
    return {"gpu_memory_utilization": 0.3, "tensor_parallel_size": 1, "enforce_eager": not args.compile,
            "max_model_len": 1024, "cpu_kvcache_space_gib": args.kv_gib, "max_num_seqs": args.max_num_seqs,
            "cpu_worker_in_process": args.in_process}


def configure_vllm_env(args: argparse.Namespace) -> dict[str, str]:
    """Environment read by vLLM-CPU at engine start (set before the engine is built): the project's
    (`generation.vllm_args.engine_env`), plus this bench's thread binding."""
    from hawkeye.generation.vllm_args import engine_env

    env = engine_env(vllm_settings(args))
    if args.threads:
        env["VLLM_CPU_OMP_THREADS_BIND"] = f"0-{args.threads - 1}" if args.threads > 1 else "0"
        env["VLLM_CPU_NUM_OF_RESERVED_CPU"] = str(max(0, (os.cpu_count() or 1) - args.threads))
    os.environ.update(env)
    return env


def load(backend: str, args: argparse.Namespace) -> tuple[Any, float]:
    rollout = OmegaConf.create({"backend": backend, "batch_size": args.hf_batch_size, "vllm": vllm_settings(args)})
    model_cfg = {"name": args.model, "name_or_path": args.model, "dtype": args.dtype}
    t0 = time.perf_counter()
    if backend == "vllm":
        from vllm import LLM

        from hawkeye.generation.eos import eos_ids_of_folder
        from hawkeye.generation.vllm_backend import VLLMBackend, engine_kwargs
        from hawkeye.models.load import load_tokenizer

        knobs: dict[str, Any] = {}  # this bench's scheduler knobs, on top of the project's engine arguments
        if args.max_num_batched_tokens:
            knobs["max_num_batched_tokens"] = args.max_num_batched_tokens
        if args.no_chunked_prefill:
            knobs["enable_chunked_prefill"] = False
        llm = LLM(**engine_kwargs(model_cfg, rollout, args.model, seed=0, colocate=False), **knobs)
        tok = load_tokenizer(args.model)
        engine = VLLMBackend(llm, tok, eos_ids_of_folder(args.model, tok))
    else:
        import torch

        torch.set_num_threads(args.threads or 1)
        engine = make_backend(model_cfg, rollout)
    return engine, time.perf_counter() - t0


def timed(engine: Any, texts: list[str], params: SamplingParams) -> tuple[float, list[Any]]:
    t0 = time.perf_counter()
    gens = engine.generate(texts, params)
    return time.perf_counter() - t0, gens


def profile(engine: Any, texts: list[str], params: SamplingParams, top: int) -> dict[str, Any]:
    """One generate() under torch.profiler: wall time, time inside operators, and the top operators."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        wall, gens = timed(engine, texts, params)
    events = prof.key_averages()
    # Self times of every operator (the host-side run of each kernel); the rest of the wall time is
    # Python: scheduling, input preparation, sampling bookkeeping, HF's generation loop.
    op_us = sum(e.self_cpu_time_total for e in events)
    rows = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    return {"wall_s": round(wall, 2), "in_operators_s": round(op_us / 1e6, 2),
            "outside_operators_s": round(wall - op_us / 1e6, 2),
            "tokens": sum(g.num_tokens for g in gens),
            "top_operators": [{"op": e.key, "self_s": round(e.self_cpu_time_total / 1e6, 2), "calls": e.count}
                              for e in rows]}


def compute_bound(model_path: str, batch: int, threads: int) -> dict[str, float]:
    """Tokens/s at this CPU's measured fp32 matmul speed, counting 2 FLOPs per weight per token."""
    import torch
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(model_path)
    h, inter, layers, vocab = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers, cfg.vocab_size
    kv = cfg.num_key_value_heads * (h // cfg.num_attention_heads)
    weights = layers * (h * h * 2 + 2 * h * kv + 3 * h * inter) + vocab * h  # per-layer linears + lm head
    torch.set_num_threads(threads)
    x, w = torch.randn(batch, h), torch.randn(inter, h)
    for _ in range(3):
        torch.nn.functional.linear(x, w)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 2.0:
        torch.nn.functional.linear(x, w)
        n += 1
    gflops = 2 * batch * h * inter * n / (time.perf_counter() - t0) / 1e9
    return {"matmul_gflop_per_s": round(gflops, 1), "gflop_per_token": round(2 * weights / 1e9, 3),
            "bound_tokens_per_s": round(gflops * 1e9 / (2 * weights), 1), "matmul_rows": batch}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="models/smollm2-135m-instruct")
    p.add_argument("--n", type=int, default=64, help="prompts, all in flight at once in vLLM")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--hf-batch-size", type=int, default=16, help="HF generate's static batch (rollout.batch_size)")
    p.add_argument("--rounds", type=int, default=3, help="alternating timed rounds (HF, vLLM) after a warm-up")
    p.add_argument("--threads", type=int, default=0, help="cores for each engine (0: HF 1 thread, vLLM's own binding)")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--kv-gib", type=int, default=1, help="VLLM_CPU_KVCACHE_SPACE")
    p.add_argument("--max-num-seqs", type=int, default=256)
    p.add_argument("--max-num-batched-tokens", type=int, default=0, help="0: vLLM's default")
    p.add_argument("--no-chunked-prefill", action="store_true")
    p.add_argument("--compile", action="store_true", help="torch.compile (not enforce_eager)")
    p.add_argument("--in-process", action="store_true",
                   help="rollout.vllm.cpu_worker_in_process: engine and model in this process (needed by --profile)")
    p.add_argument("--profile", action="store_true", help="one more profiled round of each engine")
    p.add_argument("--only", choices=["hf", "vllm"], help="time one engine alone (tuning)")
    args = p.parse_args()
    if args.profile and not args.in_process:
        p.error("--profile needs --in-process (the profiler sees only this process)")

    env = configure_vllm_env(args)
    names = [args.only] if args.only else ["hf", "vllm"]
    engines, load_s = {}, {}
    for name in names:
        engines[name], load_s[name] = load(name, args)
    qs = prompts(args.n)
    texts = {name: [render(engines[name].tokenizer, reasoning_messages(q)) for q in qs] for name in names}
    params = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=0.0)
    for name in names:  # warm-up: first-call allocations outside the timing
        engines[name].generate(texts[name][:2], SamplingParams(max_new_tokens=4))
    rates: dict[str, list[float]] = {name: [] for name in names}
    ids: dict[str, list[list[int]]] = {}
    for _ in range(args.rounds):
        for name in names:
            seconds, gens = timed(engines[name], texts[name], params)
            rates[name].append(sum(g.num_tokens for g in gens) / seconds)
            ids[name] = [g.token_ids for g in gens]
            print(f"round {len(rates[name])} {name}: {rates[name][-1]:.1f} tokens/s, load {os.getloadavg()[0]:.1f}",
                  file=sys.stderr, flush=True)  # partial results survive a kill on a busy machine
    out: dict[str, Any] = {"model": args.model, "prompts": args.n, "max_new_tokens": args.max_new_tokens,
                           "hf_batch_size": args.hf_batch_size, "dtype": args.dtype, "threads": args.threads,
                           "vllm_env": env, "cpu_count": os.cpu_count(), "load_average": os.getloadavg()}
    for name in names:
        out[name] = {"load_s": round(load_s[name], 1), "tokens": sum(len(x) for x in ids[name]),
                     "tokens_per_s_rounds": [round(r, 1) for r in rates[name]],
                     "tokens_per_s": round(statistics.median(rates[name]), 1)}
    if not args.only:
        same = sum(a == b for a, b in zip(ids["hf"], ids["vllm"], strict=True))
        out["identical_greedy_outputs"] = f"{same}/{args.n}"
        ratios = [v / h for h, v in zip(rates["hf"], rates["vllm"], strict=True)]
        out["vllm_over_hf_rounds"] = [round(r, 2) for r in ratios]
        out["vllm_over_hf_tokens_per_s"] = round(statistics.median(ratios), 2)
    if args.profile:
        out["profile"] = {name: profile(engines[name], texts[name], params, top=12) for name in names}
        out["compute_bound"] = [compute_bound(args.model, b, args.threads or 1)
                                for b in sorted({args.hf_batch_size, args.n})]
    for engine in engines.values():
        engine.close()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
