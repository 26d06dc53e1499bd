"""Model A or Model B as `hawkeye.serve` uses it: stream new text for chat messages, then report
the call's own token usage (prompt and completion tokens, as the model's tokenizer counts them)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from hawkeye.prompts import render
from hawkeye.serving.protocol import ApiError


@dataclass(frozen=True)
class Decoding:
    """Sampling settings passed through from the request (temperature 0 = greedy)."""

    temperature: float = 0.0
    seed: int | None = None


@dataclass
class Generated:
    """What one model call reports once its stream has ended."""

    prompt_tokens: int = 0
    completion_tokens: int = 0  # the new tokens, EOS included when it stopped on one (as vLLM counts)
    finish_reason: str = "stop"  # "stop" (EOS) or "length" (hit max_tokens)


class ChatModel:
    """Stream new text for chat messages; fill `out` with the call's usage when the stream ends."""

    name = "model"

    async def stream(self, messages: list[dict[str, str]], max_tokens: int, decoding: Decoding,
                     out: Generated) -> AsyncIterator[str]:
        raise NotImplementedError
        yield ""


class RemoteChatModel(ChatModel):
    """A model behind an OpenAI-compatible server (vLLM applies the model's chat template and
    reports usage with `stream_options.include_usage`, which is where the counts come from)."""

    def __init__(self, base_url: str, model: str | None = None, timeout_s: float = 600.0,
                 name: str = "model") -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = name
        self.client = httpx.AsyncClient(timeout=timeout_s)

    async def stream(self, messages: list[dict[str, str]], max_tokens: int, decoding: Decoding,
                     out: Generated) -> AsyncIterator[str]:
        where = f"{self.name} at {self.base_url}"
        try:
            if self.model is None:
                r = await self.client.get(self.base_url + "/v1/models")
                r.raise_for_status()
                self.model = r.json()["data"][0]["id"]
            payload: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": max_tokens,
                                       "temperature": decoding.temperature, "stream": True,
                                       "stream_options": {"include_usage": True}}
            if decoding.seed is not None:
                payload["seed"] = decoding.seed
            got_usage = False
            async with self.client.stream("POST", self.base_url + "/v1/chat/completions", json=payload) as resp:
                if resp.status_code != 200:
                    raise _upstream_error(where, resp.status_code, (await resp.aread()).decode(errors="replace"))
                async for line in resp.aiter_lines():
                    data = line.removeprefix("data:").strip()
                    if not line.startswith("data:") or data == "[DONE]":
                        continue
                    chunk = json.loads(data)
                    if "error" in chunk:
                        raise ApiError(502, f"{where} failed mid-stream: {chunk['error']}")
                    for choice in chunk.get("choices") or []:
                        if choice.get("finish_reason"):
                            out.finish_reason = "length" if choice["finish_reason"] == "length" else "stop"
                        if text := (choice.get("delta") or {}).get("content"):
                            yield text
                    if usage := chunk.get("usage"):
                        out.prompt_tokens = int(usage["prompt_tokens"])
                        out.completion_tokens = int(usage["completion_tokens"])
                        got_usage = True
        except httpx.HTTPError as e:
            raise ApiError(502, f"{where} unreachable or failed: {type(e).__name__}: {e}") from e
        if not got_usage:
            raise ApiError(502, f"{where} sent no usage chunk: hawkeye.serve needs an upstream that supports "
                                "stream_options.include_usage (vLLM does)")


def _upstream_error(where: str, status: int, body: str) -> ApiError:
    """The upstream's own message. A 400 (e.g. prompt plus max_tokens over the context) stays a 400."""
    try:
        message = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = body[:300]
    return ApiError(400 if status == 400 else 502, f"{where}: HTTP {status}: {message}",
                    "max_tokens" if status == 400 and "max_tokens" in str(message) else None)


class LocalHFChatModel(ChatModel):
    """An in-process HF model, streamed token by token (for tiny models and tests).

    One generate() at a time (a shared model); the request's stream stops the generation when the
    client goes away, and an error inside generate() ends the stream instead of leaving it waiting.
    """

    def __init__(self, model: Any, tokenizer: Any, name: str = "model") -> None:
        self.model, self.tokenizer, self.name = model, tokenizer, name
        self.turn = asyncio.Lock()  # requests queue here, not in threads
        self.context = int(getattr(model.config, "max_position_embeddings", 0) or 0)
        eos = model.generation_config.eos_token_id
        self.eos_ids = set([eos] if isinstance(eos, int) else (eos or []))
        if tokenizer.eos_token_id is not None:
            self.eos_ids.add(tokenizer.eos_token_id)

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
                        temperature=decoding.temperature if sampling else None,
                        top_p=None, top_k=0 if sampling else None,  # pure temperature sampling, as vLLM
                        streamer=streamer, stopping_criteria=StoppingCriteriaList([StopWhenCancelled()]),
                        pad_token_id=tok.pad_token_id, eos_token_id=sorted(self.eos_ids))
                new_ids.extend(seq[0, n_prompt:].tolist())
            except BaseException as e:  # surfaced by the consumer below
                failure.append(e)
                streamer.end()  # unblocks the consumer (generate() did not reach its own end())

        async with self.turn:
            thread = threading.Thread(target=work, daemon=True, name=f"generate-{self.name}")
            thread.start()
            try:
                it = iter(streamer)
                while (text := await asyncio.to_thread(next, it, None)) is not None:
                    if text:
                        yield text
            finally:
                cancelled.set()  # a no-op after a normal end; stops generate() if the client left
                await asyncio.to_thread(thread.join)
        if failure:
            raise ApiError(500, f"{self.name}: generation failed: {type(failure[0]).__name__}: {failure[0]}")
        out.prompt_tokens, out.completion_tokens = n_prompt, len(new_ids)
        out.finish_reason = "stop" if new_ids and new_ids[-1] in self.eos_ids else "length"
