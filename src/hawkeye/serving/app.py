"""The A → B pipeline behind ONE OpenAI-compatible chat endpoint (FastAPI).

Endpoints: `POST /v1/chat/completions` (stream or not), `GET /v1/models`, `GET /health`.
The last message (from the user) is the question q (`serving.protocol`); the reply is B's answer,
with A's CoT as `reasoning_content` (streamed as deltas too, as they come). `usage` is the sum of
A's and B's own usage, A's tokens as `completion_tokens_details.reasoning_tokens`.

Errors are OpenAI error bodies, never a hang: a bad request is a 400 naming the field; a model that
is down is a 502, one that sends nothing within its timeout a 504 (`serving.chat_models`). A
streamed reply holds its headers until A's first chunk (bounded by the same timeout), so a model
that is down still gets its status code; after that, an error ends the stream with the error body.
`/health` answers 200 when A and B both answer theirs, else 503 naming the model that is down. A
model that is down when the app starts is logged and treated as one whose last call failed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from hawkeye.serving.chat_models import Decoding
from hawkeye.serving.pipeline import Pipeline, Turn
from hawkeye.serving.protocol import ApiError, ChatRequest, parse_chat_request

MODEL_ID = "hawkeye"
log = logging.getLogger("hawkeye.serve")


def build_app(pipeline: Pipeline) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # a model that is down at start is served anyway: the log and /health say which, until it answers
        for name, why in (await pipeline.check_at_start()).items():
            log.warning("%s is down at start (%s): serving anyway, it is used once it answers", name, why)
        yield

    app = FastAPI(title="hawkeye", description="Model A writes a compressed CoT; Model B answers.", lifespan=lifespan)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request failed")
        return JSONResponse(ApiError(500, f"internal error: {type(exc).__name__}: {exc}").body(), status_code=500)

    @app.get("/health", response_model=None)
    async def health() -> dict[str, Any] | JSONResponse:
        down = await pipeline.down()
        models = {m.name: f"down: {down[m.name]}" if m.name in down else "ok" for m in (pipeline.a, pipeline.b)}
        if down:
            return JSONResponse({"status": "down", "models": models}, status_code=503)
        return {"status": "ok", "models": models}

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
            # that is down or stuck) still gets its own status code instead of an in-stream error.
            try:
                first = await anext(events, None)
            except BaseException:
                await events.aclose()
                raise
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
    except Exception as e:  # a bug, not the client's: still an error body, never a silent cut
        log.exception("stream %s failed", rid)
        yield data(ApiError(500, f"internal error: {type(e).__name__}: {e}").body())
        return
    finally:
        await events.aclose()
    yield chunk({}, turn.finish_reason)
    if req.include_usage:
        yield data({"id": rid, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID,
                    "choices": [], "usage": turn.usage()})
    yield "data: [DONE]\n\n"
