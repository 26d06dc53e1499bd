"""Answer leakage: a CoT that states the final answer lets Model B copy it instead of reasoning.

The paper's reference code decoded B's prompt together with B's answer, so the answer stated inside
the CoT was scored as B's answer (1317 of 1319 GSM8K test cases). Here the answer is only ever read
from B's new tokens, and by default (`answer_leak=mask`) the stated answer is also removed from the
CoT before B reads it, so the reward measures whether B can *finish* the reasoning, not copy it.

- allow:    B reads the CoT as written.
- mask:     strip `\\boxed{...}`, `#### N` and "the answer is ..." from the CoT (default).
- penalize: B reads the CoT as written; the reward loses `leak_penalty` when the CoT states the gold answer.
"""

from __future__ import annotations

import re

from hawkeye.answers import answers_match, extract_answer

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*")
_HASHES = re.compile(r"####[^\n]*")
_ANSWER_IS = re.compile(r"(?:the\s+(?:final\s+)?answer\s+is|answer\s*:)[^\n]*?(?=\.\s|\.?$|\n)", re.I | re.M)


def _strip_boxed(text: str) -> str:
    """Remove every `\\boxed{...}` (nested braces) and `\\boxed 5`, keeping the text around it."""
    out, i = [], 0
    for m in _BOXED.finditer(text):
        if m.start() < i:
            continue
        out.append(text[i : m.start()])
        j = m.end()
        if j < len(text) and text[j] == "{":
            depth = 0
            while j < len(text):
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
                if depth == 0:
                    break
        else:
            while j < len(text) and not text[j].isspace() and text[j] != "$":
                j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def mask_stated_answer(cot: str) -> str:
    """The CoT without its explicit final-answer statements (what B reads under `mask`)."""
    cot = _strip_boxed(cot)
    cot = _HASHES.sub("", cot)
    cot = _ANSWER_IS.sub("", cot)
    return cot.strip()


def states_answer(cot: str, gold: str) -> bool:
    """True when the CoT explicitly states the gold answer (boxed, `####` or "the answer is")."""
    return answers_match(gold, extract_answer(cot, fallback_last_number=False))
