"""`python -m hawkeye.serve`: the A→B pipeline behind one OpenAI-compatible chat endpoint (`hawkeye.serving`)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import compose_config
from hawkeye.models.load import load_causal_lm, load_tokenizer, resolve_model_path
from hawkeye.prompts import render
from hawkeye.serving.app import build_app
from hawkeye.serving.chat_models import ChatModel, Decoding, Generated, LocalHFChatModel, RemoteChatModel
from hawkeye.serving.pipeline import Pipeline


@pytest.fixture(scope="module")
def tiny_client(tiny_models_dir: Path) -> TestClient:
    def local(spec: str) -> LocalHFChatModel:
        path = resolve_model_path(spec, str(tiny_models_dir))
        return LocalHFChatModel(load_causal_lm(path).eval(), load_tokenizer(path))

    # B without the tiny models' stop channel (`eos=0`): it always writes an answer to stream.
    pipe = Pipeline(local("tiny:qwen2?seed=0"), local("tiny:qwen2?seed=1&eos=0"), cot_max_tokens=8, answer_max_tokens=6)
    return TestClient(build_app(pipe))


def test_health_and_models(tiny_client: TestClient) -> None:
    assert tiny_client.get("/health").json() == {"status": "ok", "models": {"model": "ok"}}  # both unnamed
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
    usage = out["usage"]
    reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
    assert 0 < reasoning <= 8 and 0 < usage["completion_tokens"] - reasoning <= 4  # max_tokens caps B only


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
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")  # B hit EOS or its cap


def test_bad_request_is_400(tiny_client: TestClient) -> None:
    r = tiny_client.post("/v1/chat/completions", json={"messages": [{"role": "system", "content": "hi"}]})
    assert r.status_code == 400 and "must be from the user" in r.text
    assert r.json()["error"]["param"] == "messages[0].role"


class Scripted(ChatModel):
    """A stand-in model: each chunk is one token; the prompt counts one token per word."""

    def __init__(self, chunks: list[str]) -> None:
        self.chunks = chunks
        self.seen: list[list[dict[str, str]]] = []
        self.calls: list[tuple[int, Decoding]] = []

    async def stream(self, messages: list[dict[str, str]], max_tokens: int, decoding: Decoding,
                     out: Generated) -> AsyncIterator[str]:
        self.seen.append(messages)
        self.calls.append((max_tokens, decoding))
        for c in self.chunks[:max_tokens]:
            yield c
        out.prompt_tokens = sum(len(m["content"].split()) for m in messages)
        out.completion_tokens = min(len(self.chunks), max_tokens)
        out.finish_reason = "length" if len(self.chunks) > max_tokens else "stop"


def test_b_reads_the_cot_with_the_answer_masked() -> None:
    a, b = Scripted(["3 + 4 = 7, ", "so \\boxed{7}"]), Scripted(["\\boxed{7}"])
    client = TestClient(build_app(Pipeline(a, b, 16, 8, answer_leak="mask")))
    r = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "3 + 4?"}]})
    assert r.json()["choices"][0]["message"]["content"] == "\\boxed{7}"
    b_prompt = b.seen[0][0]["content"]
    reasoning = b_prompt.split("Reasoning:")[1].split("The reasoning")[0]
    assert reasoning.strip() == "3 + 4 = [masked], so \\boxed{[masked]}"  # A's answer value masked, all else kept


def test_remote_models_are_streamed_from_openai_servers(live_server: Any) -> None:
    """A and B behind OpenAI chat servers (here: another hawkeye app on a real socket): the text,
    and the usage the upstream reported (not a count of chunks), with temperature and seed passed on."""
    a, b = Scripted(["thinking"]), Scripted(["\\boxed", "{5}"])
    url = live_server(build_app(Pipeline(a, b, 8, 8, answer_leak="allow")))
    client = TestClient(build_app(Pipeline(RemoteChatModel(url), RemoteChatModel(url), 8, 8)))
    r = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "2 + 3?"}],
                                                  "temperature": 0.5, "seed": 11})
    out = r.json()
    msg = out["choices"][0]["message"]
    assert msg["content"] == "\\boxed{5}" and msg["reasoning_content"] == "\\boxed{5}"
    # each upstream call reported usage = its A (1 token) + its B (2 tokens); the outer sums the two calls
    assert out["usage"]["completion_tokens"] == 6 and out["usage"]["completion_tokens_details"]["reasoning_tokens"] == 3
    upstream_prompts = sum(w for w in _prompt_words(a) + _prompt_words(b))
    assert out["usage"]["prompt_tokens"] == upstream_prompts
    assert {d for _, d in a.calls + b.calls} == {Decoding(0.5, 11)}


def _prompt_words(model: Scripted) -> list[int]:
    return [sum(len(m["content"].split()) for m in msgs) for msgs in model.seen]


def test_max_completion_tokens_caps_a_and_b_together() -> None:
    """OpenAI counts reasoning tokens against max_completion_tokens; max_tokens caps B's answer only."""
    a, b = Scripted(["a1 ", "a2 ", "a3 "]), Scripted(["b1", "b2", "b3", "b4"])
    client = TestClient(build_app(Pipeline(a, b, cot_max_tokens=16, answer_max_tokens=16)))
    q = {"messages": [{"role": "user", "content": "q?"}]}

    out = client.post("/v1/chat/completions", json=q | {"max_completion_tokens": 5}).json()
    assert out["choices"][0]["message"]["content"] == "b1b2" and out["choices"][0]["finish_reason"] == "length"
    assert out["usage"]["completion_tokens"] == 5 and out["usage"]["completion_tokens_details"]["reasoning_tokens"] == 3

    out = client.post("/v1/chat/completions", json=q | {"max_completion_tokens": 2}).json()  # the CoT uses it all
    assert out["choices"][0]["message"] == {"role": "assistant", "content": "", "reasoning_content": "a1 a2 "}
    assert out["choices"][0]["finish_reason"] == "length" and out["usage"]["completion_tokens"] == 2
    assert len(b.seen) == 1  # B was not called the second time

    out = client.post("/v1/chat/completions", json=q | {"max_tokens": 1}).json()
    assert out["choices"][0]["message"]["content"] == "b1" and out["usage"]["completion_tokens"] == 4
    assert out["choices"][0]["finish_reason"] == "length"
    out = client.post("/v1/chat/completions", json=q).json()
    assert out["choices"][0]["finish_reason"] == "stop" and out["usage"]["completion_tokens"] == 7


def test_sampling_is_seeded_on_local_models(tiny_client: TestClient) -> None:
    body = {"messages": [{"role": "user", "content": "What is 2 + 3?"}], "temperature": 1.5, "seed": 7}
    first, again = (tiny_client.post("/v1/chat/completions", json=body).json() for _ in range(2))
    other = tiny_client.post("/v1/chat/completions", json=body | {"seed": 8}).json()
    greedy = tiny_client.post("/v1/chat/completions", json=body | {"temperature": 0}).json()
    text = [o["choices"][0]["message"]["reasoning_content"] for o in (first, again, other, greedy)]
    assert text[0] == text[1] and len(set(text)) >= 3, text


def test_a_failing_model_ends_the_request_instead_of_hanging(tiny_models_dir: Path, live_server: Any) -> None:
    """An error inside generate() (in its own thread) once left the stream waiting forever."""
    import httpx

    path = resolve_model_path("tiny:qwen2?seed=0", str(tiny_models_dir))
    lm, tok = load_causal_lm(path).eval(), load_tokenizer(path)
    healthy_generate = lm.generate

    def fail_once(*args: Any, **kwargs: Any) -> Any:
        lm.generate = healthy_generate
        raise RuntimeError("kernel exploded")

    lm.generate = fail_once
    url = live_server(build_app(Pipeline(LocalHFChatModel(lm, tok, name="Model A"), LocalHFChatModel(lm, tok), 4, 4)))
    q = {"messages": [{"role": "user", "content": "2 + 3?"}]}
    with httpx.Client(base_url=url, timeout=30) as http:  # a hang fails here
        r = http.post("/v1/chat/completions", json=q)
        assert r.status_code == 500 and "Model A: generation failed: RuntimeError: kernel exploded" in r.text
        assert http.post("/v1/chat/completions", json=q).status_code == 200  # the model's lock was released


def test_the_served_a_stops_at_think_end_and_the_base_a_does_not(tiny_models_dir: Path) -> None:
    """A reasoning policy's CoT ends at `policy.think_end` (`hawkeye.cot`): the timed and served A asks
    its server to stop there; the Baseline (the base A answering in full) does not."""
    from omegaconf import OmegaConf

    from hawkeye.models.resolve import Model
    from hawkeye.serving.endpoints import Endpoint, chat_model

    path = resolve_model_path("tiny:qwen2?seed=0", str(tiny_models_dir))
    tok = load_tokenizer(path)
    policy = OmegaConf.create({"think_end": tok.eos_token})  # any single token of the policy's tokenizer
    model = Model("a", path, policy, tok)
    ep = Endpoint("http://127.0.0.1:9", "a")
    served, base = (chat_model(role, ep, model, policy, timeout_s=1) for role in ("hawkeye_a", "baseline_a"))
    (_, body), (_, base_body) = (m.payload([{"role": "user", "content": "q"}], 4, Decoding()) for m in (served, base))
    assert body["stop_token_ids"] == [tok.eos_token_id] and "stop_token_ids" not in base_body
    assert body["prompt"] == tok(render(tok, [{"role": "user", "content": "q"}]), add_special_tokens=False)["input_ids"]


def test_in_process_serve_stops_a_at_think_end_and_b_at_eos_alone(tiny_models_dir: Path, tmp_path: Path) -> None:
    """`hawkeye.serve --engine hf` decides where A stops as the served endpoints do
    (`serving.endpoints.role_stop_token_ids`): A at EOS and `policy.think_end`, B at EOS alone."""
    from hawkeye.serving.from_config import pipeline_from_config

    cfg = compose_config(["experiment=smoke", f"paths.models_dir={tiny_models_dir}", f"paths.runs_dir={tmp_path}",
                          "++policy.think_end='<|endoftext|>'"])  # a single token of the tiny tokenizer, not EOS
    with contextlib.ExitStack() as stack:
        pipe = pipeline_from_config(cfg, stack, "hf")
    a, b = pipe.a, pipe.b
    assert isinstance(a, LocalHFChatModel) and isinstance(b, LocalHFChatModel)
    end = a.tokenizer.convert_tokens_to_ids("<|endoftext|>")
    assert a.stop_ids == [a.tokenizer.eos_token_id, end]
    assert b.stop_ids == [b.tokenizer.eos_token_id]
