"""Serve the A→B pipeline as ONE OpenAI-compatible chat endpoint.

    # against running vLLM servers for A and B (e.g. `vllm serve models/smollm2-135m-instruct`)
    python -m hawkeye.serve --policy-url http://127.0.0.1:8001 --responder-url http://127.0.0.1:8002
    # in-process HF models (tiny or small), composed from the Hydra config like every stage
    python -m hawkeye.serve experiment=smoke --port 8000

Endpoints: `POST /v1/chat/completions` (stream or not), `GET /v1/models`, `GET /health`.
A request's last user message is the question q. Model A writes the CoT c with the reasoning
prompt; c is masked for a stated answer as in training (`reward.answer_leak`); Model B reads
(q, c, s) and its answer is the reply. A's CoT comes back as `reasoning_content` (streamed as
deltas too, so a streaming client sees the whole pipeline's tokens). `max_tokens` caps B.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

from hawkeye.prompts import reasoning_messages, render, responder_messages
from hawkeye.reward.leak import what_b_reads

MODEL_ID = "hawkeye"


class ChatModel:
    """What the pipeline needs of A or B: stream new text for chat messages (greedy)."""

    async def stream(self, messages: list[dict[str, str]], max_tokens: int) -> AsyncIterator[str]:
        raise NotImplementedError
        yield ""


class RemoteChatModel(ChatModel):
    """A model behind an OpenAI-compatible server (vLLM applies the model's chat template)."""

    def __init__(self, base_url: str, model: str | None = None, timeout_s: float = 600.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.client = httpx.AsyncClient(timeout=timeout_s)

    async def stream(self, messages: list[dict[str, str]], max_tokens: int) -> AsyncIterator[str]:
        if self.model is None:
            r = await self.client.get(self.base_url + "/v1/models")
            r.raise_for_status()
            self.model = r.json()["data"][0]["id"]
        payload = {"model": self.model, "messages": messages, "max_tokens": max_tokens, "temperature": 0.0,
                   "stream": True}
        async with self.client.stream("POST", self.base_url + "/v1/chat/completions", json=payload) as resp:
            if resp.status_code != 200:
                raise HTTPException(502, f"upstream {self.base_url}: HTTP {resp.status_code}")
            async for line in resp.aiter_lines():
                data = line.removeprefix("data:").strip()
                if not line.startswith("data:") or data == "[DONE]":
                    continue
                for choice in json.loads(data).get("choices") or []:
                    if text := (choice.get("delta") or {}).get("content"):
                        yield text


class LocalHFChatModel(ChatModel):
    """An in-process HF model, streamed token by token (for tiny models and tests)."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.lock = threading.Lock()  # one generate() at a time on a shared model

    async def stream(self, messages: list[dict[str, str]], max_tokens: int) -> AsyncIterator[str]:
        from transformers import TextIteratorStreamer

        tok = self.tokenizer
        enc = tok(render(tok, messages), return_tensors="pt", add_special_tokens=False)
        streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)

        def work() -> None:
            with self.lock:
                self.model.generate(**enc, max_new_tokens=max_tokens, do_sample=False, streamer=streamer,
                                    pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        it = iter(streamer)
        while (text := await asyncio.to_thread(next, it, None)) is not None:
            if text:
                yield text
        thread.join()


class ChatRequest(BaseModel):
    model: str = MODEL_ID
    messages: list[dict[str, Any]]
    max_tokens: int | None = None
    stream: bool = False
    temperature: float | None = None  # accepted; decoding is greedy


class Pipeline:
    def __init__(self, a: ChatModel, b: ChatModel, cot_max_tokens: int, answer_max_tokens: int,
                 answer_leak: str = "mask") -> None:
        self.a, self.b = a, b
        self.cot_max_tokens, self.answer_max_tokens = cot_max_tokens, answer_max_tokens
        self.answer_leak = answer_leak

    async def events(self, question: str, max_tokens: int | None) -> AsyncIterator[tuple[str, str]]:
        """("reasoning", text) chunks of A's CoT, then ("content", text) chunks of B's answer."""
        cot = ""
        async for text in self.a.stream(reasoning_messages(question), self.cot_max_tokens):
            cot += text
            yield "reasoning", text
        seen = what_b_reads(cot, self.answer_leak)
        async for text in self.b.stream(responder_messages(question, seen), max_tokens or self.answer_max_tokens):
            yield "content", text


def question_of(messages: list[dict[str, Any]]) -> str:
    users = [m.get("content") for m in messages if m.get("role") == "user"]
    if not users or not isinstance(users[-1], str) or not users[-1].strip():
        raise HTTPException(400, "messages must end with a user message whose content is the question (a string)")
    return users[-1]


def build_app(pipeline: Pipeline) -> FastAPI:
    app = FastAPI(title="hawkeye", description="Model A writes a compressed CoT; Model B answers.")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "owned_by": "hawkeye"}]}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(req: ChatRequest) -> JSONResponse | StreamingResponse:
        q = question_of(req.messages)
        rid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if req.stream:
            return StreamingResponse(_sse(pipeline, q, req.max_tokens, rid, created), media_type="text/event-stream")
        parts: dict[str, list[str]] = {"reasoning": [], "content": []}
        async for kind, text in pipeline.events(q, req.max_tokens):
            parts[kind].append(text)
        message = {"role": "assistant", "content": "".join(parts["content"]),
                   "reasoning_content": "".join(parts["reasoning"])}
        return JSONResponse({
            "id": rid, "object": "chat.completion", "created": created, "model": MODEL_ID,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            # streamed chunks, not tokenizer tokens: the chat API has no shared tokenizer for A and B
            "usage": {"reasoning_chunks": len(parts["reasoning"]), "completion_chunks": len(parts["content"])},
        })

    return app


async def _sse(pipeline: Pipeline, q: str, max_tokens: int | None, rid: str, created: int) -> AsyncIterator[str]:
    def chunk(delta: dict[str, str], finish: str | None = None) -> str:
        body = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(body)}\n\n"

    yield chunk({"role": "assistant"})
    try:
        async for kind, text in pipeline.events(q, max_tokens):
            yield chunk({"reasoning_content" if kind == "reasoning" else "content": text})
    except (httpx.HTTPError, HTTPException) as e:  # headers are sent: report in-stream
        yield f"data: {json.dumps({'error': {'message': str(e)}})}\n\n"
        return
    yield chunk({}, "stop")
    yield "data: [DONE]\n\n"


def pipeline_from_config(cfg: Any, policy_url: str | None = None, responder_url: str | None = None) -> Pipeline:
    """Remote models where a URL is given, else in-process HF models from the config."""
    from hawkeye.evaluation.stage import resolve_models
    from hawkeye.models.load import load_causal_lm

    models = resolve_models(cfg) if not (policy_url and responder_url) else {}

    def make(role: str, url: str | None) -> ChatModel:
        if url:
            return RemoteChatModel(url, timeout_s=float(cfg.eval.request_timeout_s))
        m = models[role]
        lm = load_causal_lm(m.path, str(m.cfg.dtype), bool(m.cfg.trust_remote_code))
        return LocalHFChatModel(lm.eval(), m.tokenizer)

    from hawkeye.evaluation.stage import token_caps

    return Pipeline(make("hawkeye_a", policy_url), make("responder", responder_url), *token_caps(cfg),
                    answer_leak=str(cfg.reward.answer_leak))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hawkeye.serve", description=__doc__.split("\n")[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. experiment=smoke policy=smollm2_135m")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--policy-url", help="OpenAI-compatible server of Model A (else in-process HF)")
    parser.add_argument("--responder-url", help="OpenAI-compatible server of Model B (else in-process HF)")
    args = parser.parse_args(argv)

    import uvicorn
    from hydra import compose, initialize_config_dir

    from hawkeye.config import validate
    from hawkeye.paths import CONF_DIR
    from hawkeye.runtime import check_port_free

    check_port_free(args.host, args.port, "hawkeye.serve")  # before any model loads
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = validate(compose(config_name="config", overrides=args.overrides))
    app = build_app(pipeline_from_config(cfg, args.policy_url, args.responder_url))
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
