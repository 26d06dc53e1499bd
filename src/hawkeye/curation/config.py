"""Schema of the `curate` config group."""

from __future__ import annotations

from dataclasses import dataclass

from hawkeye.errors import ConfigError

METHODS = ("rules", "llm")


@dataclass
class CurateConfig:
    method: str                      # how cot_orig is refined: deterministic rules, or an LLM teacher
    max_train_rows: int              # subset of the train split to curate (0 = all)
    max_val_rows: int                # subset of the validation split (data.val_split) to curate (0 = all)
    teacher: str | None              # llm method: a model path or hub id; null = the policy model
    teacher_max_new_tokens: int
    near_duplicate_threshold: float  # rules: sentence similarity that counts as a repeat

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"method={self.method!r} must be one of {METHODS}")
        for key in ("max_train_rows", "max_val_rows"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key}={getattr(self, key)} must be >= 0")
        if not 0 < self.near_duplicate_threshold <= 1:
            raise ConfigError("near_duplicate_threshold must be in (0, 1]")
