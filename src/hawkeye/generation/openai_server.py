"""A `GenerationBackend` over a running OpenAI-compatible vLLM server (`/v1/completions`).

Lets the evaluation's quality part reuse the servers its latency part starts anyway, instead of paying for a
second vLLM engine start (25-60 s each on 2 CPU cores). Prompts are sent as token ids from the
model's own tokenizer (`add_special_tokens=False`), as the offline backends tokenize them, and
decoding is greedy, so results match `vllm.LLM` with the same model.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from hawkeye.generation.base import Generation, SamplingParams


class OpenAIServerBackend:
    def __init__(self, base_url: str, model: str, tokenizer: Any, timeout_s: float = 600.0, parallel: int = 8) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.tokenizer = tokenizer
        self.timeout_s = timeout_s
        self.parallel = parallel  # requests in flight: the server batches them (continuous batching)

    def generate(self, prompts: list[str], params: SamplingParams) -> list[Generation]:
        ids = [self.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        with httpx.Client(timeout=self.timeout_s) as client, ThreadPoolExecutor(self.parallel) as pool:
            return list(pool.map(lambda p: self._one(client, p, params), ids))

    def _one(self, client: httpx.Client, prompt_ids: list[int], params: SamplingParams) -> Generation:
        payload = {
            "model": self.model, "prompt": prompt_ids, "max_tokens": params.max_new_tokens,
            "temperature": params.temperature, "top_p": params.top_p, "seed": params.seed,
            "return_token_ids": True,
        }
        r = client.post(self.base_url + "/v1/completions", json=payload)
        if r.status_code != 200:
            raise RuntimeError(f"HTTP {r.status_code} from {self.base_url}/v1/completions: {r.text[:300]}")
        choice = r.json()["choices"][0]
        return Generation(
            text=choice["text"],
            token_ids=list(choice.get("token_ids") or []),
            prompt_token_ids=prompt_ids,
            finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
        )

    def close(self) -> None:
        pass
