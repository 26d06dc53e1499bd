"""`hawkeye.serve` when A or B fails: an OpenAI error body within the configured timeout, never a hang;
`/health` names the model that is down; requests succeed again once it is back, with no restart;
the same when a model given by URL is down or stuck as `hawkeye.serve` starts.
And bad input in bulk: 500 malformed bodies, each a 4xx, with the server up and its memory flat.

The upstream stand-ins (`fake_openai`) can refuse connections (stopped), accept a request and
never answer ("hang"), or stop mid-stream ("hang_mid"); `test_killing_b_during_vllm_bench_serve`
does it to a real vLLM server under `vllm bench serve`.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from conftest import compose_config
from fake_openai import PIECES, Served, fake_openai_app
from hawkeye.paths import resolve
from hawkeye.process import free_port
from hawkeye.serving.app import build_app
from hawkeye.serving.chat_models import RemoteChatModel
from hawkeye.serving.pipeline import Pipeline

TIMEOUT_S = 1.0    # hawkeye.serve's bound on every wait on A or B, in these tests
MARGIN_S = 10.0    # generous: a busy CI machine, never a hang
QUESTION = {"messages": [{"role": "user", "content": "What is 3 + 4?"}]}


@pytest.fixture()
def upstreams() -> Iterator[dict[str, Any]]:
    """A and B stand-ins on their own ports, each with its switchable state."""
    out: dict[str, Any] = {}
    for role in ("a", "b"):
        state: dict[str, Any] = {}
        out[role] = {"state": state, "served": Served(fake_openai_app(state, delay_s=0.005), free_port()).start()}
    yield out
    for u in out.values():
        u["served"].stop()


@pytest.fixture()
def serve_url(upstreams: dict[str, Any], live_server: Any) -> str:
    a = RemoteChatModel(upstreams["a"]["served"].url, "fake", timeout_s=TIMEOUT_S, name="Model A")
    b = RemoteChatModel(upstreams["b"]["served"].url, "fake", timeout_s=TIMEOUT_S, name="Model B")
    return live_server(build_app(Pipeline(a, b, 8, 8, answer_leak="allow")))


def _ask(url: str, stream: bool) -> tuple[int, list[dict[str, Any]], float]:
    """(status, the error bodies received, seconds to the last byte) of one request."""
    t0 = time.monotonic()
    with httpx.Client(timeout=TIMEOUT_S + MARGIN_S) as http:  # a hang fails here
        if not stream:
            r = http.post(url + "/v1/chat/completions", json=QUESTION)
            body = r.json()
            return r.status_code, [body] if "error" in body else [], time.monotonic() - t0
        with http.stream("POST", url + "/v1/chat/completions", json=QUESTION | {"stream": True}) as r:
            if r.status_code != 200:
                body = json.loads(r.read())
                return r.status_code, [body], time.monotonic() - t0
            data = [ln.removeprefix("data: ") for ln in r.iter_lines() if ln.startswith("data: ")]
    errors = [json.loads(d) for d in data if d != "[DONE]" and "error" in json.loads(d)]
    return 200, errors, time.monotonic() - t0


def _break(upstream: dict[str, Any], fault: str) -> None:
    if fault == "dead":
        upstream["served"].stop()
    else:
        upstream["state"]["mode"] = fault


def _mend(upstream: dict[str, Any], fault: str) -> None:
    upstream["state"]["mode"] = "ok"
    if fault == "dead":
        upstream["served"].start()  # the same port: the server came back


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("fault", ["dead", "hang", "hang_mid"])
@pytest.mark.parametrize("role", ["a", "b"])
def test_a_failed_model_gets_an_error_body_in_bounded_time_and_is_used_again_once_back(
        upstreams: dict[str, Any], serve_url: str, role: str, fault: str, stream: bool) -> None:
    name = {"a": "Model A", "b": "Model B"}[role]
    assert _ask(serve_url, stream)[0] == 200
    _break(upstreams[role], fault)
    status, errors, seconds = _ask(serve_url, stream)
    assert seconds < TIMEOUT_S + MARGIN_S
    (error,) = errors  # exactly one OpenAI error body, as the status or as the stream's last event
    assert error["error"]["type"] == "server_error" and name in error["error"]["message"], error
    expected = 504 if fault != "dead" else 502
    # a streamed reply whose failure comes after A's first chunk is already a 200: the error is in-stream
    in_stream = stream and (role == "b" or fault == "hang_mid")
    assert status == (200 if in_stream else expected) and error["error"]["code"] == expected
    if fault != "hang_mid":  # a server stuck mid-stream still answers /health
        health = httpx.get(serve_url + "/health", timeout=TIMEOUT_S + MARGIN_S)
        assert health.status_code == 503 and health.json()["models"][name].startswith("down"), health.json()
        other = {"Model A", "Model B"} - {name}
        assert health.json()["models"][other.pop()] == "ok"
        # while it stays down, the next request fails at once, before A is asked for anything
        a_calls = len(upstreams["a"]["state"].get("seen", []))
        status, errors, seconds = _ask(serve_url, stream)
        assert status == 502 and name in errors[0]["error"]["message"] and seconds < TIMEOUT_S + MARGIN_S
        assert len(upstreams["a"]["state"].get("seen", [])) == a_calls
    _mend(upstreams[role], fault)
    assert httpx.get(serve_url + "/health", timeout=TIMEOUT_S + MARGIN_S).json()["status"] == "ok"
    status, errors, _ = _ask(serve_url, stream)
    assert status == 200 and errors == []


# --- a model given by URL that is down when hawkeye.serve starts -----------------------------------

def _stuck_listener() -> socket.socket:
    """A loopback socket that accepts connections (the kernel completes them) and never sends a byte."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


@pytest.mark.parametrize("fault", ["refusing", "stuck"])
def test_serve_starts_while_b_given_by_url_is_down_and_uses_b_once_it_answers(
        fault: str, tiny_models_dir: Path, tmp_path: Path, live_server: Any) -> None:
    """`python -m hawkeye.serve --engine hf --responder-url URL` with nothing answering at URL: it starts,
    /health names Model B, a request gets B's error body, and B is used once a server answers there."""
    from hawkeye.serving.from_config import pipeline_from_config

    listener = _stuck_listener() if fault == "stuck" else None
    port = listener.getsockname()[1] if listener else free_port()
    b_url = f"http://127.0.0.1:{port}"
    cfg = compose_config(["experiment=smoke", f"paths.models_dir={tiny_models_dir}", f"paths.runs_dir={tmp_path}"])
    b: Served | None = None
    try:
        with contextlib.ExitStack() as stack:
            t0 = time.monotonic()
            pipeline = pipeline_from_config(cfg, stack, "hf", responder_url=b_url, timeout_s=TIMEOUT_S)
            url = live_server(build_app(pipeline))
            assert time.monotonic() - t0 < TIMEOUT_S + MARGIN_S
            health = httpx.get(url + "/health", timeout=TIMEOUT_S + MARGIN_S)
            assert health.status_code == 503, health.text
            assert health.json()["models"] == {"Model A": "ok", "Model B": health.json()["models"]["Model B"]}
            assert health.json()["models"]["Model B"].startswith(f"down: {b_url}"), health.json()
            status, errors, seconds = _ask(url, stream=False)
            assert status == 502 and "Model B is down" in errors[0]["error"]["message"], errors
            assert seconds < TIMEOUT_S + MARGIN_S

            if listener:
                listener.close()
            b = Served(fake_openai_app({}, delay_s=0.005), port).start()  # B comes up at the URL
            assert httpx.get(url + "/health", timeout=TIMEOUT_S + MARGIN_S).json()["status"] == "ok"
            r = httpx.post(url + "/v1/chat/completions", json=QUESTION, timeout=TIMEOUT_S + MARGIN_S)
            assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "".join(PIECES), r.text
    finally:
        if listener:
            listener.close()
        if b:
            b.stop()


# --- 500 malformed bodies against the real server process ------------------------------------------

def _malformed(n: int, seed: int = 0) -> list[bytes]:
    """n bodies, each wrong in one way (deterministic): bytes that are not JSON, JSON that is not a
    request, and requests with one bad field."""
    rng = random.Random(seed)
    good = {"messages": [{"role": "user", "content": "2 + 3?"}]}
    bad_fields: list[dict[str, Any]] = [
        {"messages": []}, {"messages": "2 + 3?"}, {"messages": [{"content": "x"}]}, {"messages": [None]},
        {"messages": [{"role": "assistant", "content": "x"}]}, {"messages": [{"role": "user", "content": 5}]},
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
        {"messages": [{"role": "user", "content": [{"type": "text"}]}]}, {"messages": [{"role": "user", "content": " "}]},
        {"max_tokens": -5}, {"max_tokens": 0}, {"max_tokens": "5"}, {"max_tokens": 1.5}, {"max_completion_tokens": 0},
        {"temperature": "hot"}, {"temperature": 9}, {"temperature": -1}, {"n": 2}, {"seed": 2**70}, {"seed": 0.5},
        {"stream": "yes"}, {"stream_options": {"include_usage": True}}, {"stream": True, "stream_options": 3},
    ]
    out = []
    for i in range(n):
        kind = i % 6
        if kind == 0:    # random bytes, most of them not UTF-8
            out.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))))
        elif kind == 1:  # a valid body cut short
            text = json.dumps(good | {"max_tokens": rng.randrange(1, 50)})
            out.append(text[: rng.randrange(1, len(text) - 1)].encode())
        elif kind == 2:  # JSON, but not an object
            out.append(json.dumps(rng.choice([[good], 5, "messages", None, True, [], 1e308])).encode())
        elif kind == 3:  # a request with one bad field
            bad = rng.choice(bad_fields)
            out.append(json.dumps(good | bad if "messages" not in bad else bad).encode())
        elif kind == 4:  # nested deeper than any parser's recursion limit
            depth = rng.randrange(5_000, 100_000)
            out.append(b'{"messages": ' + b"[" * depth + b"]" * depth + b"}")
        else:            # NaN and Infinity: not JSON, though Python's parser takes them
            out.append(json.dumps(good | {"temperature": rng.choice([float("nan"), float("inf")])}).encode())
    return out


@pytest.fixture()
def serve_process(tiny_models_dir: Path, tmp_path: Path) -> Iterator[tuple[str, psutil.Process]]:
    """`python -m hawkeye.serve` with in-process tiny models, as a user starts it."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(resolve("src")), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "hawkeye.serve", "experiment=smoke", "--engine", "hf",
                             f"paths.models_dir={tiny_models_dir}", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "hawkeye.serve did not start"
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    yield url, psutil.Process(proc.pid)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    log.close()


def test_500_malformed_bodies_each_get_a_4xx_and_the_server_stays_up_with_flat_memory(
        serve_process: tuple[str, psutil.Process]) -> None:
    url, proc = serve_process
    bodies = _malformed(500)
    statuses: list[int] = []
    rss: list[int] = []
    with httpx.Client(base_url=url, timeout=30, headers={"content-type": "application/json"}) as http:
        assert http.post("/v1/chat/completions", json=QUESTION).status_code == 200
        for i, body in enumerate(bodies):
            r = http.post("/v1/chat/completions", content=body)
            statuses.append(r.status_code)
            assert "error" in r.json() and r.json()["error"]["type"] == "invalid_request_error", (i, body[:80], r.text)
            if i in (99, 499):  # after a warm-up, and at the end
                rss.append(proc.memory_info().rss)
        assert all(400 <= s < 500 for s in statuses), sorted(set(statuses))
        assert http.post("/v1/chat/completions", json=QUESTION).status_code == 200  # still serving
    assert proc.is_running()
    assert rss[1] - rss[0] < 32 * 2**20, f"RSS grew by {(rss[1] - rss[0]) / 2**20:.1f} MiB over 400 bad requests"


# --- a real B killed under `vllm bench serve` ------------------------------------------------------

def _served_requests(base_url: str) -> float:
    """vLLM's own count of finished requests (its Prometheus counter)."""
    text = httpx.get(base_url + "/metrics", timeout=5).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("vllm:request_success_total"))


def _bench(url: str, tokenizer: str, out: Path, name: str, prompts: int) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "hawkeye.bench_serve", "--backend", "openai-chat", "--endpoint",
           "/v1/chat/completions", "--base-url", url, "--model", "hawkeye", "--tokenizer", tokenizer,
           "--dataset-name", "random", "--random-input-len", "16", "--random-output-len", "24",
           "--num-prompts", str(prompts), "--max-concurrency", "10", "--temperature", "0",
           "--save-result", "--result-dir", str(out), "--result-filename", name]
    env = dict(os.environ, PYTHONPATH=str(resolve("src")), HF_HUB_OFFLINE="1")
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


@pytest.mark.slow
@pytest.mark.vllm
def test_killing_b_during_vllm_bench_serve(tiny_models_dir: Path, tmp_path: Path) -> None:
    """hawkeye.serve over vLLM servers of A and B, under `vllm bench serve` at concurrency 10: B's server
    is killed mid-run. The run ends (no request hangs), requests fail with B's error body, /health
    names Model B, and once B is back on its port the next run has no failure, with no restart."""
    from omegaconf import OmegaConf

    from hawkeye.models.load import resolve_model_path
    from hawkeye.serving.servers import running, vllm_server

    paths = [resolve_model_path(f"tiny:qwen2?seed={s}", str(tiny_models_dir)) for s in (0, 1)]
    vcfg = OmegaConf.create({"max_model_len": 512, "tensor_parallel_size": 1, "gpu_memory_utilization": 0.3,
                             "enforce_eager": True, "cpu_kvcache_space_gib": 1, "cpu_worker_in_process": True})
    a = vllm_server(paths[0], "tiny-a", "127.0.0.1", tmp_path, vcfg)
    b = vllm_server(paths[1], "tiny-b", "127.0.0.1", tmp_path, vcfg, port=free_port())
    timeout_s = 5.0
    with running([a, b], timeout_s=300):
        port = free_port()
        env = dict(os.environ, PYTHONPATH=str(resolve("src")), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
        serve = subprocess.Popen([sys.executable, "-m", "hawkeye.serve", "experiment=smoke",
                                  f"paths.models_dir={tiny_models_dir}", "--policy-url", a.base_url,
                                  "--responder-url", b.base_url, "--timeout-s", str(timeout_s), "--port", str(port)],
                                 stdout=(tmp_path / "serve.log").open("wb"), stderr=subprocess.STDOUT, env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                assert serve.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                with httpx.Client(timeout=2) as http:
                    try:
                        if http.get(url + "/health").status_code == 200:
                            break
                    except httpx.HTTPError:
                        time.sleep(0.5)

            bench = _bench(url, paths[0], tmp_path, "killed.json", prompts=400)
            deadline = time.monotonic() + 240
            while _served_requests(b.base_url) < 20:  # the run is under way: B has answered 20 requests
                assert bench.poll() is None and time.monotonic() < deadline, bench.communicate()[0][-3000:]
                time.sleep(0.2)
            assert b.pgid is not None and b.proc is not None
            os.killpg(b.pgid, signal.SIGKILL)
            b.proc.wait(timeout=30)
            output, _ = bench.communicate(timeout=300)  # every request ends: the run is over, no hang
            assert bench.returncode == 0, output[-3000:]
            killed = json.loads((tmp_path / "killed.json").read_text())
            assert killed["completed"] >= 20 and killed["failed"] > 0, killed.get("errors", [])[:3]

            t0 = time.monotonic()
            r = httpx.post(url + "/v1/chat/completions", json=QUESTION, timeout=timeout_s + MARGIN_S)
            assert r.status_code == 502 and "Model B" in r.json()["error"]["message"], r.text
            assert time.monotonic() - t0 < timeout_s + MARGIN_S
            health = httpx.get(url + "/health", timeout=timeout_s + MARGIN_S)
            assert health.status_code == 503 and health.json()["models"]["Model B"].startswith("down"), health.text
            assert health.json()["models"]["Model A"] == "ok"

            b.start()  # B comes back on the same port; hawkeye.serve is not restarted
            b.wait_ready(300)
            assert httpx.get(url + "/health", timeout=10).json()["status"] == "ok"
            again = _bench(url, paths[0], tmp_path, "back.json", prompts=30)
            output, _ = again.communicate(timeout=300)
            back = json.loads((tmp_path / "back.json").read_text())
            assert back["completed"] == 30 and back["failed"] == 0, output[-3000:]
            assert serve.poll() is None
        finally:
            serve.send_signal(signal.SIGTERM)
            serve.wait(timeout=30)
