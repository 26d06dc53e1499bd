"""Lifecycle of OpenAI-compatible servers (vLLM's, or `hawkeye.serve`) started for a benchmark.

Each server runs in its own process group (`start_new_session`), so teardown can signal the
server and every worker it spawned. Teardown always runs: on success, on an error, on Ctrl-C and
on SIGTERM (turned into KeyboardInterrupt while a server is up). It sends SIGTERM to the group,
waits, then SIGKILLs what is left, and checks that no process of the group survives.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

from hawkeye.errors import ModelError
from hawkeye.runtime import check_port_free


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is `pgid`."""
    pids = []
    for p in psutil.process_iter(["pid", "status"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
            if p.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(p.pid) == pgid:
                pids.append(p.pid)
    return pids


class ServerProcess:
    """A server command, started in its own process group, ready once `health_url` answers 200."""

    def __init__(self, cmd: Sequence[str], base_url: str, log_path: str | os.PathLike[str],
                 env: dict[str, str] | None = None, name: str = "server") -> None:
        self.cmd = list(cmd)
        self.base_url = base_url.rstrip("/")
        self.log_path = Path(log_path)
        self.env = env
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        self.pgid: int | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        try:
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=self.env, start_new_session=True)
        finally:
            log.close()  # the child holds its own copy of the descriptor
        self.pgid = self.proc.pid  # a new session: the leader's pid is the group id

    def wait_ready(self, timeout_s: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ModelError(f"{self.name} exited with code {self.proc.returncode} while starting "
                                 f"({' '.join(self.cmd[:6])} ...). Last log lines:\n{self.log_tail()}")
            with contextlib.suppress(urllib.error.URLError, OSError), \
                    urllib.request.urlopen(self.base_url + "/health", timeout=2) as r:
                if r.status == 200:
                    return
            time.sleep(0.5)
        raise ModelError(f"{self.name} not healthy after {timeout_s:g} s at {self.base_url}. "
                         f"Last log lines:\n{self.log_tail()}")

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM the whole group, then SIGKILL survivors; raise if any process is left."""
        if self.proc is None or self.pgid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and (self.proc.poll() is None or group_members(self.pgid)):
            time.sleep(0.2)
        if group_members(self.pgid) or self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pgid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        for _ in range(50):  # SIGKILLed children may need a moment to be reaped by init
            if not group_members(self.pgid):
                break
            time.sleep(0.1)
        left = group_members(self.pgid)
        self.proc = None
        if left:
            raise RuntimeError(f"{self.name}: processes {left} of group {self.pgid} survived teardown")

    def log_tail(self, n: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


@contextlib.contextmanager
def running(servers: Sequence[ServerProcess], timeout_s: float) -> Iterator[Sequence[ServerProcess]]:
    """Start every server at once (start-ups overlap), wait until all are healthy, always stop all."""
    with _sigterm_as_interrupt():
        try:
            for s in servers:
                s.start()
            for s in servers:
                s.wait_ready(timeout_s)
            yield servers
        finally:
            errors = []
            for s in servers:
                try:
                    s.stop()
                except Exception as e:  # stop the others anyway, then report
                    errors.append(e)
            if errors:
                raise errors[0]


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While servers are up, SIGTERM raises KeyboardInterrupt so the `finally` above runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def vllm_server(model_path: str, served_name: str, host: str, log_dir: str | os.PathLike[str],
                vllm_cfg: Any, seed: int = 0, dtype: str = "float32", port: int | None = None) -> ServerProcess:
    """`python -m vllm.entrypoints.openai.api_server` for one model (greedy requests, eager mode)."""
    if port:  # fail now, naming the port, not after the engine's 25-60 s start
        check_port_free(host, port, f"vLLM server {served_name}")
    port = port or free_port(host)
    cmd = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", model_path, "--served-model-name", served_name,
        "--host", host, "--port", str(port),
        "--dtype", dtype, "--seed", str(seed),
        "--max-model-len", str(vllm_cfg["max_model_len"]),
        "--tensor-parallel-size", str(vllm_cfg["tensor_parallel_size"]),
        "--gpu-memory-utilization", str(vllm_cfg["gpu_memory_utilization"]),
        "--disable-log-stats",
    ]
    if vllm_cfg["enforce_eager"]:
        cmd.append("--enforce-eager")
    env = dict(os.environ)
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", str(vllm_cfg["cpu_kvcache_space_gib"]))
    return ServerProcess(cmd, f"http://{host}:{port}", Path(log_dir) / f"vllm-{served_name}.log", env=env,
                         name=f"vLLM server {served_name}")
