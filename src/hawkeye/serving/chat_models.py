"""Model A or Model B as the A → B pipeline calls it: stream new text for chat messages, and record
the call in a `Generated` (token usage, finish reason, when each chunk arrived, the server's own
timings).

- `RemoteChatModel`: a model behind an OpenAI-compatible server (vLLM). Every wait on it is
  bounded: no byte for `timeout_s` (a stuck server accepts the connection and never answers) is a
  504, a refused or broken connection a 502, both in OpenAI's error body (`ApiError`). Nothing is
  cached across requests but the served model's name, so a server that comes back is used again.
- `LocalHFChatModel`: an in-process HF model (tiny models, tests).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from hawkeye.generation.eos import eos_ids, stop_ids
from hawkeye.prompts import render
from hawkeye.serving.protocol import ApiError


@dataclass(frozen=True)
class Decoding:
    """Sampling settings passed through from the request (temperature 0 = greedy)."""

    temperature: float = 0.0
    seed: int | None = None
    # Generate exactly `max_tokens` new tokens, past any EOS or stop token: the latency replay times
    # given token counts (`evaluation.latency.measure`), whatever the text says.
    exact_length: bool = False


@dataclass
class Generated:
    """One model call, as it went. Times are `time.perf_counter()` seconds in this process."""

    prompt_tokens: int = 0
    completion_tokens: int = 0  # the new tokens, EOS included when it stopped on one (as vLLM counts)
    finish_reason: str = "stop"  # "stop" (EOS or a stop token) or "length" (hit max_tokens)
    t_sent: float = 0.0          # the request left
    chunk_times: list[float] = field(default_factory=list)   # each received chunk that carried tokens
    chunk_tokens: list[int] = field(default_factory=list)    # ... and how many
    t_end: float = 0.0           # the stream ended (its usage and end received)
    engine: dict[str, float] = field(default_factory=dict)  # the server's own timings (vLLM: queue_time_ms, ...)

    def add_chunk(self, t: float, n_tokens: int) -> None:
        if n_tokens > 0:
            self.chunk_times.append(t)
            self.chunk_tokens.append(n_tokens)

    @property
    def num_tokens(self) -> int:
        """Tokens streamed (chunk by chunk): a stop token the server does not stream is not among them."""
        return sum(self.chunk_tokens)


class ChatModel:
    """Stream new text for chat messages; fill `out` as the stream goes."""

    name = "model"

    async def stream(self, messages: list[dict[str, str]], max_tokens: int, decoding: Decoding,
                     out: Generated) -> AsyncIterator[str]:
        raise NotImplementedError
        yield ""

    async def down(self) -> str | None:
        """Why the model cannot serve now (None: it can)."""
        return None


class RemoteChatModel(ChatModel):
    """A model behind an OpenAI-compatible server.

    With `tokenizer`, prompts are rendered with the model's chat template and sent as token ids to
    `/v1/completions` (`add_special_tokens=False`), as the offline backends tokenize them, and each
    chunk's `token_ids` counts its tokens exactly. Without, the messages go to
    `/v1/chat/completions` and the server applies its template. Usage comes from the server
    (`stream_options.include_usage`). `stop_token_ids` end the generation as EOS does (A's
    `think_end`: `hawkeye.cot`).
    """

    def __init__(self, base_url: str, model: str | None = None, tokenizer: Any = None,
                 stop_token_ids: Sequence[int] = (), timeout_s: float = 30.0, name: str = "model") -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.tokenizer = tokenizer
        self.stop_token_ids = [int(t) for t in stop_token_ids]
        self.timeout_s = float(timeout_s)
        self.name = name
        # timeout_s bounds every wait: connecting, the first byte, each gap between chunks, a free connection
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout_s),
                                        limits=httpx.Limits(max_connections=None, max_keepalive_connections=512))

    def payload(self, messages: list[dict[str, str]], max_tokens: int, decoding: Decoding) -> tuple[str, dict[str, Any]]:
        """(path, body) of the streaming request for `messages`."""
        body: dict[str, Any] = {"model": self.model, "max_tokens": max_tokens, "temperature": decoding.temperature,
                                "stream": True, "stream_options": {"include_usage": True}}
        if decoding.seed is not None:
            body["seed"] = decoding.seed
        if self.stop_token_ids:
            body["stop_token_ids"] = self.stop_token_ids  # vLLM's extension of the OpenAI API
        if decoding.exact_length:  # vLLM's extensions: no stop before max_tokens
            body |= {"min_tokens": max_tokens, "ignore_eos": True}
        if self.tokenizer is None:
            return "/v1/chat/completions", body | {"messages": messages}
        ids = self.tokenizer(render(self.tokenizer, messages), add_special_tokens=False)["input_ids"]
        return "/v1/completions", body | {"prompt": list(ids), "return_token_ids": True}

    async def stream(self, messages: list[dict[str, str]], max_tokens: int, decoding: Decoding,
                     out: Generated) -> AsyncIterator[str]:
        where = f"{self.name} at {self.base_url}"
        got_usage = False
        try:
            if self.model is None:
                self.model = await self._served_model()
            path, body = self.payload(messages, max_tokens, decoding)
            out.t_sent = time.perf_counter()
            async with self.client.stream("POST", self.base_url + path, json=body) as resp:
                if resp.status_code != 200:
                    raise _upstream_error(where, resp.status_code, (await resp.aread()).decode(errors="replace"))
                async for line in resp.aiter_lines():
                    data = line.removeprefix("data:").strip()
                    if not line.startswith("data:") or data == "[DONE]":
                        continue
                    chunk = json.loads(data)
                    if "error" in chunk:
                        raise ApiError(502, f"{where} failed mid-stream: {chunk['error']}")
                    now = time.perf_counter()
                    for choice in chunk.get("choices") or []:
                        if choice.get("finish_reason"):
                            out.finish_reason = "length" if choice["finish_reason"] == "length" else "stop"
                        text = choice.get("text") or (choice.get("delta") or {}).get("content") or ""
                        ids = choice.get("token_ids")
                        out.add_chunk(now, len(ids) if ids is not None else int(bool(text)))
                        if text:
                            yield text
                    if usage := chunk.get("usage"):
                        out.prompt_tokens = int(usage["prompt_tokens"])
                        out.completion_tokens = int(usage["completion_tokens"])
                        out.engine = {k: float(v) for k, v in (chunk.get("metrics") or {}).items()
                                      if isinstance(v, (int, float))}
                        got_usage = True
            out.t_end = time.perf_counter()
        except httpx.TimeoutException as e:
            raise ApiError(504, f"{where} sent nothing for {self.timeout_s:g} s ({type(e).__name__}): the server "
                                "is stuck or overloaded") from e
        except httpx.HTTPError as e:
            raise ApiError(502, f"{where} unreachable or failed: {type(e).__name__}: {e}") from e
        if not got_usage:
            raise ApiError(502, f"{where} sent no usage chunk: the pipeline needs an upstream that supports "
                                "stream_options.include_usage (vLLM does)")

    async def _served_model(self) -> str:
        r = await self.client.get(self.base_url + "/v1/models")
        r.raise_for_status()
        return str(r.json()["data"][0]["id"])

    async def down(self) -> str | None:
        try:
            r = await self.client.get(self.base_url + "/health", timeout=min(self.timeout_s, 5.0))
        except httpx.HTTPError as e:
            return f"{self.base_url}: {type(e).__name__}: {e}".rstrip(": ")
        return None if r.status_code == 200 else f"{self.base_url}/health: HTTP {r.status_code}"

    async def aclose(self) -> None:
        await self.client.aclose()


def _upstream_error(where: str, status: int, body: str) -> ApiError:
    """The upstream's own message. A 400 (e.g. prompt plus max_tokens over the context) stays a 400."""
    try:
        message = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = body[:300]
    return ApiError(400 if status == 400 else 502, f"{where}: HTTP {status}: {message}",
                    "max_tokens" if status == 400 and "max_tokens" in str(message) else None)


class LocalHFChatModel(ChatModel):
    """An in-process HF model, streamed as text pieces (for tiny models and tests).

    One generate() at a time (a shared model); the request's stream stops the generation when the
    client goes away, and an error inside generate() ends the stream instead of leaving it waiting.
    Each text piece is recorded as one chunk; `completion_tokens` is the exact count.
    """

    def __init__(self, model: Any, tokenizer: Any, name: str = "model", stop_token_ids: Sequence[int] = ()) -> None:
        self.model, self.tokenizer, self.name = model, tokenizer, name
        self.turn = asyncio.Lock()  # requests queue here, not in threads
        self.context = int(getattr(model.config, "max_position_embeddings", 0) or 0)
        self.stop_ids = stop_ids(eos_ids(model.generation_config, tokenizer), stop_token_ids)

    async def stream(self, messages: list[dict[str, str]], max_tokens: int, decoding: Decoding,
                     out: Generated) -> AsyncIterator[str]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        tok = self.tokenizer
        enc = tok(render(tok, messages), return_tensors="pt", add_special_tokens=False)
        n_prompt = int(enc["input_ids"].shape[1])
        if self.context and n_prompt + max_tokens > self.context:
            raise ApiError(400, f"{self.name}: prompt ({n_prompt} tokens) + max_tokens ({max_tokens}) exceeds its "
                                f"context of {self.context} tokens", "max_tokens")
        streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
        cancelled = threading.Event()
        failure: list[BaseException] = []
        new_ids: list[int] = []

        class StopWhenCancelled(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), cancelled.is_set(), dtype=torch.bool)

        sampling = decoding.temperature > 0

        def work() -> None:
            try:
                if decoding.seed is not None:
                    torch.manual_seed(decoding.seed)
                with torch.no_grad():
                    seq = self.model.generate(
                        **enc, max_new_tokens=max_tokens, do_sample=sampling,
                        min_new_tokens=max_tokens if decoding.exact_length else None,
                        temperature=decoding.temperature if sampling else None,
                        top_p=None, top_k=0 if sampling else None,  # pure temperature sampling, as vLLM
                        streamer=streamer, stopping_criteria=StoppingCriteriaList([StopWhenCancelled()]),
                        pad_token_id=tok.pad_token_id, eos_token_id=self.stop_ids)
                new_ids.extend(seq[0, n_prompt:].tolist())
            except BaseException as e:  # surfaced by the consumer below
                failure.append(e)
                streamer.end()  # unblocks the consumer (generate() did not reach its own end())

        out.t_sent = time.perf_counter()
        async with self.turn:
            thread = threading.Thread(target=work, daemon=True, name=f"generate-{self.name}")
            thread.start()
            try:
                it = iter(streamer)
                while (text := await asyncio.to_thread(next, it, None)) is not None:
                    if text:
                        out.add_chunk(time.perf_counter(), 1)
                        yield text
            finally:
                cancelled.set()  # a no-op after a normal end; stops generate() if the client left
                await asyncio.to_thread(thread.join)
        if failure:
            raise ApiError(500, f"{self.name}: generation failed: {type(failure[0]).__name__}: {failure[0]}")
        out.prompt_tokens, out.completion_tokens = n_prompt, len(new_ids)
        out.finish_reason = "stop" if new_ids and new_ids[-1] in self.stop_ids else "length"
        out.t_end = time.perf_counter()
