"""vLLM vs HF `generate`: tokens/s on the same model, prompts and greedy settings, in one run.

    OMP_NUM_THREADS=1 python bench/vllm_vs_hf.py --model models/smollm2-135m-instruct --n 16 --max-new-tokens 64

Both backends come from `hawkeye.generation.make_backend`, so they tokenize identically. Timing
excludes model load / engine start (reported separately). Also prints how many greedy
completions agree token for token (fp32 kernels differ, so a few may diverge late).
"""

from __future__ import annotations

import argparse
import json
import time

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


def run(backend_name: str, model: str, questions: list[str], max_new_tokens: int, batch_size: int) -> dict:
    rollout = OmegaConf.create({"backend": backend_name, "batch_size": batch_size, "vllm": {
        "gpu_memory_utilization": 0.3, "tensor_parallel_size": 1, "enforce_eager": True, "max_model_len": 1024,
        "cpu_kvcache_space_gib": 1}})
    t0 = time.perf_counter()
    backend = make_backend({"name": model, "name_or_path": model, "dtype": "float32"}, rollout)
    load_s = time.perf_counter() - t0
    texts = [render(backend.tokenizer, reasoning_messages(q)) for q in questions]
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0)
    backend.generate(texts[:1], SamplingParams(max_new_tokens=4))  # warm-up
    t0 = time.perf_counter()
    gens = backend.generate(texts, params)
    gen_s = time.perf_counter() - t0
    backend.close()
    tokens = sum(g.num_tokens for g in gens)
    return {"backend": backend_name, "load_s": round(load_s, 1), "generate_s": round(gen_s, 2),
            "tokens": tokens, "tokens_per_s": round(tokens / gen_s, 2), "ids": [g.token_ids for g in gens]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="models/smollm2-135m-instruct")
    p.add_argument("--n", type=int, default=16, help="prompts (one batch)")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=16, help="HF generate batch size")
    args = p.parse_args()
    qs = prompts(args.n)
    hf = run("hf", args.model, qs, args.max_new_tokens, args.batch_size)
    vl = run("vllm", args.model, qs, args.max_new_tokens, args.batch_size)
    same = sum(a == b for a, b in zip(hf.pop("ids"), vl.pop("ids"), strict=True))
    print(json.dumps({"model": args.model, "prompts": args.n, "max_new_tokens": args.max_new_tokens,
                      "hf": hf, "vllm": vl, "identical_greedy_outputs": f"{same}/{args.n}",
                      "vllm_over_hf_tokens_per_s": round(vl["tokens_per_s"] / hf["tokens_per_s"], 2)}, indent=2))


if __name__ == "__main__":
    main()
