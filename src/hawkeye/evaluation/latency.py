"""Serving latency: an asyncio streaming client for OpenAI-compatible servers, and a closed-loop
driver (N workers, each sends its next request as soon as its last one finished).

Three request kinds, as on the poster:
- Baseline (Full): Model A (base) answers with the full reasoning prompt.
- Hawkeye (CoT only): Model A (trained) writes its CoT; the request ends there.
- Hawkeye (Full): A's CoT, then (answer leak masked, as in training) Model B expands it and
  answers. Time per request runs from sending A's request to B's last token.

Prompts go to `/v1/completions` as token ids rendered with each model's chat template and
tokenized with `add_special_tokens=False`, exactly as the offline backends do, so token counts
agree with the quality part. `return_token_ids` gives the exact token count of every chunk.
An endpoint of kind "chat" (e.g. `python -m hawkeye.serve`) gets chat messages instead.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from hawkeye.evaluation.metrics import RequestRecord, Stream


@dataclass(frozen=True)
class Endpoint:
    base_url: str                  # e.g. http://127.0.0.1:8001
    model: str                     # the served model name
    kind: str = "completions"      # "completions" (token-id prompts) or "chat" (messages)
    stop_token_ids: tuple[int, ...] = ()  # extra stops (a reasoning A's think_end: its CoT ends there)


async def stream_completion(
    client: httpx.AsyncClient, ep: Endpoint, prompt: list[int] | list[dict[str, str]], max_tokens: int
) -> Stream:
    """Send one greedy streaming request; timestamp every chunk that carries tokens."""
    payload: dict[str, Any] = {"model": ep.model, "max_tokens": max_tokens, "temperature": 0.0, "stream": True}
    if ep.stop_token_ids:
        payload["stop_token_ids"] = list(ep.stop_token_ids)  # vLLM's extension of the OpenAI API
    if ep.kind == "chat":
        path, payload["messages"] = "/v1/chat/completions", prompt
    else:
        path, payload["prompt"], payload["return_token_ids"] = "/v1/completions", prompt, True
    stream = Stream(t_sent=time.perf_counter())
    async with client.stream("POST", ep.base_url.rstrip("/") + path, json=payload) as resp:
        if resp.status_code != 200:
            body = (await resp.aread()).decode(errors="replace")[:200]
            raise RuntimeError(f"HTTP {resp.status_code} from {ep.base_url}{path}: {body}")
        async for line in resp.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line.removeprefix("data:").strip()
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            if "error" in chunk:
                raise RuntimeError(f"stream error from {ep.base_url}: {chunk['error']}")
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                text = choice.get("text") or delta.get("content") or ""
                ids = choice.get("token_ids")
                # chat: one token per chunk; hawkeye.serve streams A's CoT as reasoning_content
                n = len(ids) if ids is not None else int(bool(text or delta.get("reasoning_content")))
                stream.add(time.perf_counter(), n, text)
    return stream


async def closed_loop(
    request: Callable[[httpx.AsyncClient, int], Awaitable[list[Stream]]],
    n_requests: int,
    concurrency: int,
    timeout_s: float,
) -> tuple[list[RequestRecord], float]:
    """Run `n_requests` requests with `concurrency` in flight; returns (records in order, wall s).

    An exception or a timeout marks that request failed (its record stays, with `error` set).
    """
    records = [RequestRecord() for _ in range(n_requests)]
    next_index = iter(range(n_requests))
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2)

    async with httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), limits=limits) as client:

        async def worker() -> None:
            for i in next_index:  # a shared iterator: each index is taken by one worker
                rec = records[i]
                rec.t_sent = time.perf_counter()
                try:
                    async with asyncio.timeout(timeout_s):
                        rec.streams = await request(client, i)
                except TimeoutError:
                    rec.error = f"timeout after {timeout_s:g} s"
                except (httpx.HTTPError, RuntimeError, ValueError, OSError) as e:
                    rec.error = f"{type(e).__name__}: {e}"[:300]
                rec.t_done = time.perf_counter()
                if rec.ok and rec.streams and rec.streams[-1].chunk_times:
                    rec.t_done = rec.streams[-1].chunk_times[-1]  # the last token, not the [DONE]

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(min(concurrency, n_requests))))
        wall = time.perf_counter() - t0
    return records, wall


def single_request(ep: Endpoint, prompts: list[Any], max_tokens: int) -> Callable[..., Awaitable[list[Stream]]]:
    """Baseline (Full) / Hawkeye (CoT only): one stream per request."""

    async def request(client: httpx.AsyncClient, i: int) -> list[Stream]:
        return [await stream_completion(client, ep, prompts[i % len(prompts)], max_tokens)]

    return request


def collaborative_request(
    ep_a: Endpoint,
    ep_b: Endpoint,
    prompts_a: list[Any],
    make_prompt_b: Callable[[int, str], Any],
    max_tokens_a: int,
    max_tokens_b: int,
) -> Callable[..., Awaitable[list[Stream]]]:
    """Hawkeye (Full): A's CoT stream, then B's stream on a prompt built from question i and the CoT."""

    async def request(client: httpx.AsyncClient, i: int) -> list[Stream]:
        j = i % len(prompts_a)
        a = await stream_completion(client, ep_a, prompts_a[j], max_tokens_a)
        b = await stream_completion(client, ep_b, make_prompt_b(j, a.text), max_tokens_b)
        return [a, b]

    return request


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]
