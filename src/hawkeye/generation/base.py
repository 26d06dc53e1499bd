"""The generation interface every stage uses (curation, the responder, rollouts, evaluation).

Prompts are chat-formatted strings (`hawkeye.prompts.render`), tokenized by the model's own
tokenizer with no extra special tokens, so both backends see identical prompt token ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class SamplingParams:
    max_new_tokens: int = 128
    temperature: float = 0.0      # 0 = greedy
    top_p: float = 1.0
    seed: int = 0                 # request i of a call samples with seed + i
    stop_token_ids: tuple[int, ...] = ()  # stop here as on EOS (e.g. `</think>`: hawkeye.cot)
    logprobs: bool = False        # vLLM: return each sampled token's logprob (Generation.logprobs)


@dataclass
class Generation:
    text: str                      # the new text only, never the prompt
    token_ids: list[int]           # the new tokens, without padding; ends with EOS if one was produced
    prompt_token_ids: list[int] = field(default_factory=list)
    finish_reason: str = "stop"    # "stop" (EOS or a stop token, kept last in token_ids) or "length"
    logprobs: list[float] | None = None  # per new token, when asked for and the backend provides them

    @property
    def num_tokens(self) -> int:
        return len(self.token_ids)


class GenerationBackend(Protocol):
    tokenizer: Any

    def generate(self, prompts: list[str], params: SamplingParams) -> list[Generation]:
        """One generation per prompt, in order. Repeat a prompt to sample a group."""
        ...

    def close(self) -> None: ...
