"""Model B's vLLM engine takes its own GPU share (`rollout.vllm.responder_gpu_memory_utilization`),
A's colocated engine A's (`gpu_memory_utilization`): the arguments each engine is really built with,
through Responder.from_config and training's rollout factory, with vLLM's `LLM` recorded, not started."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from conftest import compose_config
from hawkeye.config import validate
from hawkeye.errors import ConfigError
from hawkeye.responder.model import Responder
from hawkeye.training.fit import rollout_factory


@pytest.fixture()
def engines(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The keyword arguments of every `vllm.LLM` built while the test runs (no engine starts)."""
    built: list[dict[str, Any]] = []

    class LLM:
        def __init__(self, **kwargs: Any) -> None:
            built.append(kwargs)

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=LLM))
    # from_config sets these for the engine; the test leaves the environment as it found it.
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "VLLM_CPU_KVCACHE_SPACE",
                "VLLM_ENABLE_V1_MULTIPROCESSING"):
        monkeypatch.delenv(key, raising=False)
    return built


def _a_and_b(overrides: list[str], built: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(A's engine arguments, B's), built as training builds them."""
    cfg = validate(compose_config([*overrides, "rollout=vllm"]))
    responder = Responder.from_config(cfg)
    assert responder is not None and len(built) == 1
    factory = rollout_factory(cfg)
    assert factory is not None
    factory()
    assert len(built) == 2
    b, a = built
    assert a["distributed_executor_backend"] == "external_launcher"  # A's is the colocated one
    return a, b


def test_b_gets_its_own_share_and_a_keeps_its_own(smoke_overrides: list[str], engines: list[dict[str, Any]]) -> None:
    a, b = _a_and_b([*smoke_overrides, "rollout.vllm.gpu_memory_utilization=0.3",
                     "++rollout.vllm.responder_gpu_memory_utilization=0.05"], engines)
    assert b["gpu_memory_utilization"] == 0.05
    assert a["gpu_memory_utilization"] == 0.3
    assert "responder_gpu_memory_utilization" not in a and "responder_gpu_memory_utilization" not in b
    # Everything else of B's engine is rollout.vllm's, as A's.
    assert (b["max_model_len"], b["enforce_eager"], b["tensor_parallel_size"]) == \
           (a["max_model_len"], a["enforce_eager"], a["tensor_parallel_size"])


def test_left_out_b_takes_as_share(smoke_overrides: list[str], engines: list[dict[str, Any]]) -> None:
    """The testbed presets leave the key out: both engines are built as before it existed."""
    a, b = _a_and_b([*smoke_overrides, "rollout.vllm.gpu_memory_utilization=0.25"], engines)
    assert a["gpu_memory_utilization"] == b["gpu_memory_utilization"] == 0.25


def test_paper_gsm8k_sets_bs_share() -> None:
    cfg = validate(compose_config(["experiment=paper_gsm8k"]))
    assert (cfg.rollout.vllm.gpu_memory_utilization, cfg.rollout.vllm.responder_gpu_memory_utilization) == (0.3, 0.08)


@pytest.mark.parametrize("share", [0.0, 1.0, 1.5, -0.1])
def test_a_share_outside_0_1_fails_naming_the_key(share: float) -> None:
    with pytest.raises(ConfigError, match=rf"'rollout\.vllm\.responder_gpu_memory_utilization'={share} must be in \(0, 1\)"):
        validate(compose_config([f"++rollout.vllm.responder_gpu_memory_utilization={share}"]))
