"""The latency client: a closed loop (N workers, each sends its next request as soon as its last one
finished) over the requests of one method, in one asyncio event loop.

A request is one call of Model A (Baseline, CoT only: `single`), or the A → B pipeline that
`hawkeye.serve` answers with (Full: `through_pipeline`), so the evaluation times the served code.
Every call records its own timings (`serving.chat_models.Generated`); `LoopLag` measures how late
the client's own event loop runs, the client's share of any gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from hawkeye.evaluation.latency.stats import RequestRecord, percentiles
from hawkeye.serving.chat_models import ChatModel, Decoding, Generated
from hawkeye.serving.pipeline import Pipeline, Turn
from hawkeye.serving.protocol import ApiError

GREEDY = Decoding()
Request = Callable[[int, list[Generated]], Awaitable[None]]


def single(model: ChatModel, messages: list[list[dict[str, str]]], max_tokens: int,
           decoding: Decoding = GREEDY) -> Request:
    """One streamed call of `model` on messages[i] (Baseline, CoT only)."""

    async def request(i: int, calls: list[Generated]) -> None:
        calls.append(out := Generated())
        async for _ in model.stream(messages[i % len(messages)], max_tokens, decoding, out):
            pass

    return request


def through_pipeline(pipeline: Pipeline, questions: list[str], decoding: Decoding = GREEDY) -> Request:
    """The A → B pipeline on questions[i] (Full): A's call, then B's, as `hawkeye.serve` runs them."""

    async def request(i: int, calls: list[Generated]) -> None:
        turn = Turn()
        calls += [turn.a, turn.b]
        async for _ in pipeline.events(questions[i % len(questions)], turn, decoding=decoding):
            pass

    return request


async def closed_loop(request: Request, n_requests: int, concurrency: int,
                      timeout_s: float) -> tuple[list[RequestRecord], float]:
    """Run `n_requests` requests with `concurrency` in flight; returns (records in order, wall s).

    An error or a timeout marks that request failed (its record stays, with `error` set)."""
    records = [RequestRecord() for _ in range(n_requests)]
    next_index = iter(range(n_requests))

    async def worker() -> None:
        for i in next_index:  # a shared iterator: each index is taken by one worker
            rec = records[i]
            rec.t_sent = time.perf_counter()
            try:
                async with asyncio.timeout(timeout_s):
                    await request(i, rec.calls)
            except TimeoutError:
                rec.error = f"timeout after {timeout_s:g} s"
            except ApiError as e:
                rec.error = f"HTTP {e.status}: {e.message}"[:300]
            except (RuntimeError, ValueError, OSError) as e:
                rec.error = f"{type(e).__name__}: {e}"[:300]
            last = [c.chunk_times[-1] for c in rec.calls if c.chunk_times]
            rec.t_done = last[-1] if rec.ok and last else time.perf_counter()  # the last token, not the stream's end

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, n_requests))))
    return records, time.perf_counter() - t0


class LoopLag:
    """How late this event loop wakes a task that sleeps `tick_s` (a busy client delays every read)."""

    def __init__(self, tick_s: float = 0.01) -> None:
        self.tick_s = tick_s
        self.lags: list[float] = []

    async def _run(self) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(self.tick_s)
            self.lags.append(time.perf_counter() - t - self.tick_s)

    @contextlib.asynccontextmanager
    async def measuring(self) -> Any:
        task = asyncio.create_task(self._run())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def summary(self) -> dict[str, float]:
        return {f"loop_lag_s_{k}": v for k, v in percentiles(self.lags).items() if k in ("mean", "p90")}


@contextlib.contextmanager
def cpu_seconds(probes: dict[str, Callable[[], float]]) -> Iterator[dict[str, float]]:
    """CPU seconds each probe's process(es) used inside the block (filled in on exit)."""
    before = {name: probe() for name, probe in probes.items()}
    used: dict[str, float] = {}
    try:
        yield used
    finally:
        used.update({name: probe() - before[name] for name, probe in probes.items()})
