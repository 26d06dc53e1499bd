"""The reward of Algorithm 1 (lines 6-7), per sample:

    P = λ · max(0, len(c) − α · len(c_orig))²
    R = EM(â, a) − P            (− leak_penalty when answer_leak=penalize and c states a)

λ and α are the top-level `lambda` and `alpha` (the sweep handles), passed in by the caller;
`cfg` is the `reward` group (answer_leak, leak_penalty).

`len` is `hawkeye.cot.cot_length`: Model A tokens of the generated CoT, without the stop token. `â` is extracted from
Model B's newly generated text only (never from B's prompt, which contains the CoT).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hawkeye.answers import exact_match
from hawkeye.responder.reads import states_answer


@dataclass(frozen=True)
class Reward:
    em: float         # EM(â, a) in {0, 1}
    penalty: float    # λ · max(0, len(c) − α·len(c_orig))²
    leak: float       # leak_penalty if the CoT states the answer under `penalize`, else 0
    reward: float     # em − penalty − leak


def length_penalty(cot_tokens: int, orig_tokens: int, lam: float, alpha: float) -> float:
    """λ · max(0, len(c) − α·len(c_orig))²: no penalty while c is within the target budget."""
    excess = max(0.0, cot_tokens - alpha * orig_tokens)
    return lam * excess**2


def compute_reward(
    answer_text: str,
    gold: str,
    cot: str,
    cot_tokens: int,
    orig_tokens: int,
    cfg: Any,
    *,
    lam: float,
    alpha: float,
) -> Reward:
    """Reward of one sample. `answer_text` is B's new text (or A's own text when responder=none)."""
    em = exact_match(answer_text, gold)
    penalty = length_penalty(cot_tokens, orig_tokens, float(lam), float(alpha))
    leak = float(cfg["leak_penalty"]) if cfg["answer_leak"] == "penalize" and states_answer(cot, gold) else 0.0
    return Reward(em=em, penalty=penalty, leak=leak, reward=em - penalty - leak)
