"""The training memory estimate (hawkeye.training.memory): the paper presets' figures, the one-GPU
preset fits 80 GB, and a run that does not fit is refused before any model loads, with the estimate."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import compose_config
from hawkeye.config import validate
from hawkeye.errors import ConfigError
from hawkeye.paths import REPO_ROOT
from hawkeye.training import memory
from hawkeye.training.memory import GB, check_memory, estimate_training_memory, shape_of_folder

H100 = int(80 * GB)
ONE_GPU_SCRIPT = REPO_ROOT / "tools" / "gpu_check" / "one_gpu.sh"


def _estimate(overrides: list[str], device_memory: int = H100) -> memory.MemoryEstimate:
    return estimate_training_memory(validate(compose_config(overrides)), device_memory)


def test_paper_gsm8k_under_fsdp_on_8_gpus_is_the_docs_table_and_fits_80_gb() -> None:
    cfg = validate(compose_config(["experiment=paper_gsm8k"]))
    est = check_memory(cfg, available=H100)  # refuses what does not fit
    assert est is not None and est.total < H100
    gb = est.gb()
    assert gb["weights"] == pytest.approx(3.8, abs=0.05) and gb["gradients"] == pytest.approx(3.8, abs=0.05)
    assert gb["AdamW state"] == pytest.approx(7.6, abs=0.05)
    assert gb["reference model"] == pytest.approx(15.2, abs=0.05)
    # A's engine its gpu_memory_utilization (0.3), B's its responder_gpu_memory_utilization (0.08).
    assert gb["vLLM engine (A)"] == pytest.approx(24.0) and gb["vLLM engine (B)"] == pytest.approx(6.4)
    assert "`responder_gpu_memory_utilization` 0.08" in est.how["vLLM engine (B)"]
    assert 9 < gb["activations"] + gb["logits"] < 12  # the hand-written table's ~11 GB
    assert 72 < est.total / GB < 77
    # docs/gpu.md prints this very table: one home for the figures.
    assert est.table() in (REPO_ROOT / "docs" / "gpu.md").read_text()


def test_without_its_own_share_b_takes_as_and_paper_gsm8k_is_refused_on_80_gb() -> None:
    cfg = validate(compose_config(["experiment=paper_gsm8k", "~rollout.vllm.responder_gpu_memory_utilization"]))
    est = estimate_training_memory(cfg, H100)
    assert est.parts["vLLM engine (B)"] == est.parts["vLLM engine (A)"] == int(0.3 * H100)
    assert "`gpu_memory_utilization` 0.3" in est.how["vLLM engine (B)"]
    assert 88 < est.total / GB < 96
    with pytest.raises(ConfigError, match=r"vLLM engine \(B\) 24\.0.*responder_gpu_memory_utilization"):
        check_memory(cfg, available=H100)


def test_ddp_replicates_122_gb_of_weights_gradients_and_adamw_state() -> None:
    est = _estimate(["experiment=paper_gsm8k", "trainer=ddp"])
    three = sum(est.parts[k] for k in ("weights", "gradients", "AdamW state")) / GB
    assert three == pytest.approx(122, abs=1)
    assert est.parts["DDP gradient buckets"] == est.parts["gradients"]


def test_the_one_gpu_preset_fits_80_gb() -> None:
    cfg = validate(compose_config(["experiment=paper_gsm8k_1gpu"]))
    assert cfg.policy.name_or_path == "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
    assert cfg.responder.name_or_path == "Qwen/Qwen2.5-0.5B-Instruct"
    assert (cfg.rollout.backend, cfg.trainer.devices, cfg.trainer.strategy) == ("vllm", 1, "auto")
    est = check_memory(cfg, available=H100)  # refuses what does not fit
    assert est is not None and est.total < H100
    assert est.parts["weights"] == 1_777_088_000 * 4  # fp32 master weights of the 1.78B parameters
    assert est.parts["vLLM engine (A)"] == int(0.15 * H100) and est.parts["vLLM engine (B)"] == int(0.08 * H100)
    assert est.table() in (REPO_ROOT / "docs" / "gpu.md").read_text()


def test_paper_gsm8k_on_one_gpu_under_ddp_does_not_fit_and_says_why() -> None:
    cfg = validate(compose_config(["experiment=paper_gsm8k", "trainer=ddp", "trainer.devices=1",
                                   "grpo.questions_per_step=8"]))
    assert estimate_training_memory(cfg, H100).total > 2 * H100
    with pytest.raises(ConfigError, match=r"deepseek-r1-distill-qwen-7b.*estimate is \d+\.\d GB.*AdamW state 60\.9") as e:
        check_memory(cfg, available=H100)
    assert "80.0 GB is available" in str(e.value) and "trainer=fsdp" in str(e.value)


def test_lora_trains_adapters_on_a_frozen_16_bit_base() -> None:
    est = _estimate(["experiment=paper_gsm8k", "trainer=ddp", "policy.dtype=bfloat16", "trainer.lora.enabled=true"])
    assert est.parts["weights"] == pytest.approx(7_615_616_512 * 2, rel=0.01)  # the base in bf16 (+ adapters)
    assert est.parts["AdamW state"] < 0.2 * GB  # adapters only


def test_train_refuses_a_policy_too_big_before_any_model_or_run(
    tmp_path: Path, smoke_overrides: list[str], mlflow_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a user sees: src/train.py fails naming the policy, the estimate and what is available."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_app", REPO_ROOT / "src" / "train.py")
    train_app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train_app)
    cfg = compose_config(smoke_overrides)
    est = check_memory(validate(cfg))  # this machine's RAM: a tiny model is checked too, and fits
    assert est is not None and 0 < est.total < 100e6
    monkeypatch.setattr(memory, "available_memory", lambda cfg: 1_000_000)  # a 1 MB device

    def loaded(*args: object, **kwargs: object) -> None:
        raise AssertionError("training started despite the memory check")

    monkeypatch.setattr(train_app, "fit", loaded)
    import mlflow

    runs_before = len(mlflow.search_runs(search_all_experiments=True, output_format="list"))  # other tests' runs
    with pytest.raises(ConfigError, match=r"not enough memory to train policy 'tiny-policy': the estimate is "
                                          r"\d+\.\d GB per process .*weights .*= \d+\.\d GB\), and 0\.0 GB is available"):
        train_app.main(cfg)
    assert not (tmp_path / "train").exists()
    assert len(mlflow.search_runs(search_all_experiments=True, output_format="list")) == runs_before  # no run opened


def test_a_local_folder_gives_its_own_shape(tiny_models_dir: Path) -> None:
    from hawkeye.models.load import load_causal_lm, resolve_model_path

    path = resolve_model_path("tiny:qwen2?seed=0", str(tiny_models_dir))
    shape = shape_of_folder(Path(path))
    model = load_causal_lm(path)
    assert shape.params == sum(p.numel() for p in model.parameters())
    assert (shape.layers, shape.hidden, shape.vocab) == (2, 128, 512)


def test_a_declared_shape_that_disagrees_with_the_folder_fails_naming_the_field(smoke_overrides: list[str]) -> None:
    shape = "{params: 1, layers: 2, hidden: 128, intermediate: 1, vocab: 512, heads: 2, kv_heads: 1, head_dim: 64}"
    cfg = validate(compose_config([*smoke_overrides, f"++policy.shape={shape}"]))
    with pytest.raises(ConfigError, match=r"'policy\.shape\.params'=1 disagrees"):
        estimate_training_memory(cfg, H100)


def _hub(monkeypatch: pytest.MonkeyPatch, config_dir: Path | None) -> None:
    """The hub as AutoConfig sees it: `config_dir`'s config.json for any id, or unreachable (None)."""
    import transformers

    def from_pretrained(spec: str, **kwargs: object) -> object:
        if config_dir is None:
            raise OSError(f"cannot reach the hub for {spec}")
        return transformers.AutoConfig.for_model(**json.loads((config_dir / "config.json").read_text()))

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", from_pretrained)


def test_a_hub_id_without_a_shape_is_sized_from_its_config_json(monkeypatch: pytest.MonkeyPatch,
                                                                tiny_models_dir: Path) -> None:
    from hawkeye.models.load import resolve_model_path

    folder = Path(resolve_model_path("tiny:qwen2?seed=0", str(tiny_models_dir)))
    _hub(monkeypatch, folder)
    cfg = validate(compose_config(["experiment=paper_gsm8k", "~policy.shape"]))
    est = estimate_training_memory(cfg, H100)
    # the tiny Qwen2's own parameter count (from its weights), counted here from its config alone
    assert est.parts["weights"] == shape_of_folder(folder).params * 4 / 8  # fp32 master, sharded over 8 ranks


def test_a_hub_id_without_a_shape_and_no_hub_fails_naming_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    _hub(monkeypatch, None)
    cfg = validate(compose_config(["experiment=paper_gsm8k", "~policy.shape"]))
    with pytest.raises(ConfigError, match=r"'policy\.shape' is needed"):
        estimate_training_memory(cfg, H100)


def test_the_one_gpu_check_script_parses_and_its_overrides_compose(tmp_path: Path) -> None:
    subprocess.run(["bash", "-n", str(ONE_GPU_SCRIPT)], check=True)
    out = subprocess.run(["bash", str(ONE_GPU_SCRIPT), "--print-overrides"], check=True, capture_output=True,
                         text=True, env={**os.environ, "WORK": str(tmp_path)}).stdout.split()
    assert out[0] == "experiment=paper_gsm8k_1gpu" and f"paths.train_dir={tmp_path}/train" in out
    cfg = validate(compose_config(out))
    assert cfg.grpo.max_steps < 10 and cfg.data.train_size < 100
    assert check_memory(cfg, available=H100) is not None
