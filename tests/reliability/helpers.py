"""Helpers of the reliability suite: input files, output snapshots, entry points, subprocesses."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from hawkeye.paths import REPO_ROOT

DRIVER = Path(__file__).with_name("driver.py")


def prepared_row(i: int, answer: str = "7") -> dict[str, Any]:
    return {"id": f"q{i}", "source": "test", "question": f"Tom has {i} apples and buys 3 more. How many?",
            "answer": answer, "reference_cot": f"{i} + 3 = {i + 3}."}


def curated_row(i: int, **changes: Any) -> dict[str, Any]:
    row = {**prepared_row(i, str(i + 3)), "cot_orig": f"{i} + 3 = {i + 3}. The answer is {i + 3}.",
           "cot_orig_tokens": 20 + i, "orig_correct": True, "cot_refined": f"{i} + 3 = {i + 3}.",
           "cot_refined_tokens": 8, "refine_rejected": False, "flags": []}
    row.update(changes)
    return row


def write_lines(path: Path, rows: list[Any]) -> Path:
    """Rows as jsonl; a str row is written verbatim (to plant malformed lines)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative path -> bytes), hidden temp files included."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def plant_previous_outputs(folder: Path, names: list[str]) -> dict[str, bytes]:
    """A previous run's outputs (sentinel content), returned as a snapshot to compare against."""
    for name in names:
        p = folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(f"previous output {name}\n".encode())
    return snapshot(folder)


def load_app(relpath: str) -> ModuleType:
    """An entry point (src/train.py, pipelines/*.py) as a module: `main(cfg)` runs it in-process."""
    path = REPO_ROOT / relpath
    spec = importlib.util.spec_from_file_location(f"app_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mlflow_runs(uri: str, experiment: str = "hawkeye-smoke") -> list[Any]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    return [] if exp is None else client.search_runs([exp.experiment_id])


def closed_port() -> int:
    """A port nothing listens on (bound once, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def subprocess_env(mlflow_uri: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(MLFLOW_TRACKING_URI=mlflow_uri, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    return env


def start_driver(mode: str, overrides: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`python driver.py <mode> <overrides>`: a real entry point with one test patch applied."""
    fh = log.open("wb")
    try:
        return subprocess.Popen([sys.executable, str(DRIVER), mode, *overrides], cwd=REPO_ROOT, env=env,
                                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    finally:
        fh.close()


def wait_for(predicate: Any, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"process exited ({proc.returncode}) too early:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"timed out waiting; log:\n{log.read_text()[-3000:]}")


def kill_at_a_checkpoint(proc: subprocess.Popen[bytes], ckpt: Path, log: Path, timeout_s: float = 300.0,
                         group: bool = False) -> int:
    """SIGSTOP the run once `ckpt` exists and loads completely, then SIGKILL it; the checkpoint's step.
    Stopping first means no checkpoint write is under way at the kill. With `group`, the signals go to
    the run's whole process group (a run started in a session of its own, with its engine's workers)."""
    import signal

    import torch

    def send(sig: int) -> None:
        (os.killpg if group else os.kill)(proc.pid, sig)

    while True:
        try:
            wait_for(ckpt.exists, proc, log, timeout_s)
        except AssertionError:
            if group and proc.poll() is None:
                send(signal.SIGKILL)
            raise
        send(signal.SIGSTOP)
        try:
            step = int(torch.load(ckpt, map_location="cpu", weights_only=False)["global_step"])
        except Exception:  # noqa: BLE001 - caught between a checkpoint's writes: let it finish
            send(signal.SIGCONT)
            time.sleep(0.3)
            continue
        send(signal.SIGKILL)
        proc.wait(timeout=60)
        return step
