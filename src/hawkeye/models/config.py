"""Schema of the `policy` and `responder` config groups."""

from __future__ import annotations

from dataclasses import dataclass

from hawkeye.errors import ConfigError

DTYPES = ("float32", "bfloat16", "float16", "auto")


@dataclass
class ModelShape:
    """A model's size as its config.json gives it (HF's names in brackets), for the memory estimate
    (hawkeye.training.memory) before the model exists on this machine: a hub id not yet downloaded."""

    params: int        # every parameter, embeddings and an untied head included
    layers: int        # num_hidden_layers
    hidden: int        # hidden_size
    intermediate: int  # intermediate_size (the MLP)
    vocab: int         # vocab_size
    heads: int         # num_attention_heads
    kv_heads: int      # num_key_value_heads
    head_dim: int

    def __post_init__(self) -> None:
        for key, value in vars(self).items():
            if value < 1:
                raise ConfigError(f"shape.{key}={value} must be >= 1")


@dataclass
class ModelConfig:
    name: str
    # A local HF folder (e.g. models/qwen2.5-coder-0.5b-instruct) or a hub id.
    # null only for `responder=none` (the no-B ablation).
    name_or_path: str | None
    dtype: str
    trust_remote_code: bool
    # R1-style reasoning models: the token that ends the think span, e.g. "</think>". The CoT `c`
    # is then the think span (see hawkeye.cot). An optional key: a model without a think span leaves
    # it out (c is the whole completion), so its YAML never writes it as null.
    think_end: str | None = None
    # The model's size, declared for a hub id (read from config.json and the weights instead where
    # the folder is local). An optional key: a local or `tiny:` model leaves it out.
    shape: ModelShape | None = None

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype={self.dtype!r} must be one of {DTYPES}")
