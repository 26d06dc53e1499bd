"""Latency arithmetic on known timestamps, and failed requests counted by the streaming client."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator

import pytest

from hawkeye.evaluation import latency as lat
from hawkeye.evaluation.metrics import RequestRecord, Stream, percentiles, summarize


def _stream(t_sent: float, times: list[float], tokens: list[int] | None = None) -> Stream:
    s = Stream(t_sent=t_sent)
    for t, n in zip(times, tokens or [1] * len(times), strict=True):
        s.add(t, n, "x")
    return s


def test_single_stream_timings() -> None:
    # sent at 10.0, tokens at 10.5, 10.7, 10.9, 11.1: TTFT 0.5, TBT 0.2, e2e 1.1
    rec = RequestRecord(streams=[_stream(10.0, [10.5, 10.7, 10.9, 11.1])], t_sent=10.0, t_done=11.1)
    assert rec.ttft == pytest.approx(0.5)
    assert rec.tbt == pytest.approx(0.2)
    assert rec.e2e == pytest.approx(1.1)
    assert rec.num_tokens == 4


def test_multi_token_chunks_spread_the_gap() -> None:
    # 3 chunks carrying 1+2+1 tokens over 0.6 s: 3 gaps between 4 tokens -> 0.2 s each
    rec = RequestRecord(streams=[_stream(0.0, [1.0, 1.3, 1.6], [1, 2, 1])], t_sent=0.0, t_done=1.6)
    assert rec.tbt == pytest.approx(0.2)
    assert rec.num_tokens == 4


def test_full_pipeline_excludes_the_handoff_gap() -> None:
    # A: tokens at 1.0..1.3 (3 gaps of 0.1); hand-off 2 s; B: tokens at 3.3..3.35 (1 gap of 0.05)
    a = _stream(0.0, [1.0, 1.1, 1.2, 1.3])
    b = _stream(3.0, [3.3, 3.35])
    rec = RequestRecord(streams=[a, b], t_sent=0.0, t_done=3.35)
    assert rec.tbt == pytest.approx((0.3 + 0.05) / 4)
    assert rec.e2e == pytest.approx(3.35)  # from A's request to B's last token
    assert rec.ttft == pytest.approx(1.0)
    assert rec.num_tokens == 6


def test_percentiles_and_summary_count_failures() -> None:
    assert percentiles([1.0, 2.0, 3.0, 4.0])["p50"] == pytest.approx(2.5)
    assert percentiles([float(i) for i in range(1, 101)])["p99"] == pytest.approx(99.01)
    ok = [RequestRecord(streams=[_stream(0, [0.1, 0.2])], t_sent=0.0, t_done=e) for e in (1.0, 2.0, 3.0)]
    bad = RequestRecord(t_sent=0.0, t_done=9.0, error="timeout after 5 s")
    s = summarize([*ok, bad], wall_s=4.0)
    assert (s["requests"], s["completed"], s["failed"]) == (4, 3, 1)
    assert s["e2e_s_mean"] == pytest.approx(2.0)  # the failed request adds no timing
    assert s["requests_per_s"] == pytest.approx(3 / 4.0)
    assert s["tokens_mean"] == pytest.approx(2.0)
    assert s["errors"] == ["timeout after 5 s"]


# --- a tiny fake OpenAI-compatible server: streams, errors, hangs ---------------------------------


def _fake_app():  # noqa: ANN202
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse, StreamingResponse

    app = FastAPI()

    @app.post("/v1/completions")
    async def completions(body: dict):  # noqa: ANN202
        mode = body["model"]
        if mode == "error":
            return JSONResponse({"error": "boom"}, status_code=500)

        async def events():  # noqa: ANN202
            for i in range(body["max_tokens"]):
                await asyncio.sleep(5.0 if mode == "hang" else 0.02)
                yield f"data: {json.dumps({'choices': [{'text': f't{i} ', 'token_ids': [i]}]})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


@pytest.fixture(scope="module")
def fake_server() -> Iterator[str]:
    import uvicorn

    from hawkeye.evaluation.servers import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(_fake_app(), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_client_measures_a_fake_stream(fake_server: str) -> None:
    ep = lat.Endpoint(fake_server, "ok")
    records, wall = lat.run(lat.closed_loop(lat.single_request(ep, [[1, 2, 3]], 5), 4, 2, timeout_s=10))
    s = summarize(records, wall)
    assert s["completed"] == 4 and s["failed"] == 0
    assert s["tokens_mean"] == 5
    assert 0.01 < s["tbt_s_mean"] < 0.2  # ~0.02 s between tokens
    assert s["e2e_s_mean"] >= 0.08


def test_error_and_timeout_are_counted_failed(fake_server: str) -> None:
    for model, expect in (("error", "HTTP 500"), ("hang", "timeout")):
        ep = lat.Endpoint(fake_server, model)
        records, wall = lat.run(lat.closed_loop(lat.single_request(ep, [[1]], 3), 2, 2, timeout_s=0.5))
        s = summarize(records, wall)
        assert (s["requests"], s["failed"], s["completed"]) == (2, 2, 0), s
        assert all(expect in r.error for r in records if r.error)


def test_full_request_chains_a_then_b(fake_server: str) -> None:
    a, b = lat.Endpoint(fake_server, "ok"), lat.Endpoint(fake_server, "ok")
    seen: list[str] = []

    def prompt_b(i: int, cot: str) -> list[int]:
        seen.append(cot)
        return [7]

    req = lat.collaborative_request(a, b, [[1], [2]], prompt_b, 4, 2)
    records, _ = lat.run(lat.closed_loop(req, 2, 1, timeout_s=10))
    assert seen == ["t0 t1 t2 t3 "] * 2  # B read A's streamed CoT
    assert all(r.ok and r.num_tokens == 6 and len(r.streams) == 2 for r in records)
    assert all(r.e2e >= r.streams[1].chunk_times[-1] - r.t_sent - 1e-9 for r in records)
