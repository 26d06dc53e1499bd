"""Latency arithmetic: per-request timings from a token stream, then percentiles over requests.

Definitions (all times in seconds, from `time.perf_counter`):
- time per request (e2e): last token received − request sent. For Hawkeye (Full) the request is
  the whole pipeline: from sending A's request to B's last token.
- TTFT: first token received − request sent.
- TBT (time between tokens): the mean gap between consecutive streamed tokens,
  (t_last − t_first) / (tokens − 1), summed over the streams of a request. The hand-off gap
  between A's last token and B's first token is not a between-token gap (it is in e2e).
- A request that errors or times out is counted as failed; it is never dropped, and it adds
  nothing to the timing statistics (which describe served requests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

PERCENTILES = (50, 90, 99)


@dataclass
class Stream:
    """The timestamps of one streamed completion: one entry per chunk, with its token count."""

    t_sent: float
    chunk_times: list[float] = field(default_factory=list)
    chunk_tokens: list[int] = field(default_factory=list)
    text: str = ""

    def add(self, t: float, n_tokens: int, text: str = "") -> None:
        if n_tokens > 0:
            self.chunk_times.append(t)
            self.chunk_tokens.append(n_tokens)
        self.text += text

    @property
    def num_tokens(self) -> int:
        return sum(self.chunk_tokens)

    @property
    def gap_sum(self) -> float:
        """Time between the first and the last token (0 for under two chunks)."""
        return self.chunk_times[-1] - self.chunk_times[0] if len(self.chunk_times) > 1 else 0.0

    @property
    def num_gaps(self) -> int:
        return max(self.num_tokens - 1, 0)


@dataclass
class RequestRecord:
    """One request of the benchmark: one stream (Baseline, CoT only) or two (A then B)."""

    streams: list[Stream] = field(default_factory=list)
    t_sent: float = 0.0
    t_done: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def e2e(self) -> float:
        return self.t_done - self.t_sent

    @property
    def ttft(self) -> float | None:
        firsts = [s.chunk_times[0] for s in self.streams if s.chunk_times]
        return firsts[0] - self.t_sent if firsts else None

    @property
    def num_tokens(self) -> int:
        return sum(s.num_tokens for s in self.streams)

    @property
    def tbt(self) -> float | None:
        gaps = sum(s.num_gaps for s in self.streams)
        return sum(s.gap_sum for s in self.streams) / gaps if gaps else None


def percentiles(values: list[float]) -> dict[str, float]:
    """mean and p50/p90/p99 (linear interpolation, NumPy's default); NaN when empty."""
    if not values:
        return {"mean": float("nan"), **{f"p{p}": float("nan") for p in PERCENTILES}}
    arr = np.asarray(values, dtype=float)
    return {"mean": float(arr.mean()), **{f"p{p}": float(np.percentile(arr, p)) for p in PERCENTILES}}


def summarize(records: list[RequestRecord], wall_s: float) -> dict[str, Any]:
    """The row of one (method, concurrency) cell: timings over served requests, failures counted."""
    ok = [r for r in records if r.ok]
    out: dict[str, Any] = {
        "requests": len(records),
        "completed": len(ok),
        "failed": len(records) - len(ok),
        "wall_s": wall_s,
        "requests_per_s": len(ok) / wall_s if wall_s > 0 else float("nan"),
        "output_tokens_per_s": sum(r.num_tokens for r in ok) / wall_s if wall_s > 0 else float("nan"),
    }
    stats = {
        "e2e_s": [r.e2e for r in ok],
        "ttft_s": [t for r in ok if (t := r.ttft) is not None],
        "tbt_s": [t for r in ok if (t := r.tbt) is not None],
        "tokens": [float(r.num_tokens) for r in ok],
    }
    for name, values in stats.items():
        for k, v in percentiles(values).items():
            out[f"{name}_{k}"] = v
    errors = sorted({r.error for r in records if r.error})
    if errors:
        out["errors"] = errors[:5]
    return out
