"""The testbed's tokenizer: a real `tokenizers` BPE trained on the task's own text, with a chat template.

Digits are split one per token (so `len(c)` counts arithmetic the same way for every number, and a
model learns column arithmetic from the digits), words are byte-level BPE merges, and the ChatML
special tokens frame the messages exactly as for the packaged Qwen/SmolLM2 models. The corpus is
the generated problems plus the project's own prompt text (`hawkeye.prompts`), so every prompt the
pipeline renders encodes without unknown pieces.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hawkeye.models.chat_template import CHAT_TEMPLATE, SPECIALS


def train_tokenizer(texts: Iterable[str], vocab_size: int, out_dir: str | Path) -> Any:
    """Train the BPE on `texts`, save it with its chat template to `out_dir`, return the HF tokenizer."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    # One digit per piece, with its leading space (" 4", "5" for " 45"); words and punctuation as
    # GPT-2 splits them. ByteLevel then maps bytes without splitting again.
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r" ?\d| ?[A-Za-z]+| ?[^\sA-Za-z\d]+|\s+"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token=None, unk_token=None
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(str(out_dir))
    return fast
