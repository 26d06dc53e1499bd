"""Latency arithmetic: per-request timings from the model calls, then percentiles over requests.

Definitions (all times in seconds, from `time.perf_counter` in the client):
- time per request (e2e): last token received − request sent. For Hawkeye (Full) the request is
  the whole pipeline: from sending A's request to B's last token.
- TTFT: first token received − request sent.
- TBT (time between tokens): the mean gap between consecutive streamed tokens,
  (t_last − t_first) / (tokens − 1), summed over the calls of a request. The hand-off between A's
  last token and B's first token is not a between-token gap (it is in e2e, and in the breakdown).
- A request that errors or times out is counted as failed; it is never dropped, and it adds
  nothing to the timing statistics (which describe served requests).

The breakdown splits each request's e2e into consecutive parts that add up to it exactly:
- `a_ttft`: A's request sent → A's first token; of which the engine's own `a_queue` (waiting to be
  scheduled) and `a_prefill` (scheduled → first token), the rest being the server's HTTP, prompt
  and streaming work and the client's reading;
- `a_decode`: A's first → last token;
- `a_close`: A's last token → A's stream ended (the finish and usage chunks);
- `handoff`: A's stream ended → B's request sent (the client's own gap: B's prompt is built);
- `b_ttft` (with `b_queue`, `b_prefill`) and `b_decode`: as for A.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hawkeye.serving.chat_models import Generated

PERCENTILES = (50, 90, 99)
PARTS = ("a_ttft", "a_decode", "a_close", "handoff", "b_ttft", "b_decode")
ENGINE_PARTS = ("a_queue", "a_prefill", "b_queue", "b_prefill")


@dataclass
class RequestRecord:
    """One request of the benchmark: one model call (Baseline, CoT only) or two (A, then B)."""

    calls: list[Generated] = field(default_factory=list)
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
        firsts = [c.chunk_times[0] for c in self.calls if c.chunk_times]
        return firsts[0] - self.t_sent if firsts else None

    @property
    def num_tokens(self) -> int:
        return sum(c.num_tokens for c in self.calls)

    @property
    def tbt(self) -> float | None:
        gaps = sum(max(c.num_tokens - 1, 0) for c in self.calls)
        spans = sum(c.chunk_times[-1] - c.chunk_times[0] for c in self.calls if len(c.chunk_times) > 1)
        return spans / gaps if gaps else None

    def breakdown(self) -> dict[str, float]:
        """The parts of e2e (module docstring); {} for a request whose calls streamed no token."""
        if not self.calls or not all(c.chunk_times for c in self.calls):
            return {}
        a = self.calls[0]
        out = {"a_ttft": a.chunk_times[0] - self.t_sent, "a_decode": a.chunk_times[-1] - a.chunk_times[0],
               **_engine_parts("a", a)}
        if len(self.calls) > 1:
            b = self.calls[1]
            out |= {"a_close": a.t_end - a.chunk_times[-1], "handoff": b.t_sent - a.t_end,
                    "b_ttft": b.chunk_times[0] - b.t_sent, "b_decode": b.chunk_times[-1] - b.chunk_times[0],
                    **_engine_parts("b", b)}
        return out


def _engine_parts(role: str, call: Generated) -> dict[str, float]:
    """The engine's own queue wait and prefill (vLLM's per-request metrics), in seconds."""
    keys = {"queue": "queue_time_ms", "prefill": "time_to_first_token_ms"}
    return {f"{role}_{part}": call.engine[key] / 1000 for part, key in keys.items() if key in call.engine}


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


def breakdown(records: list[RequestRecord]) -> dict[str, dict[str, float]]:
    """{part: {"mean", "p50"}} over the served requests that have that part."""
    parts: dict[str, list[float]] = {}
    for r in records:
        if r.ok:
            for part, value in r.breakdown().items():
                parts.setdefault(part, []).append(value)
    return {part: {k: v for k, v in percentiles(values).items() if k in ("mean", "p50")}
            for part, values in parts.items()}
