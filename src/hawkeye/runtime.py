"""What every entry point does first (validate the config, check the tracking store, pin threads,
seed), and the process-level rules every entry point shares: SIGTERM as Ctrl-C, and local ports."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import threading
from collections.abc import Iterator
from types import FrameType

from omegaconf import DictConfig

from hawkeye.config import validate
from hawkeye.errors import ConfigError
from hawkeye.seeding import seed_everything


def start(cfg: DictConfig, check_tracking: bool = True) -> DictConfig:
    """Validate (naming the key), then check that the MLflow store answers (naming the URI),
    all before any model loads or server starts; then threads and seeds.

    `check_tracking=False` is for callers that log nothing to MLflow (the latency CLI, the benchmarks);
    every pipeline stage logs, so it checks.
    """
    cfg = validate(cfg)
    if check_tracking:
        from hawkeye.tracking.mlflow_run import check_reachable, tracking_uri

        check_reachable(tracking_uri(cfg))
    threads = int(cfg.trainer.num_threads)
    if threads > 0:
        import torch

        # Oversubscribed threads made CPU training 3-20x slower on 2 cores.
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        torch.set_num_threads(threads)
    seed_everything(int(cfg.seed))
    install_sigterm_as_interrupt()
    return cfg


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS reports free on `host` now (a server started next binds it)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


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


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def install_sigterm_as_interrupt() -> None:
    """Treat SIGTERM (pre-emption, `kill`) like Ctrl-C for the rest of the process: temp files are
    removed, the MLflow run is marked KILLED and servers are torn down by the same `finally` paths.
    Signal handlers belong to the main thread: elsewhere this is a no-op."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """`install_sigterm_as_interrupt` for a block only (e.g. while servers are up), then the previous
    handler again."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def flags_first(argv: list[str]) -> list[str]:
    """Hydra's parser wants `-m/--multirun` before the overrides; accept it anywhere, so that
    `python src/train.py experiment=smoke -m lambda=0.1,1.0` works as typed."""
    flags = [a for a in argv[1:] if a in ("-m", "--multirun")]
    return [argv[0], *flags, *(a for a in argv[1:] if a not in flags)]
