"""R1-style Model A: c is the think span, generation stops at `policy.think_end`, len(c) excludes it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import compose_config
from hawkeye.errors import ConfigError
from hawkeye.generation.hf import HFBackend
from hawkeye.models.load import load_model_and_tokenizer
from hawkeye.models.tiny import add_stop_channel
from hawkeye.prompts import reasoning_messages, render, responder_prompt
from hawkeye.reasoning import cot_stop_token_ids

THINK_MODEL = "tiny:qwen2?seed=0&think=1&eos=0"


@pytest.fixture(scope="module")
def thinker(tiny_models_dir: Path) -> tuple[torch.nn.Module, object]:
    """The tiny think-tagged model, with `</think>` made likely the way the tiny models make EOS
    likely (a context-dependent stop channel, `add_stop_channel`), and EOS left plain (`eos=0`): some
    samples close the think span after a few tokens, others run to the cap."""
    model, tok, _ = load_model_and_tokenizer({"name": "a", "name_or_path": THINK_MODEL, "dtype": "float32"},
                                             str(tiny_models_dir))
    add_stop_channel(model, tok.convert_tokens_to_ids("</think>"), 7.0)
    return model, tok


def test_chat_template_opens_the_think_span(thinker: tuple) -> None:
    _, tok = thinker
    assert render(tok, reasoning_messages("q")).endswith("<|im_start|>assistant\n<think>\n")


def test_rollouts_stop_at_think_end_and_c_is_the_think_span(thinker: tuple, tiny_models_dir: Path) -> None:
    from hawkeye.training.module import GRPOModule, cot_length

    model, tok = thinker
    cfg = compose_config(["experiment=smoke", f"policy.name_or_path='{THINK_MODEL}'", "policy.think_end='</think>'",
                          "rollout.temperature=0.9"])
    end = tok.convert_tokens_to_ids("</think>")
    assert cot_stop_token_ids(cfg.policy, tok) == (end,)

    module = GRPOModule(cfg, model, tok, None, lambda step: [])
    module.rollout = HFBackend(model, tok)
    gens = module.sample_cots(["What is 3 + 4?"], 8, seed=3)  # the training rollouts' own call

    closed = [g for g in gens if g.finish_reason == "stop"]
    assert any(g.num_tokens > 2 for g in closed) and any(g.finish_reason == "length" for g in gens)
    # A sample ends at </think> or, as without think_end, at EOS; nothing is generated after </think>.
    assert all(g.token_ids[-1] in (end, tok.eos_token_id) and end not in g.token_ids[:-1] for g in closed)
    closed = [g for g in closed if g.token_ids[-1] == end]
    assert closed, "no sample closed its think span"
    for g in closed:
        assert cot_length(g) == g.num_tokens - 1  # len(c) counts the span, not the tag
        assert g.text == tok.decode(g.token_ids[:-1], skip_special_tokens=True) and "think>" not in g.text
        # what B reads is that span (minus a stated answer, under the default answer_leak=mask)
        assert responder_prompt("What is 3 + 4?", g.text, "allow")[0] == g.text

    # Without think_end the same model runs past the tag: c would be the whole completion.
    plain = compose_config(["experiment=smoke", f"policy.name_or_path='{THINK_MODEL}'", "rollout.temperature=0.9"])
    module.cfg = plain
    assert cot_stop_token_ids(plain.policy, tok) == ()
    assert any(end in g.token_ids[:-1] for g in module.sample_cots(["What is 3 + 4?"], 8, seed=3))


def test_think_end_must_be_one_token(thinker: tuple) -> None:
    _, tok = thinker
    with pytest.raises(ConfigError, match="'policy.think_end'"):
        cot_stop_token_ids({"think_end": "</thinking>"}, tok)
