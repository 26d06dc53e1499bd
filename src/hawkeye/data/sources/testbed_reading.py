"""Read any testbed CoT back into the generator's sentence kinds: ground truth for text a model wrote.

The generator (`hawkeye.data.sources.testbed`) writes four kinds of sentence:

- critical: "<event>: x op k = y." where <event> is the story's sentence ("She buys 3 more");
- filler: one of `testbed.FILLER` ("Let me think.");
- repeat: "So <Name> has y <items>." or "<Name> has y <items>.";
- fine: pure arithmetic that spells a step out ("9 + 1 = 10.", "6 + 6 = 12.").

Model A learns to write the same kinds, so labelling each sentence of any CoT by these templates
lets curation be scored against planted waste on A's own `c_orig`, and lets evaluation say what
compression removed: which of the question's critical steps A kept, whether each kept step computes the
true running values, how much waste is left, how much of the CoT fits no template, and whether A stopped
before the last operation (leaving it to B). `steps_kept` is also collapse's reading of a CoT
(`hawkeye.collapse`). A sentence that fits no template is `other`;
`\\boxed{...}` is `answer`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hawkeye.data.sources.testbed import FILLER, ITEMS, NAMES

WASTE_KINDS = ("filler", "repeat", "fine")

_SENTENCE_END = re.compile(r"(?<=\.)\s+|\s+(?=\\boxed\{)")
_CRITICAL = re.compile(r"^(?P<event>(?:He|She) [A-Za-z0-9 ]+): (?P<x>\d+) (?P<op>[-+*]) (?P<k>\d+) = (?P<y>-?\d+)\.$")
_FINE = re.compile(r"^\d+(?: [-+*] \d+)+ = -?\d+\.$")
_REPEAT = re.compile(rf"^(?:So )?(?:{'|'.join(NAMES)}) has -?\d+ (?:{'|'.join(ITEMS)})\.$")
_ANSWER = re.compile(r"^\\boxed\{[^{}]*\}\.?$")


@dataclass(frozen=True)
class Sentence:
    kind: str                    # critical | filler | repeat | fine | answer | other
    text: str
    event: str | None = None     # critical only: the story sentence it computes
    op: str | None = None
    x: int | None = None
    k: int | None = None
    y: int | None = None


def split_sentences(cot: str) -> list[str]:
    return [s for s in (p.strip() for p in _SENTENCE_END.split(cot.strip())) if s]


def label(text: str) -> Sentence:
    """The kind of one sentence."""
    if m := _CRITICAL.match(text):
        return Sentence("critical", text, m["event"], m["op"], int(m["x"]), int(m["k"]), int(m["y"]))
    if text in FILLER:
        return Sentence("filler", text)
    if _REPEAT.match(text):
        return Sentence("repeat", text)
    if _FINE.match(text):
        return Sentence("fine", text)
    if _ANSWER.match(text):
        return Sentence("answer", text)
    return Sentence("other", text)


def read_cot(cot: str) -> list[Sentence]:
    """Every sentence of `cot`, labelled."""
    return [label(s) for s in split_sentences(cot)]


def as_segments(cot: str) -> list[dict[str, str]]:
    """`cot` as labelled segments, the shape of a prepared row's `segments` (answer and other
    sentences are labelled too: they are not waste)."""
    return [{"kind": s.kind, "text": s.text} for s in read_cot(cot)]


def critical_tokens(row: dict[str, Any], tokenizer: Any) -> int:
    """The length of the question's critical steps in `tokenizer`'s tokens (Model A's): the CoT content
    no correct answer can leave out."""
    text = " ".join(s["text"] for s in row["segments"] if s["kind"] == "critical")
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def reference_steps(row: dict[str, Any]) -> list[Sentence]:
    """The question's critical steps, in order, from the row's ground-truth segments."""
    return [label(s["text"]) for s in row["segments"] if s["kind"] == "critical"]


def step_correct(stated: Sentence, reference: Sentence) -> bool:
    """A stated critical step is right only when it computes the true running values: its x is the
    total before the step, its op and k the story's, its y the total after. An equation that holds as
    written but starts from a wrong earlier value carries the error on, so it is not right."""
    return (stated.x, stated.op, stated.k, stated.y) == (reference.x, reference.op, reference.k, reference.y)


@dataclass(frozen=True)
class StepsKept:
    """Which of the question's critical steps a CoT states, and how."""

    total: int                    # critical steps of the question (its operations)
    kept: list[bool]              # per reference step: the CoT has a critical sentence for its event
    correct: list[bool]           # per reference step: kept, and `step_correct` (the true running values)
    waste_sentences: list[str]    # the CoT's filler, repeat and fine sentences
    other_sentences: list[str]    # the CoT's sentences that fit no template
    n_sentences: int              # the CoT's sentences but its answer (`\boxed{...}`): what A reasoned with

    @property
    def n_kept(self) -> int:
        return sum(self.kept)

    @property
    def n_correct(self) -> int:
        return sum(self.correct)

    @property
    def leaves_last_to_b(self) -> bool:
        """The CoT computes some of the steps but stops before the last one (the poster's "Adding these
        values together."): the final operation is left to whoever reads it."""
        return self.n_kept > 0 and not self.kept[-1]

    @property
    def no_steps(self) -> bool:
        return self.n_kept == 0


def steps_kept(cot: str, row: dict[str, Any]) -> StepsKept:
    """Match the CoT's critical sentences to the question's steps, in order (an event that occurs twice
    in a story is matched to its occurrences in turn)."""
    steps = reference_steps(row)
    sentences = read_cot(cot)
    kept, correct = [False] * len(steps), [False] * len(steps)
    start = 0
    for s in sentences:
        if s.kind != "critical":
            continue
        for i in range(start, len(steps)):
            if steps[i].event == s.event:
                kept[i] = True
                correct[i] = step_correct(s, steps[i])
                start = i + 1
                break
    return StepsKept(len(steps), kept, correct, [s.text for s in sentences if s.kind in WASTE_KINDS],
                     [s.text for s in sentences if s.kind == "other"],
                     sum(s.kind != "answer" for s in sentences))
