"""The latency part: per-request timings and their breakdown on known timestamps, and the client
against a stand-in OpenAI server (streams, errors, a stuck server, the A → B pipeline)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from fake_openai import METRICS, PIECES, Served, fake_openai_app
from hawkeye.evaluation.latency.client import closed_loop, single, through_pipeline
from hawkeye.evaluation.latency.stats import RequestRecord, breakdown, percentiles, summarize
from hawkeye.process import free_port
from hawkeye.serving.chat_models import Generated, RemoteChatModel
from hawkeye.serving.pipeline import Pipeline


def _call(t_sent: float, times: list[float], tokens: list[int] | None = None, t_end: float | None = None,
          engine: dict[str, float] | None = None) -> Generated:
    g = Generated(t_sent=t_sent, engine=engine or {})
    for t, n in zip(times, tokens or [1] * len(times), strict=True):
        g.add_chunk(t, n)
    g.t_end = times[-1] if t_end is None else t_end
    return g


def test_single_call_timings() -> None:
    # sent at 10.0, tokens at 10.5, 10.7, 10.9, 11.1: TTFT 0.5, TBT 0.2, e2e 1.1
    rec = RequestRecord(calls=[_call(10.0, [10.5, 10.7, 10.9, 11.1])], t_sent=10.0, t_done=11.1)
    assert rec.ttft == pytest.approx(0.5)
    assert rec.tbt == pytest.approx(0.2)
    assert rec.e2e == pytest.approx(1.1)
    assert rec.num_tokens == 4
    assert rec.breakdown() == pytest.approx({"a_ttft": 0.5, "a_decode": 0.6})


def test_multi_token_chunks_spread_the_gap() -> None:
    # 3 chunks carrying 1+2+1 tokens over 0.6 s: 3 gaps between 4 tokens -> 0.2 s each
    rec = RequestRecord(calls=[_call(0.0, [1.0, 1.3, 1.6], [1, 2, 1])], t_sent=0.0, t_done=1.6)
    assert rec.tbt == pytest.approx(0.2)
    assert rec.num_tokens == 4


def test_full_request_breakdown_adds_up_to_e2e() -> None:
    # A: tokens at 1.0..1.3, its stream ends at 1.35; B sent at 1.4, tokens at 3.3..3.35
    a = _call(0.0, [1.0, 1.1, 1.2, 1.3], t_end=1.35, engine={"queue_time_ms": 200.0, "time_to_first_token_ms": 50.0})
    b = _call(1.4, [3.3, 3.35], engine={"queue_time_ms": 1500.0, "time_to_first_token_ms": 100.0})
    rec = RequestRecord(calls=[a, b], t_sent=0.0, t_done=3.35)
    assert rec.tbt == pytest.approx((0.3 + 0.05) / 4)  # the hand-off is not a between-token gap
    assert rec.e2e == pytest.approx(3.35) and rec.ttft == pytest.approx(1.0) and rec.num_tokens == 6
    parts = rec.breakdown()
    assert parts == pytest.approx({"a_ttft": 1.0, "a_decode": 0.3, "a_close": 0.05, "handoff": 0.05, "b_ttft": 1.9,
                                   "b_decode": 0.05, "a_queue": 0.2, "a_prefill": 0.05, "b_queue": 1.5,
                                   "b_prefill": 0.1})
    consecutive = ("a_ttft", "a_decode", "a_close", "handoff", "b_ttft", "b_decode")
    assert sum(parts[k] for k in consecutive) == pytest.approx(rec.e2e)
    assert breakdown([rec, rec])["b_queue"] == pytest.approx({"mean": 1.5, "p50": 1.5})


def test_percentiles_and_summary_count_failures() -> None:
    assert percentiles([1.0, 2.0, 3.0, 4.0])["p50"] == pytest.approx(2.5)
    assert percentiles([float(i) for i in range(1, 101)])["p99"] == pytest.approx(99.01)
    ok = [RequestRecord(calls=[_call(0, [0.1, 0.2])], t_sent=0.0, t_done=e) for e in (1.0, 2.0, 3.0)]
    bad = RequestRecord(t_sent=0.0, t_done=9.0, error="timeout after 5 s")
    s = summarize([*ok, bad], wall_s=4.0)
    assert (s["requests"], s["completed"], s["failed"]) == (4, 3, 1)
    assert s["e2e_s_mean"] == pytest.approx(2.0)  # the failed request adds no timing
    assert s["requests_per_s"] == pytest.approx(3 / 4.0)
    assert s["tokens_mean"] == pytest.approx(2.0)
    assert s["errors"] == ["timeout after 5 s"]
    assert "a_ttft" in breakdown([*ok, bad]) and len(breakdown([bad])) == 0


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[str, dict[str, Any]]]:
    state: dict[str, Any] = {}
    served = Served(fake_openai_app(state, delay_s=0.02), free_port()).start()
    yield served.url, state
    served.stop()


def _messages(n: int = 2) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": f"q{i}"}] for i in range(n)]


async def _run(request: Any, n: int, c: int, timeout_s: float, models: list[RemoteChatModel]) -> Any:
    try:
        return await closed_loop(request, n, c, timeout_s)
    finally:
        for m in models:
            await m.aclose()


def test_client_measures_a_stream_with_the_engine_figures(fake: tuple[str, dict[str, Any]]) -> None:
    url, state = fake
    state["mode"] = "ok"
    model = RemoteChatModel(url, "fake")
    records, wall = asyncio.run(_run(single(model, _messages(), 5), 4, 2, 10, [model]))
    s = summarize(records, wall)
    assert s["completed"] == 4 and s["failed"] == 0 and s["tokens_mean"] == len(PIECES)
    assert 0.01 < s["tbt_s_mean"] < 0.5  # ~0.02 s between tokens
    parts = breakdown(records)
    assert parts["a_queue"]["mean"] == METRICS["queue_time_ms"] / 1000  # vLLM's own figure, carried through
    assert state["seen"][-1]["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("mode", ["error", "hang", "hang_mid"])
def test_errors_and_stuck_servers_are_counted_failed_within_the_timeout(fake: tuple[str, dict[str, Any]],
                                                                       mode: str) -> None:
    url, state = fake
    state["mode"] = mode
    model = RemoteChatModel(url, "fake", timeout_s=0.5)  # each wait on the server, then the request's own bound
    records, wall = asyncio.run(_run(single(model, _messages(), 3), 2, 2, 30, [model]))
    state["mode"] = "ok"
    s = summarize(records, wall)
    assert (s["requests"], s["failed"], s["completed"]) == (2, 2, 0), s
    expect = "HTTP 502" if mode == "error" else "HTTP 504"
    assert all(expect in (r.error or "") for r in records), [r.error for r in records]
    assert wall < 10  # bounded by the 0.5 s timeout, not the 30 s request bound (nor a hang)


def test_full_request_runs_the_serving_pipeline(fake: tuple[str, dict[str, Any]]) -> None:
    url, state = fake
    state["mode"] = "ok"
    a, b = RemoteChatModel(url, "fake", name="Model A"), RemoteChatModel(url, "fake", name="Model B")
    n_seen = len(state["seen"])
    request = through_pipeline(Pipeline(a, b, 8, 3, answer_leak="allow"), ["q0", "q1"])
    records, _ = asyncio.run(_run(request, 2, 1, 10, [a, b]))
    b_prompts = [body["messages"][0]["content"] for body in state["seen"][n_seen + 1::2]]
    assert all("Reasoning: so \\boxed{7}" in p for p in b_prompts) and len(b_prompts) == 2  # B read A's stream
    assert all(r.ok and r.num_tokens == 4 + 3 and len(r.calls) == 2 for r in records)
    assert all(r.e2e == pytest.approx(r.calls[1].chunk_times[-1] - r.t_sent) for r in records)
    assert {"handoff", "b_ttft", "b_queue"} <= set(breakdown(records))
