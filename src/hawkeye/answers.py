"""Answer extraction and equivalence: the one checker every stage uses (curation, reward, eval).

- `extract_answer` finds the final answer in free text: the LAST `\\boxed{...}` (nested braces,
  also `\\boxed 5`), else the last `#### N` (GSM8K style), else the last stated answer ("the
  answer is N", "so answer is N", "Answer: N", "**Answer:** N", a "Final Answer" heading with N on
  the next line); optionally the last number in the text. None when nothing is found. A stated
  number followed by prose ("18 because 9*2=18") is the number.
- `answers_match` brings both sides to `canonical_answer` (dollar signs, thousands commas, units,
  `%`, a trailing period dropped), spells out numbers in scientific e-notation ("1.5e-2" -> "0.015")
  and then asks math-verify, gold FIRST (its `verify` is asymmetric). It never raises.
- math-verify's timeouts use SIGALRM, which only works on the main thread; elsewhere (Lightning
  workers, server threads) the timeouts are disabled.
"""

from __future__ import annotations

import re
import threading
from decimal import Decimal

from math_verify import parse, verify

_TIMEOUT_S = 5
# A scientific e-notation exponent ("1e3", "1.5e-2", "2E+5"); written after a number's digits.
_EXP = r"(?:[eE][+-]?\d+)?"

_BOXED = re.compile(r"\\(?:boxed|fbox)\b")
_HASHES = re.compile(r"####\s*([^\n]+)")
# Lazy capture up to a sentence end, so "The answer is 4. ... The answer is 6." finds both.
# Markdown bold may wrap the label or the value: "**Answer:** 7", "**Answer**: 7", "Answer: **7**".
_ANSWER_IS = re.compile(
    r"\banswer\s*(?:\*\*)?\s*(?:is(?=\s)|:)\s*(?:\*\*)?\s*:?\s*([^\n]+?)(?=\.\s|\.?$|\n)",
    re.IGNORECASE | re.MULTILINE,
)
# A "Final Answer" heading (markdown or not) with the answer alone on the next non-empty line.
_ANSWER_HEADING = re.compile(r"^[#*\s]*final\s+answer[*\s]*:?[*\s]*\n\s*([^\n]+)", re.IGNORECASE | re.MULTILINE)
# "18 because 9*2=18", "18, since ...", "18 dollars": a leading number, then words (not `\pi`, `sqrt`).
_NUMBER_THEN_PROSE = re.compile(
    r"^(\$?-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?" + _EXP + r"%?)(?:\s*[,;]\s+|\s+)(?!(?:pi|sqrt|sin|cos|tan|log|ln|i)\b)[A-Za-z]{2,}\b"
)
# An exponent must end its token: "1e3x" holds no e-notation number.
_NUMBER = re.compile(r"(?:-?\d[\d,]*(?:\.\d+)?|-?\.\d+)(?:[eE][+-]?\d+\b)?")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_TEXT_CMD = re.compile(r"\\(?:text|textbf|mathrm|mbox)\s*\{([^{}]*)\}")
# "18 dollars", "$18.00 per hour", "5 apples." -> the leading number; not "3x + 1" or "2 \pi".
_NUMBER_THEN_WORDS = re.compile(r"^(-?\d+(?:\.\d+)?" + _EXP + r")\s+[A-Za-z][A-Za-z\s/.'-]*$")

# A number in e-notation standing alone (not "e3", "2e", "x1e3" or "1e3x"); the sign stays outside.
_E_NUMBER = re.compile(r"(?<![\w.])(?:\d+(?:\.\d*)?|\.\d+)[eE][+-]?\d+(?![\w.])")
# Beyond this exponent the spelled-out decimal would be huge: such a number only equals itself.
_MAX_EXPONENT = 300


def _boxed_content(text: str, start: int) -> str | None:
    """The argument of the \\boxed found at `start`: `{...}` with nested braces, or `\\boxed 5`."""
    i = start
    while i < len(text) and text[i].isspace():
        i += 1
    if i >= len(text):
        return None
    if text[i] != "{":
        m = re.match(r"[^\s$]+", text[i:])  # `\boxed 5` / `\boxed5`: up to whitespace or `$`
        return m.group(0) if m else None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
    return None  # unbalanced: the text was cut off inside the box


def _first_clause(s: str) -> str:
    """'42. So she pays 42.' -> '42': stop at a sentence end (a period followed by space/end),
    drop markdown bold, and keep only the number of '18 because ...'."""
    s = s.strip()
    m = re.search(r"\.(\s|$)", s)
    s = (s[: m.start()] if m else s).strip().strip("*").strip()
    m = _NUMBER_THEN_PROSE.match(s)
    return m.group(1) if m else s


def extract_answer(text: str, fallback_last_number: bool = False) -> str | None:
    """The final answer in `text` as written (not normalised), or None if there is none."""
    if not isinstance(text, str) or not text:
        return None
    for m in reversed(list(_BOXED.finditer(text))):
        content = _boxed_content(text, m.end())
        if content is not None and content.strip():
            return content.strip()
    hashes = _HASHES.findall(text)
    if hashes and hashes[-1].strip():
        return _first_clause(hashes[-1])
    matches = sorted([*_ANSWER_IS.finditer(text), *_ANSWER_HEADING.finditer(text)], key=lambda m: m.start(1))
    stated = [_first_clause(m.group(1)) for m in matches]
    stated = [s for s in stated if s]
    if stated:
        return stated[-1]
    if fallback_last_number:
        numbers = _NUMBER.findall(text)
        if numbers:
            return numbers[-1]
    return None


def canonical_answer(s: str) -> str:
    """The COMPARISON form of an answer (gold or predicted): no `$`, thousands commas, units words,
    `%`, trailing period. Not the stored gold (`data.schema.clean_gold_answer`)."""
    s = str(s).strip()
    s = s.replace("\\!", "").replace("\\,", "").replace("\\;", "").replace("\\ ", " ")
    s = s.replace("\\$", "").replace("$", "")
    s = s.replace("\\%", "").replace("%", "")
    s = s.replace("^\\circ", "").replace("^{\\circ}", "").replace("°", "")
    s = _TEXT_CMD.sub(r" \1", s)  # \text{ cm} -> " cm" (then dropped as a unit below)
    s = re.sub(r"\\(?:dfrac|tfrac)", r"\\frac", s)
    s = _THOUSANDS.sub("", s)
    s = re.sub(r"^[A-Za-z]\s*=\s*(?=[-\d.\\])", "", s)  # "x = 5" -> "5"
    s = " ".join(s.split()).rstrip(".").strip()
    m = _NUMBER_THEN_WORDS.match(s)
    if m:
        s = m.group(1)
    if re.fullmatch(r"-?\d+\.0+", s):  # "18.00" -> "18"
        s = s.split(".")[0]
    if re.fullmatch(r"-?0+\d+", s):  # AIME "079" -> "79"
        s = ("-" if s.startswith("-") else "") + s.lstrip("-").lstrip("0")
    return s


def spell_out_e_notation(s: str) -> str | None:
    """`s` with every standalone e-notation number written as a plain decimal ("-3.2e4" -> "-32000",
    "1.5e-2" -> "0.015", exactly), or None when an exponent exceeds `_MAX_EXPONENT`. math-verify reads
    a lowercase `e` as Euler's number ("1e3" -> 3e), so its own parse cannot be trusted with these."""
    too_big = False

    def plain(m: re.Match[str]) -> str:
        nonlocal too_big
        value = Decimal(m.group(0))
        if abs(value.adjusted()) > _MAX_EXPONENT:
            too_big = True
            return m.group(0)
        return format(value.normalize(), "f")

    s = _E_NUMBER.sub(plain, s)
    return None if too_big else s


def answers_match(gold: str, pred: str | None) -> bool:
    """True if `pred` is mathematically equal to `gold`. Never raises."""
    if pred is None or gold is None:
        return False
    try:
        g, p = canonical_answer(gold), canonical_answer(pred)
        if not g or not p:
            return False
        if g == p:
            return True
        g, p = spell_out_e_notation(g), spell_out_e_notation(p)
        if g is None or p is None:
            return False
        if g == p:
            return True
        # SIGALRM-based timeouts only work on the main thread; None disables them elsewhere.
        timeout = _TIMEOUT_S if threading.current_thread() is threading.main_thread() else None
        gold_parsed = parse(f"${g}$", parsing_timeout=timeout)
        pred_parsed = parse(f"${p}$", parsing_timeout=timeout)
        if not gold_parsed or not pred_parsed:
            return False
        return bool(verify(gold_parsed, pred_parsed, timeout_seconds=timeout))
    except Exception:  # noqa: BLE001 - a checker that crashes a training step is worse than a 0
        return False


def exact_match(text: str, gold: str, fallback_last_number: bool = True) -> float:
    """1.0 if the answer extracted from `text` equals `gold`, else 0.0 (the EM of the reward)."""
    return 1.0 if answers_match(gold, extract_answer(text, fallback_last_number)) else 0.0
