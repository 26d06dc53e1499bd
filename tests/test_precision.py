"""fp32 master weights: a step at the paper's lr under the GPU precision settings really moves the weights."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import compose_config
from hawkeye.errors import ConfigError
from hawkeye.files import write_jsonl
from hawkeye.models.load import resolve_model_path
from hawkeye.paths import REPO_ROOT

spec = importlib.util.spec_from_file_location("train_app", REPO_ROOT / "src" / "train.py")
train_app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train_app)


def _curated(tmp_path: Path) -> None:
    rows = [{"id": f"q{i}", "source": "test", "question": f"Tom has {i} apples and buys {i + 2} more. How many?",
             "answer": str(2 * i + 2), "reference_cot": "", "cot_orig": "", "cot_orig_tokens": 20,
             "orig_correct": True, "cot_refined": "", "cot_refined_tokens": 5, "refine_rejected": False, "flags": []}
            for i in range(4)]
    write_jsonl(tmp_path / "curated" / "train.jsonl", rows)


def test_bf16_weights_swallow_an_lr_1e5_update() -> None:
    """Why the refusal below exists: next to 0.02, bf16's spacing is ~1.2e-4, so AdamW's ~lr-sized step is lost."""
    for dtype, moves in ((torch.bfloat16, False), (torch.float32, True)):
        w = torch.nn.Parameter(torch.full((4,), 0.02, dtype=dtype))
        before = w.detach().clone()
        opt = torch.optim.AdamW([w], lr=1e-5, weight_decay=0.0)
        w.sum().backward()
        opt.step()
        assert (not torch.equal(w.detach(), before)) is moves, dtype


def test_gpu_precision_step_at_lr_1e5_changes_the_policy(
    tmp_path: Path, smoke_overrides: list[str], mlflow_uri: str
) -> None:
    # Real CoT lengths: the tiny models end some CoTs on EOS, so a group of 4 has a reward spread.
    _curated(tmp_path)
    # trainer=gpu on the CPU: bf16-mixed (autocast to bf16 on CPU too) and the GPU micro-batch.
    cfg = compose_config([*smoke_overrides, "trainer=gpu", "trainer.accelerator=cpu", "grpo.lr=1e-5",
                          "grpo.max_steps=1", "grpo.group_size=4"])
    assert cfg.trainer.precision == "bf16-mixed" and cfg.policy.dtype == "float32"
    summary_reward = train_app.main(cfg)
    assert summary_reward == summary_reward  # finite, not NaN

    start = load_file(Path(resolve_model_path(cfg.policy.name_or_path, cfg.paths.models_dir)) / "model.safetensors")
    final = load_file(tmp_path / "train" / "final" / "model.safetensors")
    assert all(v.dtype == torch.float32 for v in final.values())  # the saved weights are the fp32 masters
    changed = sum(int((final[k] != start[k].to(final[k].dtype)).sum()) for k in final)
    total = sum(v.numel() for v in final.values())
    assert changed / total > 0.5, f"only {changed}/{total} weights moved after one step at lr 1e-5"


@pytest.mark.parametrize(("override", "key"), [("policy.dtype=bfloat16", "policy.dtype"),
                                               ("policy.dtype=auto", "policy.dtype"),
                                               ("trainer.precision=bf16-true", "trainer.precision")])
def test_full_fine_tuning_of_16_bit_weights_is_refused_before_models_load(
    override: str, key: str, smoke_overrides: list[str], mlflow_uri: str, tmp_path: Path
) -> None:
    _curated(tmp_path)
    with pytest.raises(ConfigError, match=f"'{key}'"):
        train_app.main(compose_config([*smoke_overrides, override]))
    assert not (tmp_path / "train").exists()


def test_lora_on_a_bf16_base_trains_fp32_adapters(tiny_models_dir: Path) -> None:
    from omegaconf import OmegaConf
    from peft import LoraConfig, get_peft_model

    from hawkeye.models.load import load_model_and_tokenizer
    from hawkeye.training.config import check_master_weights

    cfg = compose_config(["experiment=smoke", "policy.dtype=bfloat16", "trainer.lora.enabled=true"])
    check_master_weights(OmegaConf.to_container(cfg, resolve=True))  # accepted: only the adapters train
    base, _, _ = load_model_and_tokenizer({"name": "a", "name_or_path": "tiny:qwen2?seed=0", "dtype": "bfloat16"},
                                          str(tiny_models_dir))
    policy = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    trained = {n: p.dtype for n, p in policy.named_parameters() if p.requires_grad}
    assert trained and set(trained.values()) == {torch.float32}
