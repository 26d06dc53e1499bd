"""The HF and vLLM generation backends return the same tokens for the same greedy decode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from hawkeye.generation import SamplingParams
from hawkeye.generation.hf import HFBackend
from hawkeye.models.load import load_model_and_tokenizer
from hawkeye.prompts import reasoning_messages, render

QUESTIONS = [
    "What is 3 + 4?",
    "How many apples are left if she has 12 and eats 5?",
    "Compute 7 * 8.",
    "Twice 21 is?",
]


@pytest.fixture(scope="module")
def varied_model_dir(tiny_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plain-initialised `tiny:qwen2?seed=0&std=2&eos=0` with its matrices redrawn at std 0.3.

    Plain random weights give one token repeated, which would make a parity test pass trivially;
    these weights give varied tokens and, for the first prompt, an early EOS.
    """
    cfg = OmegaConf.create({"name": "tiny", "name_or_path": "tiny:qwen2?seed=0&std=2&eos=0", "dtype": "float32"})
    model, tok, _ = load_model_and_tokenizer(cfg, str(tiny_models_dir))
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    out = tmp_path_factory.mktemp("varied")
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out


def _model_cfg(path: Path) -> dict:
    return {"name": "varied", "name_or_path": str(path), "dtype": "float32"}


def _rollout_cfg() -> dict:
    vllm = {"gpu_memory_utilization": 0.3, "tensor_parallel_size": 1, "enforce_eager": True,
            "max_model_len": 512, "cpu_kvcache_space_gib": 1}
    return {"backend": "vllm", "batch_size": 4, "vllm": vllm}


def _hf(path: Path) -> HFBackend:
    model, tok, _ = load_model_and_tokenizer(_model_cfg(path), str(path.parent))
    return HFBackend(model, tok, batch_size=4)


def test_hf_backend_returns_new_tokens_only(varied_model_dir: Path) -> None:
    hf = _hf(varied_model_dir)
    prompts = [render(hf.tokenizer, reasoning_messages(q)) for q in QUESTIONS]
    gens = hf.generate(prompts, SamplingParams(max_new_tokens=24))
    eos = hf.tokenizer.eos_token_id
    for prompt, g in zip(prompts, gens, strict=True):
        assert g.prompt_token_ids == hf.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        assert 0 < g.num_tokens <= 24
        assert (g.finish_reason == "stop") == (g.token_ids[-1] == eos)
        assert g.text == hf.tokenizer.decode([t for t in g.token_ids if t != eos], skip_special_tokens=True)
    assert gens[0].finish_reason == "stop"  # the fixture's weights stop early on this prompt
    # Greedy decoding is a function of the prompt: a second call gives the same tokens.
    assert [g.token_ids for g in hf.generate(prompts, SamplingParams(max_new_tokens=24))] == [
        g.token_ids for g in gens
    ]


@pytest.mark.vllm
def test_hf_and_vllm_agree_token_for_token(varied_model_dir: Path) -> None:
    pytest.importorskip("vllm")
    from hawkeye.generation.vllm_backend import VLLMBackend

    hf = _hf(varied_model_dir)
    prompts = [render(hf.tokenizer, reasoning_messages(q)) for q in QUESTIONS]
    greedy = SamplingParams(max_new_tokens=24, temperature=0.0)
    expected = hf.generate(prompts, greedy)

    backend = VLLMBackend.from_config(_model_cfg(varied_model_dir), _rollout_cfg(), str(varied_model_dir.parent), seed=0)
    try:
        got = backend.generate(prompts, greedy)
        # fp32 on CPU, greedy: both backends pick the same argmax at every step.
        for e, g in zip(expected, got, strict=True):
            assert g.prompt_token_ids == e.prompt_token_ids
            assert g.token_ids == e.token_ids
            assert g.text == e.text
            assert g.finish_reason == e.finish_reason
        assert got[0].finish_reason == "stop" and got[0].token_ids[-1] == hf.tokenizer.eos_token_id

        # Sampling a group: one prompt repeated gives distinct samples, reproducible by seed.
        group = SamplingParams(max_new_tokens=12, temperature=1.0, seed=7)
        first = [g.token_ids for g in backend.generate(prompts[1:2] * 3, group)]
        again = [g.token_ids for g in backend.generate(prompts[1:2] * 3, group)]
        assert first == again
        assert len({tuple(ids) for ids in first}) > 1
    finally:
        backend.close()
    assert backend.llm is None


def test_every_engine_stops_on_the_eos_ids_then_the_extra_stop_ids(tiny_models_dir: Path) -> None:
    """One merge of EOS and extra stop ids (`generation.eos.stop_ids`): the EOS ids first, each extra id
    once, an extra that is already EOS not twice. The in-process chat model of `hawkeye.serve` stops on
    that same list (the HF and vLLM backends build theirs with it per call)."""
    from hawkeye.generation.eos import eos_ids, stop_ids
    from hawkeye.serving.chat_models import LocalHFChatModel

    cfg = OmegaConf.create({"name": "tiny", "name_or_path": "tiny:qwen2?seed=0", "dtype": "float32"})
    model, tok, _ = load_model_and_tokenizer(cfg, str(tiny_models_dir))
    eos = eos_ids(model.generation_config, tok)
    extra = tok.convert_tokens_to_ids("<|endoftext|>")
    assert extra not in eos
    assert stop_ids(eos, (eos[0], extra)) == [*eos, extra]
    assert stop_ids(eos, ()) == eos
    chat = LocalHFChatModel(model, tok, stop_token_ids=(np.int64(extra), eos[0]))  # ids as a config may hold them
    assert chat.stop_ids == [*eos, extra] and all(type(t) is int for t in chat.stop_ids)
