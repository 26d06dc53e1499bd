"""What each supervised baseline trains on: question -> target CoT, on the curated training rows.

Both baselines read the rows GRPO trains on (`${paths.curated_dir}/train.jsonl`), through the same
reasoning prompt that curation, GRPO and evaluation use, so the three methods differ only in how
they make A's CoT shorter:

- **sft_refined**: A's own CoT `cot_orig`, refined by curation (`cot_refined`: the rules remove the
  waste). This is what any dataset allows: the policy's own outputs, cleaned by rules. Only rows whose
  `cot_orig` reached the gold answer (`orig_correct`) are kept. GRPO's reward checks the gold answer
  too, so both methods use the same information, and A is not taught its own mistakes.
- **sft_critical**: the generator's critical steps only (`critical_cot(segments)`), with the gold
  answer. It is a reference point and not a method: it uses the planted ground truth (which sentence
  is waste), which no real dataset has. It shows how far refining A's own CoTs is from the ideal cut.

Every target ends in the boxed gold answer (appended where the target has none), the format
evaluation reads A's answer from.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hawkeye.data.sources.testbed import critical_cot
from hawkeye.errors import DataError
from hawkeye.prompts import reasoning_messages, render
from hawkeye.warmstart.examples import Example, boxed


def with_answer(cot: str, answer: str) -> str:
    """`cot`, ending in the boxed gold answer if it has no boxed answer of its own."""
    return cot if "\\boxed{" in cot else f"{cot} {boxed(answer)}".strip()


def refined_target(row: dict[str, Any]) -> str | None:
    """A's refined CoT, or None for a row whose own CoT got the answer wrong (not trained on)."""
    return with_answer(row["cot_refined"], row["answer"]) if row["orig_correct"] else None


def critical_target(row: dict[str, Any]) -> str | None:
    """The critical steps and the answer (ground truth: the testbed's labelled segments)."""
    return with_answer(critical_cot(row["segments"]), row["answer"])


TARGETS: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "sft_refined": refined_target,
    "sft_critical": critical_target,
}


def targets(kind: str, rows: list[dict[str, Any]], path: Path) -> list[tuple[str, str]]:
    """(question, target) of every row that `kind` trains on; fails naming `path` and the row."""
    out = []
    for line, row in enumerate(rows, start=1):
        if kind == "sft_critical" and "segments" not in row:
            raise DataError(f"{path}:{line}: row {row['id']!r} has no 'segments': sft_critical needs the "
                            "testbed's labelled critical steps (data=testbed)")
        target = TARGETS[kind](row)
        if target is not None:
            out.append((row["question"], target))
    if not out:
        raise DataError(f"{path}: no row to train {kind} on ({len(rows)} rows, none with a correct cot_orig)")
    return out


def example_maker(pairs: list[tuple[str, str]], tokenizer: Any) -> Callable[[random.Random], Example]:
    """The warm start's example function: a row drawn by the step's generator, as (prompt, target)."""
    prompts = [render(tokenizer, reasoning_messages(q)) for q, _ in pairs]

    def make(rng: random.Random) -> Example:
        i = rng.randrange(len(pairs))
        return prompts[i], pairs[i][1]

    return make
