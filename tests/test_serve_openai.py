"""`hawkeye.serve` from outside, as clients call it: the `openai` package and raw HTTP on a real socket.

Token counts are checked against the models themselves: the prompts are counted with each model's
tokenizer, and the completions by generating the same seeded continuation again, whose decoded
text must equal what the server returned. (Sampled, not greedy: a random tiny model's greedy text
is one token repeated, whose streamed chunks and tokens coincide, so it could not tell a token
count from a chunk count.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import torch

from hawkeye.models.load import load_causal_lm, load_tokenizer, resolve_model_path
from hawkeye.prompts import reasoning_messages, render, responder_messages
from hawkeye.responder.reads import what_b_reads
from hawkeye.serving.app import build_app
from hawkeye.serving.chat_models import LocalHFChatModel
from hawkeye.serving.pipeline import Pipeline

COT_CAP, ANSWER_CAP = 10, 6
TEMPERATURE, SEED = 1.0, 1234
LINES = ["Tom has 3 apples and buys 4 more.", "How many apples does he have?"]
# the same question as a string and as content parts (text parts are joined with "\n", as vLLM does)
CONTENTS = {"string": "\n".join(LINES), "parts": [{"type": "text", "text": line} for line in LINES]}
QUESTION = CONTENTS["string"]


@pytest.fixture(scope="module")
def models(tiny_models_dir: Path) -> dict[str, tuple[Any, Any]]:
    out = {}
    for role, spec in (("a", "tiny:qwen2?seed=0"), ("b", "tiny:qwen2?seed=1")):
        path = resolve_model_path(spec, str(tiny_models_dir))
        out[role] = (load_causal_lm(path).eval(), load_tokenizer(path))
    return out


@pytest.fixture()
def base_url(models: dict[str, tuple[Any, Any]], live_server: Any) -> str:
    pipe = Pipeline(LocalHFChatModel(*models["a"], name="Model A"), LocalHFChatModel(*models["b"], name="Model B"),
                    cot_max_tokens=COT_CAP, answer_max_tokens=ANSWER_CAP)
    return live_server(build_app(pipe))


def _sample(model: Any, tok: Any, messages: list[dict[str, str]], cap: int) -> tuple[list[int], list[int]]:
    """(prompt ids, new ids) of the seeded generate the served model must have done."""
    prompt = tok(render(tok, messages), add_special_tokens=False)["input_ids"]
    torch.manual_seed(SEED)
    with torch.no_grad():
        seq = model.generate(torch.tensor([prompt]), max_new_tokens=cap, do_sample=True, temperature=TEMPERATURE,
                             top_k=0, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    return prompt, seq[0, len(prompt):].tolist()


def _expected_usage(models: dict[str, tuple[Any, Any]], cot: str, answer: str) -> dict[str, int]:
    (lm_a, tok_a), (lm_b, tok_b) = models["a"], models["b"]
    a_prompt, a_new = _sample(lm_a, tok_a, reasoning_messages(QUESTION), COT_CAP)
    assert tok_a.decode(a_new, skip_special_tokens=True) == cot  # the counted tokens are the returned text
    b_prompt, b_new = _sample(lm_b, tok_b, responder_messages(QUESTION, what_b_reads(cot, "mask")), ANSWER_CAP)
    assert tok_b.decode(b_new, skip_special_tokens=True) == answer
    return {"prompt_tokens": len(a_prompt) + len(b_prompt), "completion_tokens": len(a_new) + len(b_new),
            "reasoning_tokens": len(a_new)}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("content", ["string", "parts"])
def test_openai_client_gets_text_and_true_token_usage(
    base_url: str, models: dict[str, tuple[Any, Any]], content: str, stream: bool
) -> None:
    client = openai.OpenAI(base_url=base_url + "/v1", api_key="unused", timeout=60, max_retries=0)
    messages = [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": CONTENTS[content]}]
    if stream:
        chunks = list(client.chat.completions.create(model="hawkeye", messages=messages, stream=True,
                                                     stream_options={"include_usage": True},
                                                     temperature=TEMPERATURE, seed=SEED))
        deltas = [c.choices[0].delta for c in chunks if c.choices]
        answer = "".join(d.content or "" for d in deltas)
        cot = "".join((d.model_extra or {}).get("reasoning_content") or "" for d in deltas)
        assert [c.usage is None for c in chunks] == [True] * (len(chunks) - 1) + [False]  # usage last, once
        assert chunks[-1].choices == []
        usage = chunks[-1].usage
    else:
        resp = client.chat.completions.create(model="hawkeye", messages=messages, temperature=TEMPERATURE, seed=SEED)
        msg = resp.choices[0].message
        answer, cot, usage = msg.content, (msg.model_extra or {})["reasoning_content"], resp.usage
    assert usage is not None and cot and answer
    for n in (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens,
              usage.completion_tokens_details.reasoning_tokens):
        assert isinstance(n, int) and n > 0
    expected = _expected_usage(models, cot, answer)
    assert expected["completion_tokens"] > len(cot.split()) + len(answer.split())  # words (chunks) < tokens
    assert usage.prompt_tokens == expected["prompt_tokens"]
    assert usage.completion_tokens == expected["completion_tokens"]
    assert usage.completion_tokens_details.reasoning_tokens == expected["reasoning_tokens"]
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_max_tokens_and_max_completion_tokens_via_openai(base_url: str) -> None:
    client = openai.OpenAI(base_url=base_url + "/v1", api_key="unused", timeout=60, max_retries=0)
    messages = [{"role": "user", "content": QUESTION}]
    capped = client.chat.completions.create(model="hawkeye", messages=messages, max_tokens=2)
    assert capped.usage.completion_tokens - capped.usage.completion_tokens_details.reasoning_tokens <= 2
    budget = client.chat.completions.create(model="hawkeye", messages=messages, max_completion_tokens=7)
    assert budget.usage.completion_tokens <= 7


QUESTION_MSG = [{"role": "user", "content": "2 + 3?"}]
BAD = {  # body -> the field the 400 must name
    "max_tokens_negative": ({"messages": QUESTION_MSG, "max_tokens": -5}, "max_tokens"),
    "max_tokens_zero": ({"messages": QUESTION_MSG, "max_tokens": 0}, "max_tokens"),
    "max_tokens_string": ({"messages": QUESTION_MSG, "max_tokens": "5"}, "max_tokens"),
    "max_tokens_over_context": ({"messages": QUESTION_MSG, "max_tokens": 10**6}, "max_tokens"),
    "max_completion_tokens_zero": ({"messages": QUESTION_MSG, "max_completion_tokens": 0}, "max_completion_tokens"),
    "messages_missing": ({"model": "hawkeye"}, "messages"),
    "messages_empty": ({"messages": []}, "messages"),
    "messages_not_a_list": ({"messages": "2 + 3?"}, "messages"),
    "last_not_user": ({"messages": QUESTION_MSG + [{"role": "assistant", "content": "5"}]}, "messages[1].role"),
    "role_missing": ({"messages": [{"content": "2 + 3?"}]}, "messages[0].role"),
    "empty_question": ({"messages": [{"role": "user", "content": "  "}]}, "messages[0].content"),
    "content_number": ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    "image_part": ({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}]}, "messages[0].content[1].type"),
    "part_without_text": ({"messages": [{"role": "user", "content": [{"type": "text"}]}]},
                          "messages[0].content[0].text"),
    "n_two": ({"messages": QUESTION_MSG, "n": 2}, "n"),
    "temperature_string": ({"messages": QUESTION_MSG, "temperature": "hot"}, "temperature"),
    "temperature_too_high": ({"messages": QUESTION_MSG, "temperature": 9}, "temperature"),
    "seed_float": ({"messages": QUESTION_MSG, "seed": 1.5}, "seed"),
    "seed_over_int64": ({"messages": QUESTION_MSG, "seed": 2**70}, "seed"),
    "stream_string": ({"messages": QUESTION_MSG, "stream": "yes"}, "stream"),
    "stream_options_without_stream": ({"messages": QUESTION_MSG, "stream_options": {"include_usage": True}},
                                      "stream_options"),
    "include_usage_string": ({"messages": QUESTION_MSG, "stream": True, "stream_options": {"include_usage": "y"}},
                             "stream_options.include_usage"),
    "body_array": ([QUESTION_MSG], "body"),
}


@pytest.mark.parametrize("case", sorted(BAD) + ["not_json"])
def test_each_bad_value_is_a_400_naming_the_field_and_the_server_stays_up(base_url: str, case: str) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as http:  # a hang fails here, not at the suite timeout
        if case == "not_json":
            r, field = http.post("/v1/chat/completions", content=b"{'messages': oops",
                                 headers={"content-type": "application/json"}), "body"
        else:
            body, field = BAD[case]
            r = http.post("/v1/chat/completions", json=body)
        assert r.status_code == 400, (r.status_code, r.text)
        error = r.json()["error"]
        assert error["param"] == field and field in error["message"], error
        assert error["type"] == "invalid_request_error"
        ok = http.post("/v1/chat/completions", json={"messages": QUESTION_MSG, "max_tokens": 2})
        assert ok.status_code == 200 and ok.json()["usage"]["completion_tokens"] > 0


def test_streamed_answer_over_context_ends_with_an_error_naming_max_tokens(base_url: str) -> None:
    """B's prompt holds A's CoT, so B's overflow shows only after A has streamed (the headers are
    sent): the stream then carries OpenAI's error body instead of hanging, and the server stays up."""
    body = {"messages": QUESTION_MSG, "stream": True, "max_tokens": 2040}  # fits nothing B could read
    with httpx.Client(base_url=base_url, timeout=30) as http:
        with http.stream("POST", "/v1/chat/completions", json=body) as r:
            lines = [ln for ln in r.iter_lines() if ln.startswith("data: ")]
        assert '"param": "max_tokens"' in lines[-1] and "exceeds its context" in lines[-1]
        assert http.post("/v1/chat/completions", json={"messages": QUESTION_MSG}).status_code == 200


def test_unknown_fields_are_ignored(base_url: str) -> None:
    body = {"messages": QUESTION_MSG, "max_tokens": 2, "top_k": 3, "ignore_eos": True, "user": "u1",
            "logit_bias": {}, "frequency_penalty": 0.0, "model": "anything"}
    assert httpx.post(base_url + "/v1/chat/completions", json=body, timeout=30).status_code == 200


def test_openai_client_raises_bad_request_with_the_message(base_url: str) -> None:
    client = openai.OpenAI(base_url=base_url + "/v1", api_key="unused", timeout=30, max_retries=0)
    with pytest.raises(openai.BadRequestError, match="n: only n=1 is supported"):
        client.chat.completions.create(model="hawkeye", messages=QUESTION_MSG, n=3)


@pytest.mark.vllm
def test_usage_comes_from_the_vllm_servers_when_a_and_b_are_remote(tiny_models_dir: Path, tmp_path: Path,
                                                                   live_server: Any) -> None:
    """A and B on a real vLLM server: the pipeline's usage is the sum of what vLLM reported for the
    same two calls, made again directly (greedy, so the same text and the same counts)."""
    from omegaconf import OmegaConf

    from hawkeye.serving.chat_models import RemoteChatModel
    from hawkeye.serving.servers import running, vllm_server

    path = resolve_model_path("tiny:qwen2?seed=0", str(tiny_models_dir))
    vcfg = OmegaConf.create({"max_model_len": 512, "tensor_parallel_size": 1, "gpu_memory_utilization": 0.3,
                             "enforce_eager": True, "cpu_kvcache_space_gib": 1})
    server = vllm_server(path, "tiny-a", "127.0.0.1", tmp_path, vcfg)
    with running([server], timeout_s=240):
        vllm = openai.OpenAI(base_url=server.base_url + "/v1", api_key="unused", timeout=60, max_retries=0)
        url = live_server(build_app(Pipeline(RemoteChatModel(server.base_url), RemoteChatModel(server.base_url),
                                             cot_max_tokens=COT_CAP, answer_max_tokens=ANSWER_CAP)))
        hawkeye = openai.OpenAI(base_url=url + "/v1", api_key="unused", timeout=60, max_retries=0)
        messages = [{"role": "user", "content": CONTENTS["parts"]}]
        whole = hawkeye.chat.completions.create(model="hawkeye", messages=messages)
        streamed = list(hawkeye.chat.completions.create(model="hawkeye", messages=messages, stream=True,
                                                        stream_options={"include_usage": True}))
        cot = whole.choices[0].message.model_extra["reasoning_content"]
        a = vllm.chat.completions.create(model="tiny-a", messages=reasoning_messages(QUESTION), max_tokens=COT_CAP,
                                         temperature=0)
        b = vllm.chat.completions.create(model="tiny-a", messages=responder_messages(QUESTION, what_b_reads(cot, "mask")),
                                         max_tokens=ANSWER_CAP, temperature=0)
    assert a.choices[0].message.content == cot and b.choices[0].message.content == whole.choices[0].message.content
    for usage in (whole.usage, streamed[-1].usage):
        assert usage.prompt_tokens == a.usage.prompt_tokens + b.usage.prompt_tokens
        assert usage.completion_tokens == a.usage.completion_tokens + b.usage.completion_tokens
        assert usage.completion_tokens_details.reasoning_tokens == a.usage.completion_tokens
