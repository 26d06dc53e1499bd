"""`python -m hawkeye.serve`: the A→B pipeline behind one OpenAI-compatible chat endpoint."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hawkeye.models.load import load_causal_lm, load_tokenizer, resolve_model_path
from hawkeye.serve import ChatModel, LocalHFChatModel, Pipeline, build_app


@pytest.fixture(scope="module")
def tiny_client(tiny_models_dir: Path) -> TestClient:
    def local(spec: str) -> LocalHFChatModel:
        path = resolve_model_path(spec, str(tiny_models_dir))
        return LocalHFChatModel(load_causal_lm(path).eval(), load_tokenizer(path))

    # B without the tiny models' stop channel (`eos=0`): it always writes an answer to stream.
    pipe = Pipeline(local("tiny:qwen2?seed=0"), local("tiny:qwen2?seed=1&eos=0"), cot_max_tokens=8, answer_max_tokens=6)
    return TestClient(build_app(pipe))


def test_health_and_models(tiny_client: TestClient) -> None:
    assert tiny_client.get("/health").json() == {"status": "ok"}
    assert tiny_client.get("/v1/models").json()["data"][0]["id"] == "hawkeye"


def test_chat_completion_answers_with_b(tiny_client: TestClient) -> None:
    body = {"model": "hawkeye", "messages": [{"role": "user", "content": "What is 2 + 3?"}], "max_tokens": 4}
    r = tiny_client.post("/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["object"] == "chat.completion"
    msg = out["choices"][0]["message"]
    assert msg["role"] == "assistant" and isinstance(msg["content"], str) and msg["content"]
    assert msg["reasoning_content"]  # A's CoT, returned alongside
    assert 0 < out["usage"]["completion_chunks"] <= 4  # max_tokens caps B's answer


def test_chat_completion_streams(tiny_client: TestClient) -> None:
    body = {"messages": [{"role": "user", "content": "What is 2 + 3?"}], "stream": True}
    with tiny_client.stream("POST", "/v1/chat/completions", json=body) as r:
        lines = [ln.removeprefix("data: ") for ln in r.iter_lines() if ln.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(x) for x in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant"}
    kinds = [next(iter(d)) for d in deltas[1:-1]]
    assert "content" in kinds and "reasoning_content" in kinds
    assert kinds.index("content") > max(i for i, k in enumerate(kinds) if k == "reasoning_content")  # A then B
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_bad_request_is_400(tiny_client: TestClient) -> None:
    r = tiny_client.post("/v1/chat/completions", json={"messages": [{"role": "system", "content": "hi"}]})
    assert r.status_code == 400 and "user message" in r.text


class Scripted(ChatModel):
    def __init__(self, chunks: list[str]) -> None:
        self.chunks = chunks
        self.seen: list[list[dict[str, str]]] = []

    async def stream(self, messages: list[dict[str, str]], max_tokens: int) -> AsyncIterator[str]:
        self.seen.append(messages)
        for c in self.chunks:
            yield c


def test_b_reads_the_cot_with_the_answer_masked() -> None:
    a, b = Scripted(["3 + 4 = 7, ", "so \\boxed{7}"]), Scripted(["\\boxed{7}"])
    client = TestClient(build_app(Pipeline(a, b, 16, 8, answer_leak="mask")))
    r = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "3 + 4?"}]})
    assert r.json()["choices"][0]["message"]["content"] == "\\boxed{7}"
    b_prompt = b.seen[0][0]["content"]
    reasoning = b_prompt.split("Reasoning:")[1].split("The reasoning")[0]
    assert reasoning.strip() == "3 + 4 = [masked], so \\boxed{[masked]}"  # A's answer value masked, all else kept


def test_remote_models_are_streamed_from_openai_servers() -> None:
    """A and B behind OpenAI chat servers (here: another hawkeye app on a real socket)."""
    import threading
    import time

    import uvicorn

    from hawkeye.evaluation.servers import free_port
    from hawkeye.serve import RemoteChatModel

    upstream = build_app(Pipeline(Scripted(["thinking"]), Scripted(["\\boxed", "{5}"]), 8, 8, answer_leak="allow"))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(upstream, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        url = f"http://127.0.0.1:{port}"
        client = TestClient(build_app(Pipeline(RemoteChatModel(url), RemoteChatModel(url), 8, 8)))
        r = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "2 + 3?"}]})
        msg = r.json()["choices"][0]["message"]
        assert msg["content"] == "\\boxed{5}" and msg["reasoning_content"] == "\\boxed{5}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
