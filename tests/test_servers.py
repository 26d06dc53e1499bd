"""Server lifecycle: started in its own process group, always torn down, no process left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from hawkeye.errors import ModelError
from hawkeye.process import free_port
from hawkeye.serving.servers import ServerProcess, group_members, running

# A stand-in for a vLLM server: a /health endpoint, plus a worker child process (as vLLM's engine
# core is), which writes its pid so the test can check it is gone after teardown.
FAKE = textwrap.dedent("""
    import http.server, subprocess, sys
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    open(sys.argv[2], "w").write(str(child.pid))
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
        def log_message(self, *a): pass
    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
""")


def _fake(tmp_path: Path, name: str = "fake", script: str = FAKE) -> tuple[ServerProcess, Path]:
    port = free_port()
    pid_file = tmp_path / f"{name}.child"
    cmd = [sys.executable, "-c", script, str(port), str(pid_file)]
    return ServerProcess(cmd, f"http://127.0.0.1:{port}", tmp_path / f"{name}.log", name=name), pid_file


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_start_stop_leaves_no_process(tmp_path: Path) -> None:
    servers = [_fake(tmp_path, f"s{i}") for i in range(2)]
    with running([s for s, _ in servers], timeout_s=30):
        pids = {s.proc.pid for s, _ in servers} | {int(f.read_text()) for _, f in servers}
        assert all(_alive(p) for p in pids)
        for s, _ in servers:
            assert s.pgid != os.getpgid(0)  # its own process group, not ours
            assert len(group_members(s.pgid)) == 2  # the server and its worker
    assert not any(_alive(p) for p in pids)
    assert all(not group_members(s.pgid) for s, _ in servers)


def test_teardown_on_error_and_on_sigterm(tmp_path: Path) -> None:
    server, pid_file = _fake(tmp_path)
    with pytest.raises(RuntimeError, match="benchmark failed"), running([server], timeout_s=30):
        child = int(pid_file.read_text())
        raise RuntimeError("benchmark failed")
    assert not _alive(child) and not group_members(server.pgid)

    server, pid_file = _fake(tmp_path, "term")
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), running([server], timeout_s=30):
        child = int(pid_file.read_text())
        os.kill(os.getpid(), signal.SIGTERM)  # pre-emption / `kill` of the benchmark
    assert not _alive(child) and not group_members(server.pgid)
    assert signal.getsignal(signal.SIGTERM) == before  # previous handler restored


def test_server_that_dies_at_start_fails_with_its_log(tmp_path: Path) -> None:
    server, _ = _fake(tmp_path, "dies", script="import sys; print('CUDA out of memory'); sys.exit(3)")
    with pytest.raises(ModelError, match="exited with code 3(.|\n)*CUDA out of memory"), running([server], 30):
        pass


def test_stubborn_group_is_killed(tmp_path: Path) -> None:
    stubborn = "import signal, time, sys; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"
    server = ServerProcess([sys.executable, "-c", stubborn], "http://127.0.0.1:9", tmp_path / "s.log")
    server.start()
    pgid = server.pgid
    server.stop(grace_s=1.0)
    assert pgid is not None and not group_members(pgid)


@pytest.mark.vllm
def test_vllm_server_serves_a_tiny_model_and_stops(tiny_models_dir: Path, tmp_path: Path) -> None:
    """The real thing, once: vLLM's OpenAI server on a tiny model, with the project's engine arguments
    (the model in the engine-core process: no worker process), streamed requests that carry vLLM's
    own per-request timings, and teardown."""
    import asyncio

    from omegaconf import OmegaConf

    from hawkeye.evaluation.latency.client import closed_loop, single
    from hawkeye.evaluation.latency.stats import breakdown, summarize
    from hawkeye.models.load import load_tokenizer, resolve_model_path
    from hawkeye.serving.chat_models import RemoteChatModel
    from hawkeye.serving.servers import vllm_server

    path = resolve_model_path("tiny:qwen2?seed=0", str(tiny_models_dir))
    vcfg = OmegaConf.create({"max_model_len": 512, "tensor_parallel_size": 1, "gpu_memory_utilization": 0.3,
                             "enforce_eager": True, "cpu_kvcache_space_gib": 1, "cpu_worker_in_process": True})
    server = vllm_server(path, "tiny-a", "127.0.0.1", tmp_path, vcfg)

    async def measure() -> tuple[list, float]:
        model = RemoteChatModel(server.base_url, "tiny-a", tokenizer=load_tokenizer(path), timeout_s=60)
        try:
            return await closed_loop(single(model, [[{"role": "user", "content": "2 + 3?"}]], 8), 2, 2, 60)
        finally:
            await model.aclose()

    with running([server], timeout_s=240):
        members = group_members(server.pgid)
        names = {psutil.Process(p).name() for p in members}
        records, wall = asyncio.run(measure())
        s = summarize(records, wall)
    assert s["completed"] == 2 and s["tokens_mean"] > 0, s
    assert {"a_queue", "a_prefill"} <= set(breakdown(records))  # --enable-per-request-metrics
    assert not any("Worker" in n for n in names), names  # cpu_worker_in_process: no worker process
    assert not group_members(server.pgid)
    assert not any(_alive(p) for p in members)
    out = subprocess.run(["pgrep", "-f", f"--port {server.base_url.rsplit(':', 1)[1]}"], capture_output=True)
    assert out.stdout.strip() == b""
