"""The token ids a generation stops on: the one home of that rule.

Every engine (HF `generate`, vLLM offline and behind a server, the in-process chat model of
`hawkeye.serve`) stops on the same ids, so their greedy outputs and `len(c)` agree: the model's
`generation_config.eos_token_id` (an id or a list), plus the tokenizer's `eos_token_id` (`eos_ids`),
plus the caller's extra stop ids, e.g. a reasoning model's `think_end` (`stop_ids`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def eos_ids(generation_config: Any, tokenizer: Any) -> list[int]:
    """generation_config's EOS ids (None: none), then the tokenizer's if it is not among them."""
    ids = getattr(generation_config, "eos_token_id", None) if generation_config is not None else None
    out = [ids] if isinstance(ids, int) else list(ids or [])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in out:
        out.append(tokenizer.eos_token_id)
    return out


def eos_ids_of_folder(path: str, tokenizer: Any) -> list[int]:
    """`eos_ids` for a model folder that is not loaded (a vLLM engine reads the weights itself)."""
    from transformers import GenerationConfig

    try:
        config = GenerationConfig.from_pretrained(path)
    except OSError:  # no generation_config.json
        config = None
    return eos_ids(config, tokenizer)


def stop_ids(eos: Sequence[int], extra: Iterable[int]) -> list[int]:
    """Every id a generation stops on: the EOS ids, then each extra stop id (e.g. `think_end`,
    `hawkeye.cot.cot_stop_token_ids`) that is not among them."""
    return [*eos, *(int(t) for t in extra if t not in eos)]
