"""Schema of the `serving` config group: how the vLLM servers start, for the evaluate stage's latency part
and `python -m hawkeye.serve` alike."""

from __future__ import annotations

import os
from dataclasses import dataclass

from hawkeye.errors import ConfigError

SERVER_ROLES = ("baseline_a", "hawkeye_a", "responder")


@dataclass
class ServingConfig:
    host: str
    server_start_timeout_s: float
    # CPU cores each role's vLLM server may run on (Linux affinity), e.g. {hawkeye_a: [0], responder: [1]};
    # a role not named runs on any core.
    server_cores: dict[str, list[int]]

    def __post_init__(self) -> None:
        if self.server_start_timeout_s <= 0:
            raise ConfigError(f"server_start_timeout_s={self.server_start_timeout_s} must be > 0")
        for role, cores in self.server_cores.items():
            if role not in SERVER_ROLES:
                raise ConfigError(f"server_cores: unknown role {role!r}; the roles are {SERVER_ROLES}")
            if not cores or any(not 0 <= c < (os.cpu_count() or 1) for c in cores):
                raise ConfigError(f"server_cores.{role}={list(cores)} must name cores 0..{(os.cpu_count() or 1) - 1}")
