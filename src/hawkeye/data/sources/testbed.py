"""The CPU testbed: arithmetic word problems whose chains of thought carry *planted* overthinking.

Each problem is a short story of `min_ops`..`max_ops` operations on a running total:

    "Mia has 7 apples. She buys 3 more. She gives away 4. She then doubles them. How many apples
     does Mia have now?"

Its reference CoT interleaves the critical steps ("She buys 3 more: 7 + 3 = 10.") with the three
kinds of waste
the paper names, each drawn at random so that a model trained on them writes CoTs of varied length:

- filler ("Let me think.", "Hmm, okay."): a sentence with no content;
- repeated statements ("So Mia has 10 apples."): a restatement of the result just computed;
- overly fine-grained sub-steps ("6 * 2 = 12." then "6 + 6 = 12."; "10 + 2 = 12." then
  "10 + 1 = 11. 11 + 1 = 12."): arithmetic the critical equation already states.

Every row records its CoT as labelled segments, so the waste is ground truth: curation and
compression can be scored against it (precision and recall of removed tokens), which no real
dataset allows. The design comes from the task alone (how a verbose solver writes), never from the
outcome of the experiments it serves: the waste rates below are fixed constants chosen so that the
critical equations are about half of a reference CoT, as in the poster's example (600 -> 182 tokens
was a 70% cut; GSM8K 331 -> 171 was 48%).

Every row records its arithmetic *signature*: the start value, then each operation as its sign and
operand, space separated ("Mia has 7 apples. She buys 3 more. She gives away 4. She then doubles
them." -> "7 +3 -4 *2"). Two questions with one signature are the same arithmetic told with other
names, items or verbs.

The splits are disjoint by signature, not only by question text: `Partition` assigns every signature
to train, validation or test by a seeded hash (a fixed share of the signature space each, so each
split holds one-operation questions too), and a split's generator redraws any problem whose
signature belongs to another split. A model is therefore never scored on arithmetic it trained on.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hawkeye.errors import ConfigError

NAMES = ("Mia", "Tom", "Ava", "Leo", "Zoe", "Sam", "Ivy", "Max", "Eva", "Ben")
PRONOUN = {"Mia": "She", "Ava": "She", "Zoe": "She", "Ivy": "She", "Eva": "She",
           "Tom": "He", "Leo": "He", "Sam": "He", "Max": "He", "Ben": "He"}
ITEMS = ("apples", "books", "coins", "cards", "shells", "stamps", "pens", "marbles")
FILLER = ("Let me think.", "Hmm, okay.", "Okay, so.", "Let me see.", "Alright.", "Hmm, wait.")

# Waste rates (probabilities per step), fixed by design: see the module docstring.
P_FILLER = 0.5
P_RESTATE = 0.6
P_RESTATE_TWICE = 0.3
P_FINE = 0.6


@dataclass(frozen=True)
class TestbedSpec:
    """Generator parameters (the `data` config group's testbed keys)."""

    __test__ = False  # not a pytest test class, whatever its name

    min_ops: int
    max_ops: int
    max_operand: int
    max_total: int

    def __post_init__(self) -> None:
        if self.min_ops < 1:
            raise ConfigError(f"min_ops={self.min_ops} must be >= 1")
        if self.max_ops < self.min_ops:
            raise ConfigError(f"max_ops={self.max_ops} must be >= min_ops={self.min_ops}")
        if self.max_ops > 8:
            raise ConfigError(f"max_ops={self.max_ops} must be <= 8")
        if self.max_operand < 2:
            raise ConfigError(f"max_operand={self.max_operand} must be >= 2")
        if self.max_total < 2 * self.max_operand:
            raise ConfigError(f"max_total={self.max_total} must be >= 2*max_operand={2 * self.max_operand}")


@dataclass(frozen=True)
class Partition:
    """Which split owns a signature: sha256 of "seed:signature" read as a number u in [0, 1);
    u < test_share -> test, u < test_share + val_share -> val, else train. A hash, not a draw, so
    the assignment needs no list of all signatures and a split never depends on another's size."""

    signature_seed: int
    val_share: float
    test_share: float

    def __post_init__(self) -> None:
        for key in ("val_share", "test_share"):
            if not 0 < getattr(self, key) < 1:
                raise ConfigError(f"{key}={getattr(self, key)} must be in (0, 1)")
        if self.val_share + self.test_share >= 1:
            raise ConfigError(f"test_share={self.test_share} must leave training a share: val_share + test_share = "
                              f"{self.val_share + self.test_share:g} must be < 1")

    def unit(self, signature: str) -> float:
        digest = hashlib.sha256(f"{self.signature_seed}:{signature}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def part(self, signature: str) -> str:
        """"train", "val" or "test"."""
        u = self.unit(signature)
        return "test" if u < self.test_share else "val" if u < self.test_share + self.val_share else "train"


def signature(start: int, ops: list[tuple[str, int]]) -> str:
    """The arithmetic of a problem: "7 +3 -4 *2" (start value, then sign and operand per operation)."""
    return " ".join([str(start), *(f"{op}{k}" for op, k in ops)])


def _step(rng: random.Random, total: int, spec: TestbedSpec) -> tuple[str, int, str] | None:
    """One operation on `total`: (op, operand, story sentence) or None if no op keeps 0..max_total."""
    options = []
    if total + 1 <= spec.max_total:
        options.append("+")
    if total >= 1:
        options.append("-")
    if total >= 1 and total * 2 <= spec.max_total:
        options.append("*")
    if not options:
        return None
    op = rng.choice(options)
    if op == "+":
        k = rng.randint(1, min(spec.max_operand, spec.max_total - total))
        verb = rng.choice(("buys {k} more", "finds {k} more", "gets {k} more"))
    elif op == "-":
        k = rng.randint(1, min(spec.max_operand, total))
        verb = rng.choice(("gives away {k}", "loses {k}", "sells {k}"))
    else:
        k = rng.randint(2, max(2, min(3, spec.max_total // total)))
        verb = {2: "then doubles them", 3: "then triples them"}[k]
    return op, k, verb.format(k=k)


def _apply(total: int, op: str, k: int) -> int:
    return total + k if op == "+" else total - k if op == "-" else total * k


def _fine_steps(total: int, op: str, k: int) -> list[str]:
    """The overly fine-grained spelling of one operation (what a careful-to-a-fault solver writes):
    a product as a repeated sum; a small step counted in ones; a larger one in two halves."""
    if op == "*":
        return [" + ".join([str(total)] * k) + f" = {total * k}."]
    sign = 1 if op == "+" else -1
    parts = [1] * k if k <= 3 else [k // 2, k - k // 2]
    out, x = [], total
    for part in parts:
        out.append(f"{x} {op} {part} = {x + sign * part}.")
        x += sign * part
    return out if k > 1 else []


def make_problem(rng: random.Random, spec: TestbedSpec) -> dict[str, Any]:
    """One problem: question, answer, reference CoT, its labelled segments and its signature."""
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    he = PRONOUN[name]
    n_ops = rng.randint(spec.min_ops, spec.max_ops)
    while True:
        total = start = rng.randint(1, spec.max_operand)
        ops = []
        for _ in range(n_ops):
            step = _step(rng, total, spec)
            if step is None:
                break
            ops.append(step)
            total = _apply(total, step[0], step[1])
        if len(ops) == n_ops:
            break
    story = [f"{name} has {start} {item}."] + [f"{he} {verb}." for _, _, verb in ops]
    question = " ".join(story) + f" How many {item} does {name} have now?"

    segments: list[tuple[str, str]] = []
    x = start
    for (op, k, _verb), sentence in zip(ops, story[1:], strict=True):
        y = _apply(x, op, k)
        if rng.random() < P_FILLER:
            segments.append(("filler", rng.choice(FILLER)))
        # A critical step names the event it computes ("He buys 3 more: 9 + 3 = 12."), as a careful
        # solution does; it also lets a small model find its operand by copying the story in order.
        segments.append(("critical", f"{sentence[:-1]}: {x} {op} {k} = {y}."))
        if rng.random() < P_FINE:  # the step again, spelled out (after it, as a solver double-checks)
            segments.extend(("fine", s) for s in _fine_steps(x, op, k))
        if rng.random() < P_RESTATE:
            segments.append(("repeat", f"So {name} has {y} {item}."))
            if rng.random() < P_RESTATE_TWICE:
                segments.append(("repeat", f"{name} has {y} {item}."))
        x = y
    return {
        "question": question,
        "answer": str(x),
        "reference_cot": " ".join(text for _, text in segments),
        "segments": [{"kind": kind, "text": text} for kind, text in segments],
        "signature": signature(start, [(op, k) for op, k, _ in ops]),
    }


def critical_steps(segments: list[dict[str, str]]) -> list[str]:
    """The critical steps, one per operation, in order."""
    return [s["text"] for s in segments if s["kind"] == "critical"]


def critical_cot(segments: list[dict[str, str]]) -> str:
    """The CoT with every planted waste segment removed (the critical minimum)."""
    return " ".join(critical_steps(segments))


def generate(split: str, size: int, seed: int, spec: TestbedSpec, exclude: set[str] | None = None,
             keep: Callable[[str], bool] | None = None) -> list[dict[str, Any]]:
    """`size` distinct problems from `seed`; questions in `exclude` (another split's) and problems whose
    signature `keep` refuses (another split's part of the signature space) are redrawn."""
    if size < 1:
        raise ConfigError(f"testbed split {split!r}: size={size} must be >= 1")
    rng = random.Random(seed)
    exclude = exclude or set()
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    attempts = 0
    while len(rows) < size:
        attempts += 1
        if attempts > 50 * size:
            raise ConfigError(f"testbed split {split!r}: cannot draw {size} distinct problems with {spec}")
        p = make_problem(rng, spec)
        if p["question"] in seen or p["question"] in exclude or (keep is not None and not keep(p["signature"])):
            continue
        seen.add(p["question"])
        rows.append({"id": f"{split}-{len(rows):05d}", "source": "testbed", **p})
    return rows
