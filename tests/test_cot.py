"""R1-style Model A: c is the think span, generation stops at `policy.think_end`, len(c) excludes it."""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path

import pytest
import torch

from conftest import compose_config
from hawkeye.cot import cot_stop_token_ids, think_span
from hawkeye.errors import ConfigError
from hawkeye.generation.hf import HFBackend
from hawkeye.models.load import load_model_and_tokenizer
from hawkeye.models.tiny import add_stop_channel
from hawkeye.prompts import reasoning_messages, render
from hawkeye.responder.reads import responder_prompt

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
    from hawkeye.cot import cot_length
    from hawkeye.training.module import GRPOModule

    model, tok = thinker
    cfg = compose_config(["experiment=smoke", f"policy.name_or_path='{THINK_MODEL}'", "++policy.think_end='</think>'",
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


def test_evaluation_reads_the_think_span_of_a_greedy_completion(thinker: tuple) -> None:
    """Evaluation writes one greedy completion per question (A alone answers with all of it) and gives
    B its think span: the same tokens and text as a greedy generation stopped at `</think>`, which is
    what training's rollouts produce. The systems table must use the span for A -> B."""
    from hawkeye.cot import cot_length
    from hawkeye.evaluation import systems
    from hawkeye.generation.base import SamplingParams

    model, tok = thinker
    end = tok.convert_tokens_to_ids("</think>")
    # A weaker stop channel than the fixture's, so that greedy completions also write text after
    # </think> (with the fixture's they repeat the tag, which decodes to nothing).
    model = copy.deepcopy(model)
    add_stop_channel(model, end, 3.0)
    backend = HFBackend(model, tok)
    questions = [f"What is {a} + {b}?" for a in range(1, 7) for b in (2, 5)]
    prompts = [render(tok, reasoning_messages(q)) for q in questions]
    full = backend.generate(prompts, SamplingParams(max_new_tokens=24))
    stopped = backend.generate(prompts, SamplingParams(max_new_tokens=24, stop_token_ids=(end,)))
    spans = [think_span(g, (end,), tok) for g in full]
    assert any(f.text != g.text for f, g in zip(full, stopped, strict=True)), "no text after </think>: the test shows nothing"
    for span, ref in zip(spans, stopped, strict=True):
        assert (span.token_ids, span.text, span.finish_reason) == (ref.token_ids, ref.text, ref.finish_reason)
        assert cot_length(span) == cot_length(ref)
    assert think_span(full[0], (), tok) is full[0]  # a policy without think_end: c is the completion

    # The evaluation table: A alone keeps the whole completion, A -> B gets the span.
    class RecordingB:
        tokenizer = tok

        def __init__(self) -> None:
            self.prompts: list[str] = []

        def generate(self, prompts: list[str], params: SamplingParams) -> list:
            self.prompts += prompts
            return backend.generate(prompts, SamplingParams(max_new_tokens=4))

    b = RecordingB()
    cfg = compose_config(["experiment=smoke", f"policy.name_or_path='{THINK_MODEL}'", "++policy.think_end='</think>'",
                          "reward.answer_leak=allow"])
    rows = [{"id": str(i), "question": q, "answer": "7"} for i, q in enumerate(questions)]
    model_a = systems.Model("baseline_a", "a", cfg.policy, tok)

    @contextlib.contextmanager
    def open_backend(model: object):  # noqa: ANN202
        yield b if model is model_b else backend

    model_b = systems.Model("responder", "b", cfg.responder, tok)
    (results, samples), = systems.evaluate_systems(cfg, {"d": rows}, model_a, model_b, [], open_backend, (24, 4)).values()
    alone, with_b = [s for s in samples if s["system"] == "baseline"], [s for s in samples if s["system"] == "base_a_b"]
    assert [s["a_tokens"] for s in alone] == [cot_length(g) for g in full]
    assert [s["a_tokens"] for s in with_b] == [cot_length(g) for g in stopped]
    assert [s["cot_seen_by_b"] for s in with_b] == [g.text for g in stopped]
