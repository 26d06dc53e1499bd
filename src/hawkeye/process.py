"""Process-level rules every stage and server shares: SIGTERM as Ctrl-C, and free local ports.

A leaf: it imports nothing of hawkeye, so the generation backends, the server helpers and the
entry points (`hawkeye.runtime`) can all use it without pulling in the config schemas.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Iterator
from types import FrameType


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS reports free on `host` now (a server started next binds it)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


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
