"""What the CoT `c` is, and `len(c)`: the one home of both rules.

`len(c)` (`cot_length`) counts Model A's generated tokens without the stop token that ended them
(EOS, or a reasoning model's `think_end`); a CoT cut off at the token cap has no stop token. Training
(len(c)), curation (len(c_orig)), evaluation and the gate all count with it, and evaluation counts B's
answers the same way (`generated_length`, the rule under both names).

For a reasoning model that thinks before it answers:

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
from hawkeye.generation.base import Generation


def generated_length(gen: Generation) -> int:
    """The tokens a model generated, without the stop token that ended them: len(c) for A's CoT, and
    the length of B's answer, counted alike."""
    n = len(gen.token_ids)
    return n - 1 if gen.finish_reason == "stop" and n > 0 else n


def cot_length(gen: Generation) -> int:
    """len(c): the `generated_length` of A's CoT."""
    return generated_length(gen)


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


def think_span(gen: Generation, stop_ids: tuple[int, ...], tokenizer: Any) -> Generation:
    """`c` of a completion that was generated past `think_end` (evaluation writes one greedy
    completion per question: A alone needs its summary, A → B only the think span). The tokens up to
    and including the first `think_end`, as a Generation that stopped there: with greedy decoding it
    is exactly what a generation stopped at `think_end` returns. A completion that never closes the
    span (cut at the cap, or EOS first) is `c` as it is."""
    for k, token in enumerate(gen.token_ids):
        if token in stop_ids:
            return Generation(text=tokenizer.decode(gen.token_ids[:k], skip_special_tokens=True),
                              token_ids=list(gen.token_ids[:k + 1]), prompt_token_ids=gen.prompt_token_ids,
                              finish_reason="stop")
    return gen
