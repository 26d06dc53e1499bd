"""Deterministic CoT refinement: remove the poster's three kinds of redundancy.

1. repeated sentences: a sentence equal or near-equal (difflib ratio >= threshold on a
   normalised form) to an earlier kept one is dropped, but only if every number in it also
   appears in the kept one, so "3 + 4 = 7" never swallows "3 + 4 = 8";
2. filler: openings and interjections ("Okay, so", "Hmm", "Alright, let's see", "Wait,",
   "Well,", "Oh,", "Let me think") are cut, keeping the content after them; a sentence left with
   no content, or only a digit-free meta phrase ("how to approach this"), is dropped;
3. overly fine-grained steps: runs of short pure-arithmetic sentences ("3 + 4 = 7." "7 * 2 = 14.")
   become one line "3 + 4 = 7; 7 * 2 = 14."; GSM8K calculator annotations `<<48/2=24>>` go.

Invariant: no rule removes a digit that is not kept elsewhere. `numbers(rules_output)` equals
`numbers(input without <<...>>)` as sets, so the final answer and every number it depends on
survive. Structure is kept: sentences of under 3 words ("\\]", "3.") are never repeats, lines
keep their indentation, and fenced code blocks pass through untouched. `refine_with_rules` checks the final answer explicitly and returns the input (minus
annotations) if it changed.
"""

from __future__ import annotations

import difflib
import re
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
    """Equal or near-equal to a kept sentence, with no number the kept one lacks. Sentences of
    under MIN_REPEAT_WORDS words ("\\]", "3.", "Yes.") are structure, never repeats."""
    canon, nums = _canonical(sentence), numbers(sentence)
    if len(re.findall(r"\w+", canon)) < MIN_REPEAT_WORDS:
        return False
    for other in kept:
        if nums <= numbers(other) and difflib.SequenceMatcher(None, canon, _canonical(other)).ratio() >= threshold:
            return True
    return False


# --- rule 3: fine-grained arithmetic ---------------------------------------------------------
def is_arithmetic_step(sentence: str) -> bool:
    s = re.sub(r"\\(?:times|cdot|div)", "*", sentence)
    return len(s) <= MAX_ARITHMETIC_CHARS and "=" in s and bool(re.search(r"\d", s)) and bool(ARITHMETIC.match(s))


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


def _refine_prose(text: str, kept: list[str], threshold: float) -> str:
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
    return join_units(merge_arithmetic(units))


def apply_rules(cot: str, near_duplicate_threshold: float = 0.9) -> str:
    """The three rules, in order: annotations, filler, repeats, then merging steps.
    Fenced code blocks (```) pass through untouched: their lines are not sentences."""
    text = CALC_ANNOTATION.sub("", cot)
    out: list[str] = []
    kept: list[str] = []
    prose: list[str] = []
    in_code = False

    def flush() -> None:
        refined = _refine_prose("\n".join(prose), kept, near_duplicate_threshold)
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


def refine_with_rules(cot: str, near_duplicate_threshold: float = 0.9) -> str:
    """`apply_rules`, but never at the cost of the final answer: if the rules change what
    `extract_answer` reads, keep the input (minus calculator annotations) instead."""
    refined = apply_rules(cot, near_duplicate_threshold)
    before = extract_answer(cot, fallback_last_number=True)
    after = extract_answer(refined, fallback_last_number=True)
    if before is not None and not answers_match(before, after):
        return CALC_ANNOTATION.sub("", cot).strip()
    return refined
