"""Schema of the `eval` config group."""

from __future__ import annotations

from dataclasses import dataclass, field

from hawkeye.errors import ConfigError


@dataclass
class EvalConfig:
    datasets: list[str] = field(default_factory=lambda: ["gsm8k_test", "aime"])
    max_rows: int = 10               # per dataset (0 = all)
    include_b_alone: bool = False    # the "B alone" floor
    # Which Model A to evaluate: null = the base policy; "auto" = the train stage's final checkpoint
    # if it exists; or a path to an HF folder.
    policy_checkpoint: str | None = "auto"
    # Serving latency (vLLM OpenAI-compatible servers).
    latency: bool = True
    concurrency: list[int] = field(default_factory=lambda: [10, 100])
    latency_requests: int = 0        # requests per concurrency level (0 = one per test question)
    request_timeout_s: float = 600.0
    server_start_timeout_s: float = 300.0
    host: str = "127.0.0.1"
    policy_url: str | None = None    # reuse running servers instead of starting them
    responder_url: str | None = None

    def __post_init__(self) -> None:
        if self.max_rows < 0 or self.latency_requests < 0:
            raise ConfigError("max_rows and latency_requests must be >= 0")
        for c in self.concurrency:
            if c < 1:
                raise ConfigError(f"concurrency={c} must be >= 1")
        if self.request_timeout_s <= 0:
            raise ConfigError("request_timeout_s must be > 0")
