"""Score a refinement against planted waste: precision and recall of the tokens it removed.

Testbed rows carry their reference CoT as labelled segments (`critical`, or waste: `filler`,
`repeat`, `fine`). The refinement of that CoT is aligned to it token by token (a weighted longest common
subsequence over Model A token ids); every original token left out of the alignment counts as
removed. Then

    precision = removed waste tokens / removed tokens   (did it only cut waste?)
    recall    = removed waste tokens / waste tokens     (did it cut all the waste?)

summed over rows (micro-averaged), so long CoTs weigh by their tokens.

The same ground truth says what a refinement must keep: every number of a critical segment and the
final answer (`critical_values`). The curate stage refuses a refinement that drops one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hawkeye.curation.rules import numbers
from hawkeye.data.sources.testbed_reading import WASTE_KINDS


@dataclass
class WasteScore:
    removed: int = 0        # original tokens the refinement removed
    removed_waste: int = 0  # ... of which were planted waste
    waste: int = 0          # planted waste tokens in the original

    def __add__(self, other: WasteScore) -> WasteScore:
        return WasteScore(self.removed + other.removed, self.removed_waste + other.removed_waste,
                          self.waste + other.waste)

    @property
    def precision(self) -> float:
        return self.removed_waste / self.removed if self.removed else 1.0

    @property
    def recall(self) -> float:
        return self.removed_waste / self.waste if self.waste else 1.0


def labelled_tokens(segments: list[dict[str, str]], tokenizer: Any) -> tuple[list[int], list[bool]]:
    """Token ids of the segments joined by spaces (as `reference_cot` is), and which are waste.
    Every segment is encoded with its leading space, the first too, so that a sentence encodes alike
    wherever the refinement leaves it (first or not)."""
    ids: list[int] = []
    waste: list[bool] = []
    for seg in segments:
        piece = tokenizer(" " + seg["text"], add_special_tokens=False)["input_ids"]
        ids += piece
        waste += [seg["kind"] in WASTE_KINDS] * len(piece)
    return ids, waste


def kept_tokens(orig: list[int], new: list[int], is_waste: list[bool]) -> list[bool]:
    """Which original tokens survive in `new`: a common subsequence of maximum weight, where keeping a
    critical token weighs slightly more than keeping waste. The weight settles the ambiguous case (a
    waste sentence that repeats a critical one word for word) in favour of the critical copy, which
    is what the refined text actually holds. O(len(orig)·len(new)); CoTs are short."""
    n, m = len(orig), len(new)
    w = [1.0 if waste_tok else 1.0 + 1e-3 for waste_tok in is_waste]
    best = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        row, below = best[i], best[i + 1]
        for j in range(m - 1, -1, -1):
            keep = w[i] + below[j + 1] if orig[i] == new[j] else 0.0
            row[j] = max(keep, below[j], row[j + 1])
    kept, i, j = [False] * n, 0, 0
    while i < n and j < m:
        if orig[i] == new[j] and best[i][j] == w[i] + best[i + 1][j + 1]:
            kept[i], i, j = True, i + 1, j + 1
        elif best[i][j] == best[i + 1][j]:
            i += 1
        else:
            j += 1
    return kept


def score(segments: list[dict[str, str]], refined: str, tokenizer: Any) -> WasteScore:
    """How `refined` (a refinement of the segments' joined text) removed the planted waste."""
    orig, is_waste = labelled_tokens(segments, tokenizer)
    # Layout is not content: the rules put a merged run of steps on its own line, and "\nShe" is not
    # the token " She" of the original, which would count a kept critical word as removed.
    flat = " ".join(refined.split())
    new = tokenizer(" " + flat, add_special_tokens=False)["input_ids"] if flat else []
    removed = [not k for k in kept_tokens(orig, new, is_waste)]
    return WasteScore(
        removed=sum(removed),
        removed_waste=sum(r and w for r, w in zip(removed, is_waste, strict=True)),
        waste=sum(is_waste),
    )


def critical_values(segments: list[dict[str, str]], answer: str | None) -> set[str]:
    """The normalised numbers of the critical segments and of the final answer."""
    out = set().union(*(numbers(s["text"]) for s in segments if s["kind"] == "critical"))
    return out | (numbers(answer) if answer else set())


def lost_critical(segments: list[dict[str, str]], answer: str | None, refined: str) -> list[str]:
    """The critical values (`critical_values`) that `refined` no longer writes, sorted."""
    return sorted(critical_values(segments, answer) - numbers(refined), key=float)
