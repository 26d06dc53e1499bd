"""The reward of Algorithm 1 on hand-computed cases, answer-leak handling, and the Responder."""

from __future__ import annotations

import pytest
import torch

from hawkeye.generation.base import Generation, SamplingParams
from hawkeye.responder.model import Responder, freeze
from hawkeye.responder.reads import mask_answer, states_answer
from hawkeye.reward.reward import compute_reward, length_penalty

CFG = {"answer_leak": "mask", "leak_penalty": 1.0}
LA = {"lam": 0.001, "alpha": 0.3}  # the top-level `lambda` and `alpha`


def test_length_penalty_hand_computed() -> None:
    # len(c)=40, len(c_orig)=100, α=0.3: excess 10 -> λ·100
    assert length_penalty(40, 100, lam=0.01, alpha=0.3) == pytest.approx(1.0)
    assert length_penalty(31, 100, lam=0.5, alpha=0.3) == pytest.approx(0.5)
    # len(c) < α·len(c_orig): no penalty, whatever λ
    assert length_penalty(10, 100, lam=100.0, alpha=0.3) == 0.0
    assert length_penalty(30, 100, lam=100.0, alpha=0.3) == 0.0


def test_reward_is_em_minus_penalty() -> None:
    r = compute_reward("So the answer is \\boxed{7}.", "7", "3+4=7", cot_tokens=40, orig_tokens=100, cfg=CFG, **LA)
    assert (r.em, r.penalty, r.leak) == (1.0, pytest.approx(0.1), 0.0)
    assert r.reward == pytest.approx(0.9)
    wrong = compute_reward("\\boxed{8}", "7", "3+4=7", cot_tokens=20, orig_tokens=100, cfg=CFG, **LA)
    assert (wrong.em, wrong.penalty, wrong.reward) == (0.0, 0.0, 0.0)
    none = compute_reward("I do not know", "7", "", cot_tokens=130, orig_tokens=100, cfg=CFG, **LA)
    assert none.reward == pytest.approx(-0.001 * 100**2)


def test_leak_mask_and_penalize() -> None:
    cot = "3 + 4 = 7 apples. The answer is 7. \\boxed{7} #### 7"
    # the value of A's answer goes, every other character stays (tests/test_answer_mask.py has the table)
    assert mask_answer(cot) == "3 + 4 = [masked] apples. The answer is [masked]. \\boxed{[masked]} #### [masked]"
    assert mask_answer("x \\boxed{\\frac{1}{2}} y") == "x \\boxed{[masked]} y"
    assert states_answer(cot, "7") and not states_answer("3 + 4 = 7", "7")
    pen = compute_reward("\\boxed{7}", "7", cot, 5, 100, {**CFG, "answer_leak": "penalize"}, **LA)
    assert pen.leak == 1.0 and pen.reward == pytest.approx(0.0)
    allow = compute_reward("\\boxed{7}", "7", cot, 5, 100, {**CFG, "answer_leak": "allow"}, **LA)
    assert allow.leak == 0.0 and allow.reward == 1.0


class _RecordingBackend:
    """Stands in for Model B's backend: records the prompts, answers with new text only."""

    def __init__(self, tokenizer) -> None:  # noqa: ANN001
        self.tokenizer = tokenizer
        self.prompts: list[str] = []

    def generate(self, prompts: list[str], params: SamplingParams) -> list[Generation]:
        self.prompts += prompts
        return [Generation(text="\\boxed{7}", token_ids=[1, 2]) for _ in prompts]

    def close(self) -> None:
        pass


class _Tok:
    def apply_chat_template(self, messages, tokenize, add_generation_prompt):  # noqa: ANN001, ANN201
        return "<user>" + messages[0]["content"] + "<assistant>"


@pytest.mark.parametrize("mode", ["mask", "allow"])
def test_responder_reads_masked_cot_and_returns_new_text(mode: str) -> None:
    backend = _RecordingBackend(_Tok())
    b = Responder(backend=backend, params=SamplingParams(max_new_tokens=8), answer_leak=mode)
    gens = b.answer(["How many?"], ["3+4=7. The answer is \\boxed{7}"])
    prompt = backend.prompts[0]
    assert "How many?" in prompt and "3+4=" in prompt
    assert ("\\boxed{7}" in prompt) == ("3+4=7" in prompt) == (mode == "allow")
    assert gens[0].text == "\\boxed{7}"  # â comes from B's new text, never from its prompt


def test_freeze_stops_gradients() -> None:
    m = torch.nn.Linear(2, 2)
    freeze(m)
    assert not m.training and not any(p.requires_grad for p in m.parameters())
