"""The `evaluate` stage end to end on tiny models: files, metrics, MLflow runs."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from conftest import compose_config
from hawkeye.files import write_jsonl
from hawkeye.paths import REPO_ROOT

GOLDS = ["7", "15", "7", "4"]


def _load_pipeline():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("evaluate_pipeline", REPO_ROOT / "pipelines" / "evaluate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _write_prepared(d: Path) -> None:
    for name in ("gsm8k_test", "aime"):
        write_jsonl(d / f"{name}.jsonl", [
            {"id": f"{name}-{i}", "source": name, "question": f"What is {g} + 0?", "answer": g, "reference_cot": g}
            for i, g in enumerate(GOLDS)])


def _run(overrides: list[str], tmp_path: Path) -> Path:
    _write_prepared(tmp_path / "prepared")
    _load_pipeline().main(compose_config(overrides))
    return tmp_path / "eval"


def test_quality_only(smoke_overrides: list[str], tmp_path: Path, mlflow_uri: str) -> None:
    out = _run([*smoke_overrides, "eval.latency=false", "eval.include_b_alone=true", "eval.max_new_tokens=10"], tmp_path)
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"gsm8k_test", "aime"}
    q = metrics["gsm8k_test"]["quality"]
    assert q["n"] == 4 and 0 <= q["baseline_accuracy"] <= 1
    assert 0 < q["baseline_a_tokens"] <= 10 and 0 < q["hawkeye_b_tokens"] <= 8  # eval cap; smoke's B cap
    assert q["hawkeye_tokens"] == pytest.approx(q["hawkeye_a_tokens"] + q["hawkeye_b_tokens"])
    samples = [json.loads(x) for x in (out / "samples" / "aime.jsonl").read_text().splitlines()]
    assert [s["method"] for s in samples[:3]] == ["baseline", "hawkeye", "b_alone"] and len(samples) == 12
    table = (out / "results.md").read_text()
    for col in ("Dataset", "Method", "Concurrency", "Time per Req (s)", "Avg TBT (s)", "Tokens", "Accuracy",
                "Compression"):
        assert col in table
    runs = mlflow.search_runs(experiment_names=["hawkeye-smoke"])
    assert len(runs) == 2 and set(runs["tags.stage"]) == {"evaluate"}
    assert set(runs["tags.dataset"]) == {"gsm8k_test", "aime"}
    assert "metrics.quality/hawkeye_accuracy" in runs.columns


# --- a fake OpenAI-compatible server: every completion is "so \boxed{7}" -------------------------
PIECES = ["so", " \\boxed{", "7", "}"]


def _fake_app():  # noqa: ANN202
    from fastapi import FastAPI
    from fastapi.responses import StreamingResponse

    app = FastAPI()

    @app.get("/health")
    async def health() -> dict:
        return {}

    @app.get("/v1/models")
    async def models() -> dict:
        return {"data": [{"id": "fake"}]}

    @app.post("/v1/completions")
    async def completions(body: dict):  # noqa: ANN202
        pieces = PIECES[: body["max_tokens"]]
        if not body.get("stream"):
            return {"choices": [{"text": "".join(pieces), "token_ids": list(range(len(pieces))) + [0],
                                 "finish_reason": "stop"}]}

        async def events():  # noqa: ANN202
            for i, p in enumerate(pieces):
                await asyncio.sleep(0.01)
                yield f"data: {json.dumps({'choices': [{'text': p, 'token_ids': [i]}]})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


@pytest.fixture()
def fake_url() -> Iterator[str]:
    import uvicorn

    from hawkeye.evaluation.servers import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(_fake_app(), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_quality_through_servers_and_latency(smoke_overrides: list[str], tmp_path: Path, mlflow_uri: str,
                                             fake_url: str) -> None:
    out = _run([*smoke_overrides, "eval.quality_backend=server", f"eval.policy_url={fake_url}",
                f"eval.responder_url={fake_url}", "eval.datasets=[gsm8k_test]", "eval.concurrency=[1,3]",
                "eval.latency_requests=5"], tmp_path)
    q = json.loads((out / "metrics.json").read_text())["gsm8k_test"]["quality"]
    assert q["baseline_accuracy"] == pytest.approx(0.5) and q["hawkeye_accuracy"] == pytest.approx(0.5)
    assert q["baseline_a_tokens"] == 4 and q["compression"] == pytest.approx(0.0)  # same A: nothing removed; EOS not counted
    lat = json.loads((out / "latency.json").read_text())
    assert lat["models"]["responder"] and lat["hardware"]["cpu_cores"] >= 1
    cells = lat["results"]["gsm8k_test"]
    assert set(cells) == {"baseline_full", "cot_only", "full"} and set(cells["full"]) == {"1", "3"}
    full = cells["full"]["3"]
    assert full["requests"] == 5 and full["failed"] == 0
    assert full["tokens_mean"] == 4 + 4  # A's four pieces, then B's four (8 >= the smoke cap of B)
    assert full["e2e_s_mean"] > cells["cot_only"]["3"]["e2e_s_mean"] * 0.5
    run = mlflow.search_runs(experiment_names=["hawkeye-smoke"]).iloc[0]
    assert run["metrics.latency/full/c3/e2e_s_mean"] > 0 and run["metrics.latency/full/c3/failed"] == 0
    assert "| gsm8k_test | Hawkeye (Full) | 3 |" in (out / "results.md").read_text()
