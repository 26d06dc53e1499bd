"""The latency replay (`eval.latency_replay`): every call generates exactly its given token count, so given
lengths (another run's) can be timed on these engines; a config naming a wrong key fails at start."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir

from fake_openai import Served, fake_openai_app
from hawkeye.config import validate
from hawkeye.errors import ConfigError
from hawkeye.evaluation.latency.client import closed_loop, through_pipeline
from hawkeye.evaluation.latency.measure import replay_lengths
from hawkeye.models.load import load_causal_lm, load_tokenizer, resolve_model_path
from hawkeye.paths import CONF_DIR
from hawkeye.process import free_port
from hawkeye.serving.chat_models import Decoding, Generated, LocalHFChatModel, RemoteChatModel
from hawkeye.serving.pipeline import Pipeline

EXACT = Decoding(exact_length=True)


def _stream(model: LocalHFChatModel, max_tokens: int, decoding: Decoding) -> Generated:
    async def run() -> Generated:
        out = Generated()
        async for _ in model.stream([{"role": "user", "content": "What is 2 + 3?"}], max_tokens, decoding, out):
            pass
        return out

    return asyncio.run(run())


def test_an_exact_length_call_runs_past_the_models_own_stop(tiny_models_dir: Path) -> None:
    path = resolve_model_path("tiny:qwen2?seed=0", str(tiny_models_dir))
    model = LocalHFChatModel(load_causal_lm(path).eval(), load_tokenizer(path))
    own = _stream(model, 40, Decoding())
    assert own.completion_tokens < 40  # the tiny A stops on its own well before the cap
    forced = _stream(model, 40, EXACT)
    assert forced.completion_tokens == 40 and forced.finish_reason == "length"


def test_a_replayed_full_request_asks_each_server_for_exactly_its_count() -> None:
    state: dict[str, Any] = {"mode": "ok"}
    served = Served(fake_openai_app(state, delay_s=0.0), free_port()).start()
    a, b = RemoteChatModel(served.url, "fake", name="Model A"), RemoteChatModel(served.url, "fake", name="Model B")

    async def run() -> None:
        try:
            await closed_loop(through_pipeline(Pipeline(a, b, 7, 3, answer_leak="allow"), ["q0"], EXACT), 1, 1, 10)
        finally:
            await a.aclose()
            await b.aclose()

    try:
        asyncio.run(run())
    finally:
        served.stop()
    a_body, b_body = state["seen"][-2:]
    # vLLM's own request fields: generate max_tokens tokens, EOS or not
    assert (a_body["max_tokens"], a_body["min_tokens"], a_body["ignore_eos"]) == (7, 7, True)
    assert (b_body["max_tokens"], b_body["min_tokens"], b_body["ignore_eos"]) == (3, 3, True)
    assert "min_tokens" not in a.payload([{"role": "user", "content": "q"}], 5, Decoding())[1]  # never by default


def _cfg(*overrides: str) -> Any:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=["experiment=real", *overrides])


def test_replay_lengths_come_from_the_config_and_a_wrong_key_fails_naming_it() -> None:
    assert replay_lengths(_cfg()) is None  # the models' own lengths unless a replay is asked for
    cfg = _cfg("++eval.latency_replay={baseline_tokens:64,cot_tokens:35,answer_tokens:18}")
    validate(cfg)
    assert replay_lengths(cfg) == {"baseline_tokens": 64, "cot_tokens": 35, "answer_tokens": 18}
    with pytest.raises(ConfigError, match=r"eval\.latency_replay.*cot_tokens"):
        validate(_cfg("++eval.latency_replay={baseline_tokens:64,cot:35,answer_tokens:18}"))
    with pytest.raises(ConfigError, match=r"eval\.latency_replay\.answer_tokens"):
        validate(_cfg("++eval.latency_replay={baseline_tokens:64,cot_tokens:35,answer_tokens:0}"))
