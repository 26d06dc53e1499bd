"""Deterministic CoT refinement: remove the poster's three kinds of redundancy.

1. repeated statements:
   - a sentence equal or near-equal (difflib ratio >= threshold on a normalised form) to an earlier
     kept one is dropped, but only if every number in it also appears in the kept one, so
     "3 + 4 = 7" never swallows "3 + 4 = 8";
   - a restatement is dropped: a sentence with no arithmetic whose only number is the value the
     equation of the sentence before it just computed ("9 + 3 = 12. So she has 12 coins."), unless it
     states the answer or relates quantities ("... 12 more", "each ...": new information, not a
     restatement);
2. filler: openings and interjections ("Okay, so", "Hmm", "Alright, let's see", "Wait,",
   "Well,", "Oh,", "Let me think") are cut, keeping the content after them; a sentence left with
   no content, or only a digit-free meta phrase ("how to approach this"), is dropped;
3. overly fine-grained steps:
   - a run of pure-arithmetic sentences that goes from x to y ("9 + 1 = 10. 10 + 1 = 11. 11 + 1 = 12.",
     each starting from the previous result) is dropped when a kept equation already states
     x op k = y ("9 + 3 = 12"): the run only spells that step out;
   - a spelled-out product ("6 + 6 = 12.") is dropped next to the product it spells ("2 * 6 = 12");
   - other runs of short pure-arithmetic sentences ("3 + 4 = 7." "7 * 2 = 14.") become one line
     "3 + 4 = 7; 7 * 2 = 14."; GSM8K calculator annotations `<<48/2=24>>` go.

Invariant: no critical value disappears. A number leaves the text only as an intermediate value of a
dropped run (whose endpoints the covering equation keeps), and a run is kept when a later equation
uses one of its intermediate values that neither the question nor the kept text before that equation
states, so every operand and result the remaining equations build on, and the final answer, survive.
Structure is kept: sentences of under 3 words ("\\]", "3.") are never repeats, lines keep their
indentation, and fenced code blocks pass through untouched. `refine_with_rules` checks the final
answer explicitly and returns the input (minus annotations) if it changed.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from hawkeye.answers import answers_match, extract_answer

CALC_ANNOTATION = re.compile(r"<<[^<>]*>>")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?(?![\d])")

_FILLER_WORD = (
    r"(?:but\s+)?(?:okay|ok|alright|all\s+right|hmm+|hm+|well|oh|ah+|um+|uh+|wait|so|right|now|"
    r"first\s+off|you\s+know|let\s+me\s+think(?:\s+about\s+(?:this|it))?|let\s+me\s+see|"
    r"let's\s+see|let\s+us\s+see)"
)
FILLER_OPENING = re.compile(rf"^(?:{_FILLER_WORD}\b[\s,.!:;…-]*)+", re.IGNORECASE)
FILLER_INTERJECTION = re.compile(r",\s*(?:hmm+|um+|uh+|oh|wait|well|you\s+know)\s*,", re.IGNORECASE)
# "... = n/2)$ But wait, in the problem ..." (a run-on sentence): the filler sits mid-sentence.
FILLER_MIDSENTENCE = re.compile(r"(?<=\S)\s+(?:but\s+)?(?:wait|hmm+|oh|okay|alright),\s*(?=\w)", re.IGNORECASE)
# What is left of "Alright, let's see how to approach this." once the filler is cut.
META_REMAINDER = re.compile(
    r"^(?:how\s+to\s+(?:approach|solve|start)|how\s+(?:do|should|can)\s+i\s+(?:approach|solve|start)|"
    r"what\s+to\s+do|where\s+to\s+start|let\s+me\s+(?:start|begin))\b",
    re.IGNORECASE,
)
# A short pure-arithmetic step: digits, operators and `=` only ("3 + 4 = 7.", "$7 \times 2 = 14$").
ARITHMETIC = re.compile(r"^[\d\s.,+\-*/×÷·^()=$]+$")
MAX_ARITHMETIC_CHARS = 60
MIN_REPEAT_WORDS = 3
CODE_FENCE = re.compile(r"^\s*```")


def normalize_number(s: str) -> str:
    """'1,000' -> '1000', '18.00' -> '18', '-0.50' -> '-0.5' (so numbers compare by value)."""
    s = s.replace(",", "")
    try:
        d = Decimal(s).normalize()
    except InvalidOperation:
        return s
    return format(d, "f")


def numbers(text: str) -> set[str]:
    """Every number written in `text`, normalised."""
    return {normalize_number(n) for n in NUMBER.findall(text)}


NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40,
    "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000,
    "dozen": 12, "half": 2, "twice": 2, "double": 2, "thrice": 3, "triple": 3, "quadruple": 4,
}
_NUMBER_WORD = re.compile(rf"\b({'|'.join(NUMBER_WORDS)})(?:s|d|ds)?\b", re.IGNORECASE)


def stated_numbers(text: str) -> set[str]:
    """The numbers `text` states, in digits or in words ("doubles" states 2, "a dozen" 12)."""
    return numbers(text) | {str(NUMBER_WORDS[w.lower()]) for w in _NUMBER_WORD.findall(text)}


@dataclass(frozen=True)
class Equation:
    """`a op b op ... = r` as written, numbers normalised ("9 + 3 = 12" -> ("9", "3"), ("+",), "12")."""

    operands: tuple[str, ...]
    ops: tuple[str, ...]
    result: str


_NUM = r"\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_OP = r"[-+*/×÷·]"
EQUATION = re.compile(rf"(?<![\w.,])({_NUM}(?:\s*{_OP}\s*{_NUM})+)\s*=\s*({_NUM})(?![\d])")
_LATEX_OPS = {r"\times": "*", r"\cdot": "*", r"\div": "/", "×": "*", "·": "*", "÷": "/"}


def equations(sentence: str) -> list[Equation]:
    """Every `a op b ... = r` in `sentence` (LaTeX \\times/\\cdot/\\div read as * and /)."""
    for latex, op in _LATEX_OPS.items():
        sentence = sentence.replace(latex, f" {op} ")
    out = []
    for m in EQUATION.finditer(sentence):
        parts = re.split(rf"\s*({_OP})\s*", m.group(1))
        operands = tuple(normalize_number(p.lstrip("$")) for p in parts[::2])
        out.append(Equation(operands, tuple(parts[1::2]), normalize_number(m.group(2).lstrip("$"))))
    return out


def split_units(text: str) -> list[tuple[str, bool]]:
    """Sentences in order, each with whether a line break follows it. The first sentence of a
    line keeps the line's indentation (lists, display math)."""
    units: list[tuple[str, bool]] = []
    for line in text.split("\n"):
        parts = [p for p in SENTENCE_END.split(line.rstrip()) if p.strip()]
        for i, part in enumerate(parts):
            units.append((part if i == 0 else part.strip(), i == len(parts) - 1))
    return units


def join_units(units: list[tuple[str, bool]]) -> str:
    out = ""
    for sentence, line_end in units:
        out += sentence + ("\n" if line_end else " ")
    return out.strip()


# --- rule 2: filler ---------------------------------------------------------------------------
def strip_filler(sentence: str) -> str:
    """Cut filler openings and interjections; '' if nothing with content is left."""
    s = FILLER_INTERJECTION.sub(",", sentence)
    s = FILLER_MIDSENTENCE.sub(" ", s)
    s = FILLER_OPENING.sub("", s).strip()
    if not re.search(r"[\w\\$]", s):
        return ""  # "Hmm." / "Okay!" was filler only
    if not re.search(r"\d", s) and META_REMAINDER.match(s):
        return ""
    # Capitalise a word ("the total" -> "The total") but not a variable ("x is 3").
    return s[0].upper() + s[1:] if re.match(r"[a-z]{2,}\b", s) else s


# --- rule 1: repeats --------------------------------------------------------------------------
def _canonical(sentence: str) -> str:
    return " ".join(re.sub(r"[^\w=+\-*/^.]", " ", sentence.lower()).split())


def is_repeat(sentence: str, kept: list[str], threshold: float) -> bool:
    """Equal or near-equal to a kept sentence, with no number the kept one lacks, the same equations
    and no operand computed again since. Sentences of under MIN_REPEAT_WORDS words ("\\]", "3.", "Yes.") are
    structure, never repeats."""
    canon, nums = _canonical(sentence), numbers(sentence)
    if len(re.findall(r"\w+", canon)) < MIN_REPEAT_WORDS:
        return False
    eqs = set(equations(sentence))
    operands = {n for e in eqs for n in e.operands}
    for k, other in enumerate(kept):
        if not (nums <= numbers(other)
                and difflib.SequenceMatcher(None, canon, _canonical(other)).ratio() >= threshold):
            continue
        # A different equation is a different step ("He loses 1: 3 - 1 = 2." then "He loses 1: 2 - 1 = 1."),
        # and so is the same step on a value computed again since ("4 + 7 = 11", "8 - 4 = 4", "4 + 7 = 11").
        if eqs == set(equations(other)) and not operands & {
                e.result for later in kept[k + 1:] for e in equations(later)}:
            return True
    return False


RELATION_WORDS = re.compile(
    r"\b(?:more|less|fewer|than|each|per|every|times|twice|half|double|triple|another|extra|additional|"
    r"percent)\b|%", re.IGNORECASE)


def is_restatement(sentence: str, value: str) -> bool:
    """A sentence with no arithmetic that only says the value just computed ("So Tom has 12 coins."),
    and neither states the final answer nor relates quantities."""
    return ("=" not in sentence and numbers(sentence) == {value} and len(re.findall(r"[A-Za-z]+", sentence)) >= 2
            and extract_answer(sentence) is None and not RELATION_WORDS.search(sentence))


def drop_restatements(sentences: list[str], dropped: set[int]) -> set[int]:
    """`dropped` plus every restatement of the result of the kept sentence before it."""
    dropped = set(dropped)
    prev: int | None = None  # the last kept sentence
    for i, sentence in enumerate(sentences):
        if i in dropped:
            continue
        eqs = equations(sentences[prev]) if prev is not None else []
        if eqs and is_restatement(sentence, eqs[-1].result):
            dropped.add(i)
            continue
        prev = i
    return dropped


# --- rule 3: fine-grained arithmetic ---------------------------------------------------------
def is_arithmetic_step(sentence: str) -> bool:
    s = re.sub(r"\\(?:times|cdot|div)", "*", sentence)
    return len(s) <= MAX_ARITHMETIC_CHARS and "=" in s and bool(re.search(r"\d", s)) and bool(ARITHMETIC.match(s))


def _step(sentence: str) -> Equation | None:
    """The one equation of a pure-arithmetic sentence ("9 + 1 = 10."), else None."""
    if not is_arithmetic_step(sentence):
        return None
    eqs = equations(sentence)
    return eqs[0] if len(eqs) == 1 else None


def _spells_product(step: Equation, other: Equation) -> bool:
    """`step` is `other`, a product a * m, written as a sum of m a's ("6 + 6 = 12" for "2 * 6 = 12")."""
    term = step.operands[0]
    return (len(step.operands) >= 2 and set(step.ops) == {"+"} and set(step.operands) == {term}
            and len(other.operands) == 2 and other.ops == ("*",) and other.result == step.result
            and sorted(other.operands) == sorted([term, normalize_number(str(len(step.operands)))]))


def drop_fine_steps(sentences: list[str], question: str = "") -> set[int]:
    """Indices of the pure-arithmetic runs that only spell out a step a kept equation states.

    A run i..j chains its steps (each starts from the previous result) from x to y; it goes when a
    kept sentence before it (from then on pinned: never dropped itself) states x op k = y, or, for a
    single spelled-out product ("6 + 6 = 12"), when the sentence next to it states the product.
    Longest run first. Then, until nothing changes, a run comes back when a kept equation after it uses
    one of its intermediate values that neither the question nor the kept text before that equation
    states: the remaining text needs that value."""
    eqs = [equations(s) for s in sentences]
    steps = [_step(s) for s in sentences]
    runs: list[tuple[int, int, int]] = []  # (first, last, covering sentence)
    pinned: set[int] = set()

    def dropped() -> set[int]:
        return {t for i, j, _ in runs for t in range(i, j + 1)}

    def cover(i: int, j: int) -> int | None:
        """The kept sentence whose equation run i..j spells out, nearest first, or None."""
        x, y, gone = steps[i].operands[0], steps[j].result, dropped()
        for c in [i - 1, j + 1, *range(i - 2, -1, -1)]:
            if not 0 <= c < len(sentences) or c in gone:
                continue
            for e in eqs[c]:
                if i == j and c in (i - 1, j + 1) and _spells_product(steps[i], e):
                    return c
                # x op k = y, stated before the run ("already"); one step alone only spells out a
                # prose step: of two bare steps "6 * 2 = 12. 6 + 6 = 12." neither spells the other.
                if c < i and len(e.operands) == 2 and (e.operands[0], e.result) == (x, y) and (
                        i < j or steps[c] is None):
                    return c
        return None

    i = 0
    while i < len(sentences):
        if steps[i] is None or i in pinned:
            i += 1
            continue
        j = i  # the longest chain from i
        while (j + 1 < len(sentences) and steps[j + 1] is not None and j + 1 not in pinned
               and steps[j + 1].operands[0] == steps[j].result):
            j += 1
        for end in range(j, i - 1, -1):
            c = cover(i, end)
            if c is not None:
                runs.append((i, end, c))
                pinned.add(c)
                i = end
                break
        i += 1

    nums = [numbers(s) for s in sentences]
    given = stated_numbers(question)

    def needed(i: int, j: int, c: int) -> bool:
        gone = dropped()
        inner = set().union(*nums[i:j + 1]) - nums[c]
        stated = given.union(*(nums[t] for t in range(j + 1) if t not in gone))  # before `later`, kept
        for later in range(j + 1, len(sentences)):
            if later in gone:
                continue
            if {n for e in eqs[later] for n in e.operands} & inner - stated:
                return True
            stated |= nums[later]
        return False

    while back := next((run for run in runs if needed(*run)), None):
        runs.remove(back)
    return dropped()


def merge_arithmetic(units: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    merged: list[tuple[str, bool]] = []
    run: list[tuple[str, bool]] = []

    def flush() -> None:
        if len(run) >= 2:
            merged.append(("; ".join(s.rstrip(" .;") for s, _ in run) + ".", True))
        else:
            merged.extend(run)
        run.clear()

    for unit in units:
        if is_arithmetic_step(unit[0]):
            run.append(unit)
        else:
            flush()
            merged.append(unit)
    flush()
    return merged


def _drop(units: list[tuple[str, bool]], drop: set[int]) -> list[tuple[str, bool]]:
    """`units` without the indices in `drop`; a dropped line end moves to the kept unit before it."""
    kept: list[tuple[str, bool]] = []
    for i, (sentence, line_end) in enumerate(units):
        if i not in drop:
            kept.append((sentence, line_end))
        elif kept and line_end:
            kept[-1] = (kept[-1][0], True)
    return kept


def _refine_prose(text: str, kept: list[str], threshold: float, question: str) -> str:
    units: list[tuple[str, bool]] = []
    for sentence, line_end in split_units(text):
        indent = sentence[: len(sentence) - len(sentence.lstrip())]
        body = strip_filler(sentence.strip())
        if not body or is_repeat(body, kept, threshold):
            if units and line_end:  # keep the line break of a dropped last sentence
                units[-1] = (units[-1][0], True)
            continue
        kept.append(body)
        units.append((indent + body, line_end))
    bodies = [u.strip() for u, _ in units]
    units = _drop(units, drop_restatements(bodies, drop_fine_steps(bodies, question)))
    return join_units(merge_arithmetic(units))


def apply_rules(cot: str, near_duplicate_threshold: float = 0.9, question: str = "") -> str:
    """The three rules, in order: annotations, filler, repeats, fine-grained runs and restatements,
    then merging steps. Fenced code blocks (```) pass through untouched: their lines are not sentences.
    `question` (optional) holds numbers the CoT may use without stating them (see `drop_fine_steps`)."""
    text = CALC_ANNOTATION.sub("", cot)
    out: list[str] = []
    kept: list[str] = []
    prose: list[str] = []
    in_code = False

    def flush() -> None:
        refined = _refine_prose("\n".join(prose), kept, near_duplicate_threshold, question)
        if refined:
            out.append(refined)
        prose.clear()

    for line in text.split("\n"):
        if CODE_FENCE.match(line) or in_code:
            if not in_code:
                flush()
            out.append(line)
            in_code = in_code != bool(CODE_FENCE.match(line))
        else:
            prose.append(line)
    flush()
    return "\n".join(out).strip()


def refine_with_rules(cot: str, near_duplicate_threshold: float = 0.9, question: str = "") -> str:
    """`apply_rules`, but never at the cost of the final answer: if the rules change what
    `extract_answer` reads, keep the input (minus calculator annotations) instead."""
    refined = apply_rules(cot, near_duplicate_threshold, question)
    before = extract_answer(cot, fallback_last_number=True)
    after = extract_answer(refined, fallback_last_number=True)
    if before is not None and not answers_match(before, after):
        return CALC_ANNOTATION.sub("", cot).strip()
    return refined
