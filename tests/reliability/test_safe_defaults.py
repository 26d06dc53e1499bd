"""Safe defaults: servers bind 127.0.0.1, trust_remote_code is off unless configured (and the loader
passes the setting through), weights load from safetensors only, and nothing in src/ or pipelines/
unpickles data.

Pickles we do load: Lightning's own `last.ckpt` on `resume=true` (`trainer.fit(ckpt_path=...)`),
a file this project's previous run wrote into `${paths.train_dir}/checkpoints/`, never a download.
Lightning 2.6 passes `weights_only=None` there, which torch >= 2.6 treats as weights_only=True.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import compose_config
from hawkeye.errors import ModelError
from hawkeye.paths import CONF_DIR, REPO_ROOT

from .helpers import closed_port


@pytest.mark.parametrize("preset", ["smoke", "testbed", "packaged", "paper_gsm8k"])
def test_eval_servers_bind_localhost_by_default(preset: str) -> None:
    from hawkeye.config import validate

    assert validate(compose_config([f"experiment={preset}"])).serving.host == "127.0.0.1"


def test_vllm_server_helper_uses_the_configured_host(tmp_path: Path) -> None:
    import inspect

    from hawkeye import process
    from hawkeye.evaluation import run
    from hawkeye.evaluation.latency import __main__ as latency_main
    from hawkeye.serving import from_config, servers

    vllm_cfg = {"max_model_len": 256, "tensor_parallel_size": 1, "gpu_memory_utilization": 0.3,
                "enforce_eager": True, "cpu_kvcache_space_gib": 1}
    server = servers.vllm_server("models/x", "x", "127.0.0.1", tmp_path, vllm_cfg)
    assert server.cmd[server.cmd.index("--host") + 1] == "127.0.0.1"
    assert server.base_url.startswith("http://127.0.0.1:")
    assert inspect.signature(process.free_port).parameters["host"].default == "127.0.0.1"
    for module in (run, latency_main, from_config):  # every caller of start_endpoints: the config's host, not 0.0.0.0
        assert "str(cfg.serving.host)" in inspect.getsource(module)


def test_serve_binds_localhost_by_default(tiny_models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hawkeye.serve as serve

    seen: dict[str, Any] = {}
    monkeypatch.setattr(serve, "pipeline_from_config", lambda *a, **k: None)
    monkeypatch.setattr(serve, "build_app", lambda pipeline: "app")
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: seen.update(kw))
    serve.main(["experiment=smoke", f"paths.models_dir={tiny_models_dir}", "--port", str(closed_port())])
    assert seen["host"] == "127.0.0.1"


def test_no_config_trusts_remote_code() -> None:
    files = sorted((CONF_DIR / "policy").glob("*.yaml")) + sorted((CONF_DIR / "responder").glob("*.yaml"))
    assert len(files) >= 6
    for f in files:
        assert yaml.safe_load(f.read_text())["trust_remote_code"] is False, f


@pytest.mark.parametrize("trust", [False, True])
def test_loader_passes_trust_remote_code_and_safetensors_through(
    trust: bool, tiny_models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import transformers

    from hawkeye.models.load import load_model_and_tokenizer

    calls: dict[str, dict[str, Any]] = {}
    tok_from, lm_from = transformers.AutoTokenizer.from_pretrained, transformers.AutoModelForCausalLM.from_pretrained

    def spy(name: str, fn: Any) -> Any:
        return lambda *a, **kw: (calls.__setitem__(name, kw), fn(*a, **kw))[1]

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", spy("tok", tok_from))
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", spy("lm", lm_from))
    load_model_and_tokenizer({"name": "a", "name_or_path": "tiny:qwen2?seed=0", "trust_remote_code": trust},
                             str(tiny_models_dir))
    assert calls["tok"]["trust_remote_code"] is trust and calls["lm"]["trust_remote_code"] is trust
    assert calls["lm"]["use_safetensors"] is True


def test_vllm_backend_passes_trust_remote_code_through() -> None:
    from hawkeye.generation.vllm_backend import engine_kwargs

    rollout = {"vllm": {"enforce_eager": True, "max_model_len": 256, "gpu_memory_utilization": 0.3,
                        "tensor_parallel_size": 1}}
    for cfg, expected in (({}, False), ({"trust_remote_code": False}, False), ({"trust_remote_code": True}, True)):
        kwargs = engine_kwargs({"dtype": "float32", **cfg}, rollout, "some/path", seed=0, colocate=False)
        assert kwargs["trust_remote_code"] is expected, cfg


def test_a_folder_with_only_pickled_weights_is_refused(tmp_path: Path) -> None:
    from hawkeye.models.load import check_model_dir

    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "tokenizer.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ModelError, match=r"no \*\.safetensors weights \(pickled weights are refused\)"):
        check_model_dir(tmp_path)


UNSAFE = [
    (re.compile(r"\bpickle\.loads?\("), "pickle.load"),
    (re.compile(r"\b(cloudpickle|dill|joblib)\.load"), "pickle-based load"),
    (re.compile(r"\btorch\.load\((?![^)]*weights_only=True)"), "torch.load without weights_only=True"),
    (re.compile(r"allow_pickle\s*=\s*True"), "numpy allow_pickle=True"),
    (re.compile(r"\byaml\.load\((?![^)]*SafeLoader)"), "yaml.load without SafeLoader"),
    (re.compile(r"\btrust_remote_code\s*=\s*True"), "trust_remote_code=True hard-coded"),
    (re.compile(r"""["']0\.0\.0\.0["']"""), "binding all interfaces"),
]


def test_no_code_unpickles_or_trusts_remote_code() -> None:
    files = [*(REPO_ROOT / "src").rglob("*.py"), *(REPO_ROOT / "pipelines").glob("*.py")]
    hits = [f"{f.relative_to(REPO_ROOT)}:{i}: {why}: {line.strip()}"
            for f in files for i, line in enumerate(f.read_text().splitlines(), 1)
            for pattern, why in UNSAFE if pattern.search(line)]
    assert hits == []
