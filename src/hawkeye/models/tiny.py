"""Tiny random-weight models for tests and the `smoke` experiment, built on the fly.

A spec such as ``tiny:qwen2?seed=0&layers=2`` names one deterministic model: a byte-level BPE
tokenizer trained with `tokenizers` on a small built-in corpus (so any text encodes), a ChatML
chat template, and a Qwen2-shaped config with random weights from `seed`. It is saved as a
normal HF folder (safetensors), so HF `generate` and vLLM load it like a real model.

Random weights at the usual 0.02 scale give a near-uniform next-token distribution: greedy output
is one token repeated, and EOS (1 of 512 tokens) almost never comes, so every CoT hits the cap,
every group of rollouts has the same length and reward, and GRPO has nothing to learn from. So by
default the weights are drawn at a larger scale (`std`, in hundredths: 30 = 0.3), which makes the
output vary with the context, and a "stop channel" gives EOS a context-dependent logit boost
(`eos`; 0 turns it off), so that some CoTs end on EOS after a few tokens and others run to the cap.
`std=2&eos=0` is the plain HF initialisation.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import parse_qsl

from hawkeye.models.chat_template import CHAT_TEMPLATE, SPECIALS

# `think=1`: an R1-style reasoning model. `<think>`/`</think>` are special tokens and the chat template
# opens the think span at the start of the assistant turn, as DeepSeek-R1's does.
THINK_SPECIALS = ["<think>", "</think>"]
THINK_CHAT_TEMPLATE = CHAT_TEMPLATE.replace("'<|im_start|>assistant\n'", "'<|im_start|>assistant\n<think>\n'")
DEFAULTS = {"seed": 0, "layers": 2, "hidden": 128, "heads": 2, "kv_heads": 1, "vocab": 512, "std": 30, "eos": 7,
            "think": 0}
# Bumped whenever the weights a spec names change, so a cached folder of an older build is not reused.
BUILD_VERSION = 2
STOP_CHANNEL_GAIN = 40.0
CORPUS_WORDS = (
    "the a an of to and is are was were has have had he she they it we you question answer "
    "how many much total each per more less than twice half sum product difference left "
    "apples books dollars hours minutes days cost buy sells gives takes first then so "
    "therefore step compute multiply divide add subtract equals final boxed solution reasoning "
    "wait okay hmm alright let us see think"
).split()


def parse_spec(spec: str) -> tuple[str, dict[str, int]]:
    body = spec.removeprefix("tiny:")
    arch, _, query = body.partition("?")
    params = dict(DEFAULTS)
    for key, value in parse_qsl(query):
        if key not in DEFAULTS:
            raise ValueError(f"unknown tiny-model option {key!r} in {spec!r} (known: {sorted(DEFAULTS)})")
        params[key] = int(value)
    if arch != "qwen2":
        raise ValueError(f"unknown tiny-model architecture {arch!r} in {spec!r} (known: qwen2)")
    return arch, params


def _corpus() -> list[str]:
    lines = [" ".join(CORPUS_WORDS)]
    for i in range(200):
        a, b = i * 7 % 97, i * 13 % 89
        lines.append(f"{a} + {b} = {a + b}. {a} * {b} = {a * b}. The answer is \\boxed{{{a + b}}}. #### {a - b}")
    return lines


def build_tiny_model(out_dir: str | os.PathLike[str], spec: str = "tiny:qwen2") -> Path:
    """Write a tiny model folder for `spec` into `out_dir` and return it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    _, p = parse_spec(spec)
    out = Path(out_dir)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=p["vocab"],
        special_tokens=SPECIALS + (THINK_SPECIALS if p["think"] else []),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
    )
    fast.chat_template = THINK_CHAT_TEMPLATE if p["think"] else CHAT_TEMPLATE
    fast.save_pretrained(out)

    torch.manual_seed(p["seed"])
    config = Qwen2Config(
        vocab_size=len(fast),
        hidden_size=p["hidden"],
        intermediate_size=2 * p["hidden"],
        num_hidden_layers=p["layers"],
        num_attention_heads=p["heads"],
        num_key_value_heads=p["kv_heads"],
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        eos_token_id=fast.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=fast.convert_tokens_to_ids("<|endoftext|>"),
        bos_token_id=None,
        initializer_range=p["std"] / 100,
        dtype="float32",
    )
    model = Qwen2ForCausalLM(config)
    if p["eos"]:
        add_stop_channel(model, config.eos_token_id, float(p["eos"]))
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.pad_token_id = config.pad_token_id
    model.save_pretrained(out, safe_serialization=True)
    (out / "hawkeye_source.json").write_text(json.dumps({"spec": spec, "params": p}, indent=2))
    return out


def add_stop_channel(model: object, eos_id: int, strength: float) -> None:
    """Give EOS a logit boost that varies with the context, through hidden dimension 0.

    Every token embeds 1 there (EOS embeds 1 + strength) and no layer writes to it, so the residual
    stream carries a constant; the final norm multiplies it by STOP_CHANNEL_GAIN / rms(h). With
    tied embeddings, every token's logit gains the same amount from it (softmax ignores that)
    except EOS, whose logit gains `strength` times more. The boost shrinks where the hidden state is
    large, so some contexts stop early and others run on: varied CoT lengths, as GRPO needs.
    """
    import torch

    with torch.no_grad():
        emb = model.get_input_embeddings().weight
        emb[:, 0] = 1.0
        emb[eos_id, 0] = 1.0 + strength
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight[0].zero_()
            layer.mlp.down_proj.weight[0].zero_()
        model.model.norm.weight[0] = STOP_CHANNEL_GAIN


def ensure_tiny_model(spec: str, cache_dir: str | os.PathLike[str]) -> Path:
    """Build the model for `spec` once into `cache_dir` (atomically; safe across processes)."""
    parse_spec(spec)  # fail early on a bad spec
    key = hashlib.sha256(f"v{BUILD_VERSION}:{spec}".encode()).hexdigest()[:12]
    target = Path(cache_dir) / key
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=target.parent))
    try:
        build_tiny_model(tmp, spec)
        try:
            os.rename(tmp, target)
        except OSError:  # another process won the race: keep theirs
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
