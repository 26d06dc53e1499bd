"""The prompts of the collaboration, in one place so every stage uses the same text.

- Model A (reasoning) gets the question and is asked to reason step by step. Its output is the
  chain of thought `c`. The same prompt makes `c_orig` (curation), the rollouts (training) and
  the Baseline (Full) row (evaluation), so lengths are comparable.
- Model B (responder) gets the question `q`, the CoT `c` and the instruction `s`, and writes the
  final answer. The answer is read from B's new tokens only. `responder_messages` wraps a CoT as
  given; what B reads of A's CoT under `reward.answer_leak` is `hawkeye.responder.reads.responder_prompt`,
  which training, evaluation, serving and the warm-start gate all call.
"""

from __future__ import annotations

from typing import Any

REASONING_INSTRUCTION = "Solve the problem step by step, then give the final answer in \\boxed{}."

# A told to skip the reasoning: the pre-flight gate's check that the CoT is needed at all.
DIRECT_INSTRUCTION = "Give only the final answer in \\boxed{}."

# The instruction prompt `s` of Algorithm 1.
RESPONDER_INSTRUCTION = (
    "The reasoning above was written to help you answer the question. Use it, check it, and "
    "write the final answer as \\boxed{{answer}}. So the answer is:"
)


def reasoning_messages(question: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"{question}\n\n{REASONING_INSTRUCTION}"}]


def direct_messages(question: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"{question}\n\n{DIRECT_INSTRUCTION}"}]


def responder_messages(question: str, cot: str) -> list[dict[str, str]]:
    """B's messages around `cot` exactly as given (no masking): use `responder_prompt` to build what
    B reads of A's CoT. Only the warm start's SFT views (`warmstart.examples`) build B's text here."""
    content = f"Question: {question}\n\nReasoning: {cot}\n\n{RESPONDER_INSTRUCTION.format()}"
    return [{"role": "user", "content": content}]


def render(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """Chat-format messages with the model's own template, ready for generation."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
