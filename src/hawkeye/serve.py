"""Serve the A→B pipeline as ONE OpenAI-compatible chat endpoint.

    # against running vLLM servers for A and B (e.g. `vllm serve models/smollm2-135m-instruct`)
    python -m hawkeye.serve --policy-url http://127.0.0.1:8001 --responder-url http://127.0.0.1:8002
    # in-process HF models (tiny or small), composed from the Hydra config like every stage
    python -m hawkeye.serve experiment=smoke --port 8000

Endpoints: `POST /v1/chat/completions` (stream or not), `GET /v1/models`, `GET /health`.
The last message (from the user) is the question q. Model A writes the CoT c with the reasoning
prompt; c is masked for a stated answer as in training (`reward.answer_leak`); Model B reads
(q, c, s) and its answer is the reply. A's CoT comes back as `reasoning_content` (streamed as
deltas too, so a streaming client sees the whole pipeline's tokens).

Token caps: `max_tokens` caps B's answer (default: the configured answer cap);
`max_completion_tokens` caps A's CoT and B's answer together, as OpenAI counts reasoning tokens
(if A's CoT uses it all, B is not called and the reply is empty with finish_reason "length").
`temperature` (default 0, greedy) and `seed` go to both models. `usage` is the sum of A's and B's
own usage (`serving.protocol.usage`); A's tokens are `completion_tokens_details.reasoning_tokens`.
What is accepted and refused (with a 400 naming the field) is in `hawkeye.serving.protocol`.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from hawkeye.prompts import reasoning_messages, responder_prompt
from hawkeye.serving.chat_models import ChatModel, Decoding, Generated, LocalHFChatModel, RemoteChatModel
from hawkeye.serving.protocol import ApiError, ChatRequest, parse_chat_request, usage

__all__ = ["ChatModel", "LocalHFChatModel", "Pipeline", "RemoteChatModel", "build_app", "main"]

MODEL_ID = "hawkeye"
GREEDY = Decoding()
ROLE_NAMES = {"hawkeye_a": "Model A", "responder": "Model B"}  # as named in error messages
log = logging.getLogger("hawkeye.serve")


@dataclass
class Turn:
    """One request through the pipeline: A's and B's usage, and why the reply ended."""

    a: Generated = field(default_factory=Generated)
    b: Generated = field(default_factory=Generated)
    finish_reason: str = "stop"

    def usage(self) -> dict[str, Any]:
        return usage(self.a.prompt_tokens, self.a.completion_tokens, self.b.prompt_tokens, self.b.completion_tokens)


class Pipeline:
    def __init__(self, a: ChatModel, b: ChatModel, cot_max_tokens: int, answer_max_tokens: int,
                 answer_leak: str = "mask") -> None:
        self.a, self.b = a, b
        self.cot_max_tokens, self.answer_max_tokens = cot_max_tokens, answer_max_tokens
        self.answer_leak = answer_leak

    async def events(self, question: str, turn: Turn, max_tokens: int | None = None,
                     max_completion_tokens: int | None = None,
                     decoding: Decoding = GREEDY) -> AsyncIterator[tuple[str, str]]:
        """("reasoning", text) chunks of A's CoT, then ("content", text) chunks of B's answer."""
        budget = max_completion_tokens  # A's and B's new tokens together (None: no joint cap)
        cot_cap = min(self.cot_max_tokens, budget) if budget else self.cot_max_tokens
        cot = ""
        # aclosing: a client that leaves mid-stream stops the model's generation at once
        async with aclosing(self.a.stream(reasoning_messages(question), cot_cap, decoding, turn.a)) as a_stream:
            async for text in a_stream:
                cot += text
                yield "reasoning", text
        answer_cap = max_tokens or self.answer_max_tokens
        if budget:
            answer_cap = min(answer_cap, budget - turn.a.completion_tokens)
            if answer_cap <= 0:  # the CoT used the whole budget: no answer, as OpenAI reasoning models do
                turn.finish_reason = "length"
                return
        _, b_messages = responder_prompt(question, cot, self.answer_leak)
        async with aclosing(self.b.stream(b_messages, answer_cap, decoding, turn.b)) as b_stream:
            async for text in b_stream:
                yield "content", text
        turn.finish_reason = turn.b.finish_reason


def build_app(pipeline: Pipeline) -> FastAPI:
    app = FastAPI(title="hawkeye", description="Model A writes a compressed CoT; Model B answers.")

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "owned_by": "hawkeye"}]}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(request: Request) -> JSONResponse | StreamingResponse:
        req, q = parse_chat_request(await request.body())
        rid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        turn = Turn()
        events = pipeline.events(q, turn, req.max_tokens, req.max_completion_tokens,
                                 Decoding(req.temperature or 0.0, req.seed))
        if req.stream:
            # A's first chunk before the headers: an error there (a bad request upstream, a model
            # that is down) still gets its own status code instead of an in-stream error.
            first = await anext(events, None)
            return StreamingResponse(_sse(events, first, turn, req, rid, created), media_type="text/event-stream")
        parts: dict[str, list[str]] = {"reasoning": [], "content": []}
        async for kind, text in events:
            parts[kind].append(text)
        message = {"role": "assistant", "content": "".join(parts["content"]),
                   "reasoning_content": "".join(parts["reasoning"])}
        return JSONResponse({
            "id": rid, "object": "chat.completion", "created": created, "model": MODEL_ID,
            "choices": [{"index": 0, "message": message, "finish_reason": turn.finish_reason}],
            "usage": turn.usage(),
        })

    return app


async def _sse(events: AsyncIterator[tuple[str, str]], first: tuple[str, str] | None, turn: Turn,
               req: ChatRequest, rid: str, created: int) -> AsyncIterator[str]:
    def data(body: dict[str, Any]) -> str:
        return f"data: {json.dumps(body)}\n\n"

    def chunk(delta: dict[str, str], finish: str | None = None) -> str:
        body: dict[str, Any] = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID,
                                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        if req.include_usage:
            body["usage"] = None  # as OpenAI: null on every chunk but the last
        return data(body)

    def delta(kind: str, text: str) -> dict[str, str]:
        return {"reasoning_content" if kind == "reasoning" else "content": text}

    yield chunk({"role": "assistant"})
    try:
        if first is not None:
            yield chunk(delta(*first))
        async for kind, text in events:
            yield chunk(delta(kind, text))
    except ApiError as e:  # headers are sent: report in-stream
        log.warning("stream %s failed: %s", rid, e.message)
        yield data(e.body())
        return
    finally:
        await events.aclose()
    yield chunk({}, turn.finish_reason)
    if req.include_usage:
        yield data({"id": rid, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID,
                    "choices": [], "usage": turn.usage()})
    yield "data: [DONE]\n\n"


def pipeline_from_config(cfg: Any, policy_url: str | None = None, responder_url: str | None = None) -> Pipeline:
    """Remote models where a URL is given, else in-process HF models from the config."""
    from hawkeye.models.load import load_causal_lm
    from hawkeye.models.resolve import resolve_models, token_caps

    models = resolve_models(cfg) if not (policy_url and responder_url) else {}

    def make(role: str, url: str | None) -> ChatModel:
        if url:
            return RemoteChatModel(url, timeout_s=float(cfg.eval.request_timeout_s), name=ROLE_NAMES[role])
        m = models[role]
        lm = load_causal_lm(m.path, str(m.cfg.dtype), bool(m.cfg.trust_remote_code))
        return LocalHFChatModel(lm.eval(), m.tokenizer, name=ROLE_NAMES[role])

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
