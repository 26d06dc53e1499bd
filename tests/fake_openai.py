"""A stand-in OpenAI-compatible server (vLLM's shapes) whose behaviour a test can switch.

Every completion streams PIECES, one token per chunk (token id = position), then a finish chunk,
then vLLM's usage chunk with its per-request `metrics`, then [DONE]. `state["mode"]`:
- "ok": as above, `delay_s` between chunks;
- "error": HTTP 500 with an OpenAI error body;
- "hang": accept the request and never answer (a stuck server);
- "hang_mid": stream the first chunk, then never send another.
`state["seen"]` collects every request body.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

PIECES = ["so", " \\boxed{", "7", "}"]
METRICS = {"queue_time_ms": 3.0, "time_to_first_token_ms": 5.0, "generation_time_ms": 7.0}


def fake_openai_app(state: dict[str, Any], delay_s: float = 0.01, pieces: list[str] = PIECES) -> FastAPI:
    state.setdefault("mode", "ok")
    state.setdefault("seen", [])
    app = FastAPI()

    @app.get("/health")
    async def health() -> Any:
        if state["mode"] == "hang":
            await asyncio.sleep(3600)
        return {}

    @app.get("/v1/models")
    async def models() -> dict:
        return {"data": [{"id": "fake"}]}

    async def answer(request: Request, chat: bool) -> Any:
        body = await request.json()
        state["seen"].append(body)
        mode = state["mode"]
        if mode == "error":
            return JSONResponse({"error": {"message": "boom", "type": "server_error", "code": 500}}, status_code=500)
        if mode == "hang":
            await asyncio.sleep(3600)
        out = pieces[: body.get("max_tokens") or len(pieces)]
        n_prompt = len(body["prompt"]) if "prompt" in body else sum(len(str(m["content"]).split())
                                                                    for m in body["messages"])
        usage = {"prompt_tokens": n_prompt, "completion_tokens": len(out), "total_tokens": n_prompt + len(out)}

        def choice(i: int, text: str, finish: str | None = None) -> dict:
            c: dict[str, Any] = {"index": 0, "finish_reason": finish}
            if chat:
                c["delta"] = {"content": text}
            else:
                c |= {"text": text, "token_ids": [i] if text else []}
            return c

        if not body.get("stream"):
            text = "".join(out)
            c = {"index": 0, "finish_reason": "stop", **({"message": {"role": "assistant", "content": text}} if chat
                                                          else {"text": text, "token_ids": [*range(len(out)), 0]})}  # EOS (id 0) ends it, as vLLM's ids do
            return {"choices": [c], "usage": usage}

        async def events() -> Any:
            for i, p in enumerate(out):
                if i == 1 and mode == "hang_mid":
                    await asyncio.sleep(3600)
                await asyncio.sleep(delay_s)
                yield f"data: {json.dumps({'choices': [choice(i, p)]})}\n\n"
            yield f"data: {json.dumps({'choices': [choice(len(out), '', 'stop')]})}\n\n"
            if (body.get("stream_options") or {}).get("include_usage"):
                yield f"data: {json.dumps({'choices': [], 'usage': usage, 'metrics': METRICS})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.post("/v1/completions")
    async def completions(request: Request) -> Any:
        return await answer(request, chat=False)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Any:
        return await answer(request, chat=True)

    return app


class Served:
    """An ASGI app served by uvicorn in a thread on `port` (stop it, and start it again on the same port)."""

    def __init__(self, app: Any, port: int) -> None:
        self.app, self.port = app, port
        self.url = f"http://127.0.0.1:{port}"
        self.server: Any = None
        self.thread: threading.Thread | None = None

    def start(self) -> Served:
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            assert self.thread is not None
            self.thread.join(timeout=3)
            if self.thread.is_alive():  # a hanging handler must not hold the port
                self.server.force_exit = True
                self.thread.join(timeout=10)
            self.server = None
