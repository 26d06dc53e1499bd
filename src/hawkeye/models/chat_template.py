"""The ChatML framing of every model this project builds: its special tokens and chat template.

The tiny test models (`hawkeye.models.tiny`) and the testbed's trained tokenizer
(`hawkeye.warmstart.tokenizer`) both use it, so messages are framed exactly as for the packaged
Qwen/SmolLM2 models.
"""

from __future__ import annotations

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
