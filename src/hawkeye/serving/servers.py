"""Lifecycle of OpenAI-compatible servers (vLLM's, or `hawkeye.serve`) started as subprocesses.

Each server runs in its own process group (`start_new_session`), so teardown can signal the
server and every worker it spawned, and its CPU use can be read as the group's. Teardown always
runs: on success, on an error, on Ctrl-C and on SIGTERM (turned into KeyboardInterrupt while a
server is up, `process.sigterm_as_interrupt`). It sends SIGTERM to the group, waits, then SIGKILLs
what is left, and checks that no process of the group survives.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil

from hawkeye.errors import ConfigError, ModelError
from hawkeye.generation.vllm_args import engine_args, engine_env, server_flags
from hawkeye.process import free_port, sigterm_as_interrupt


def check_port_free(host: str, port: int, what: str = "server") -> None:
    """Fail at once, naming host:port, when a server could not bind there (instead of after
    loading models, or after a vLLM engine's 25-60 s start)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is no conflict
        try:
            s.bind((host, int(port)))
        except OSError as e:
            why = "already in use" if e.errno == errno.EADDRINUSE else e.strerror
            raise ConfigError(f"{what}: cannot bind {host}:{port}: {why} (choose another port)") from e


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is `pgid`."""
    pids = []
    for p in psutil.process_iter(["pid", "status"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
            if p.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(p.pid) == pgid:
                pids.append(p.pid)
    return pids


class ServerProcess:
    """A server command, started in its own process group, ready once `health_url` answers 200.

    `cores`: the CPU cores the whole group may run on (Linux affinity, inherited by every process
    the server spawns); None: any core.
    """

    def __init__(self, cmd: Sequence[str], base_url: str, log_path: str | os.PathLike[str],
                 env: dict[str, str] | None = None, name: str = "server",
                 cores: Sequence[int] | None = None) -> None:
        self.cmd = list(cmd)
        self.base_url = base_url.rstrip("/")
        self.log_path = Path(log_path)
        self.env = env
        self.name = name
        self.cores = list(cores) if cores else None
        self.proc: subprocess.Popen[bytes] | None = None
        self.pgid: int | None = None

    @property
    def served_name(self) -> str:
        """The model name the server answers to (its --served-model-name, else its name)."""
        flag = "--served-model-name"
        return self.cmd[self.cmd.index(flag) + 1] if flag in self.cmd else self.name

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        try:
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=self.env, start_new_session=True)
        finally:
            log.close()  # the child holds its own copy of the descriptor
        self.pgid = self.proc.pid  # a new session: the leader's pid is the group id
        if self.cores:
            # set at once, long before the interpreter has started (seconds) and spawned any worker
            os.sched_setaffinity(self.proc.pid, self.cores)

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

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the live processes of the server's group."""
        total = 0.0
        for pid in group_members(self.pgid) if self.pgid is not None else []:
            with contextlib.suppress(psutil.Error):
                t = psutil.Process(pid).cpu_times()
                total += t.user + t.system
        return total

    def signal(self, sig: int) -> None:
        """Send `sig` to every process of the group (SIGSTOP / SIGCONT: a stuck server, in tests)."""
        if self.pgid is not None:
            os.killpg(self.pgid, sig)

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM the whole group, then SIGKILL survivors; raise if any process is left."""
        if self.proc is None or self.pgid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signal.SIGCONT)  # a stopped group cannot act on SIGTERM
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
    with sigterm_as_interrupt():
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


def vllm_server(model_path: str, served_name: str, host: str, log_dir: str | os.PathLike[str],
                vllm_cfg: Any, model_cfg: Any = None, seed: int = 0, port: int | None = None,
                cores: Sequence[int] | None = None, engine_timings: bool = True) -> ServerProcess:
    """`python -m vllm.entrypoints.openai.api_server` for one model, with `rollout.vllm`'s engine
    arguments (`generation.vllm_args`). `engine_timings`: the server reports each request's own
    timings (queue wait, prefill, decode) in its stream's usage chunk, which the latency breakdown
    reads (this needs vLLM's statistics on); else statistics are off."""
    if port:  # fail now, naming the port, not after the engine's 25-60 s start
        check_port_free(host, port, f"vLLM server {served_name}")
    port = port or free_port(host)
    args = engine_args(model_cfg if model_cfg is not None else {"dtype": "float32"}, vllm_cfg, model_path, seed)
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", *server_flags(args),
           "--served-model-name", served_name, "--host", host, "--port", str(port),
           "--disable-uvicorn-access-log",
           *(["--enable-per-request-metrics"] if engine_timings else ["--disable-log-stats"])]
    env = dict(os.environ)
    for key, value in engine_env(vllm_cfg).items():
        env.setdefault(key, value)  # a value the user exported wins
    return ServerProcess(cmd, f"http://{host}:{port}", Path(log_dir) / f"vllm-{served_name}.log", env=env,
                         name=f"vLLM server {served_name}", cores=cores)
