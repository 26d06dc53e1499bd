"""What compression removed from A's CoTs, against the testbed's ground truth (rows with `segments`).

For one Model A's CoTs on held-out questions (`hawkeye.data.sources.testbed_reading` reads them):

- steps_kept: the share of the questions' critical steps (one per operation) the CoTs state;
- kept_correct: the share of the stated critical equations that are right: x is the true running total
  before the step, op and k the story's, y the true total after (`testbed_reading.step_correct`); an
  equation that holds as written but starts from a wrong earlier value is not right;
- waste_left: waste tokens (filler, repeats, fine-grained sub-steps) in the CoTs over the waste tokens
  of the base A's CoTs on the same questions (1 = all of base A's waste, 0 = none);
- leaves_last: the share of CoTs that compute some steps but stop before the last one, leaving the
  final operation to whoever reads them (the poster's "Adding these values together.");
- no_steps: the share of CoTs that state no critical step at all (answers without reasoning);
- other_share: the share of the CoTs' sentences that fit none of the generator's templates (neither a
  step nor planted waste: text the testbed does not account for), pooled over the CoTs. The answer
  sentence (`\\boxed{...}`) is left out of both counts: it is no reasoning, and whether it falls inside
  the CoT depends on where the span ends, not on what A wrote.

Questions without ground truth give no measures (an empty dict).
"""

from __future__ import annotations

from typing import Any

from hawkeye.data.sources.testbed_reading import steps_kept

MEASURES = ("steps_kept", "kept_correct", "waste_left", "leaves_last", "no_steps", "other_share")


def waste_tokens(cots: list[str], rows: list[dict[str, Any]], tokenizer: Any) -> int:
    """Tokens of the waste sentences of `cots` (rows with ground truth only)."""
    total = 0
    for cot, row in zip(cots, rows, strict=True):
        if row.get("segments"):
            waste = steps_kept(cot, row).waste_sentences
            total += len(tokenizer(" ".join(waste), add_special_tokens=False)["input_ids"]) if waste else 0
    return total


def removal(cots: list[str], rows: list[dict[str, Any]], tokenizer: Any, base_waste: int) -> dict[str, float]:
    """The measures above for `cots` (one per row); `base_waste`: `waste_tokens` of the base A's CoTs."""
    kept = [steps_kept(cot, row) for cot, row in zip(cots, rows, strict=True) if row.get("segments")]
    if not kept:
        return {}
    labelled = [(c, r) for c, r in zip(cots, rows, strict=True) if r.get("segments")]
    n_steps = sum(k.total for k in kept)
    n_kept = sum(k.n_kept for k in kept)
    n_sentences = sum(k.n_sentences for k in kept)
    waste = waste_tokens([c for c, _ in labelled], [r for _, r in labelled], tokenizer)
    return {
        "steps_kept": n_kept / n_steps if n_steps else float("nan"),
        "kept_correct": sum(k.n_correct for k in kept) / n_kept if n_kept else float("nan"),
        "waste_left": waste / base_waste if base_waste else float("nan"),
        "leaves_last": sum(k.leaves_last_to_b for k in kept) / len(kept),
        "no_steps": sum(k.no_steps for k in kept) / len(kept),
        "other_share": sum(len(k.other_sentences) for k in kept) / n_sentences if n_sentences else float("nan"),
    }
