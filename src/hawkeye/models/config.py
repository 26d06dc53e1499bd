"""Schema of the `policy` and `responder` config groups."""

from __future__ import annotations

from dataclasses import dataclass

from hawkeye.errors import ConfigError

DTYPES = ("float32", "bfloat16", "float16", "auto")


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

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype={self.dtype!r} must be one of {DTYPES}")
