"""What the CoT `c` is for a reasoning model that thinks before it answers (one home for the rule).

An R1-style Model A writes `<think> … </think>` and then a summary that states the answer. For such a
policy (`policy.think_end: "</think>"`), `c` is the think span: the chat template opens it (R1's
template ends the generation prompt with `<think>\\n`), and generation stops at `think_end` exactly as
it stops at EOS. So the stop token is the last of `Generation.token_ids` and is left out of the text
(what Model B reads, `Generation.text`) and of `len(c)` (`cot_length` drops the stop token), and the
summary is never generated: B writes the answer instead. Without `think_end` (non-reasoning
policies) `c` is A's whole completion up to EOS.

`think_end` must be one token of the policy's tokenizer (it is an added special token in the R1
distills and Qwen3), so both backends stop on it by id, with no partial-string matching.
"""

from __future__ import annotations

from typing import Any

from hawkeye.errors import ConfigError


def cot_stop_token_ids(model_cfg: Any, tokenizer: Any) -> tuple[int, ...]:
    """The extra stop token ids that end `c` for this policy: `(id of think_end,)`, or `()`."""
    marker = model_cfg.get("think_end") if hasattr(model_cfg, "get") else None
    if not marker:
        return ()
    ids = tokenizer(marker, add_special_tokens=False)["input_ids"]
    if len(ids) != 1:
        raise ConfigError(
            f"config key 'policy.think_end'={marker!r} is {len(ids)} tokens {ids} in the policy's tokenizer; "
            "it must be a single token (the end-of-thinking special token of an R1-style model)"
        )
    return (int(ids[0]),)
