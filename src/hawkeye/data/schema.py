"""The rows of the prepared and the curated files, and the checks that make a bad row fail with file:line.

Writer and reader share each schema: `prepare` validates before it writes and every reader
(curate, evaluate, the warm start) reads through `read_rows`; `curate` validates its output with
`validate_curated_rows` and training reads it back through `read_curated_rows`.

Prepared row (`Row`):

    {"id": str, "source": str, "question": str, "answer": str, "reference_cot": str,
     "segments": [{"kind": str, "text": str}, ...],      # optional: testbed rows only
     "signature": str}                                   # optional: testbed rows only

`segments` is the reference CoT as labelled pieces (`critical`, or the planted waste `filler`,
`repeat`, `fine`), present only where the waste is known (the testbed generator). `signature` is the
problem's arithmetic ("7 +3 -4 *2": start value, then sign and operand per operation; see
`hawkeye.data.sources.testbed`), by which `prepare` keeps the testbed's splits disjoint.

`answer` is normalised text (no `$`, no thousands commas, no trailing `.`); `reference_cot` is
the dataset's own step-by-step solution without its final-answer line ("" when the source has
none, e.g. AIME). Ids are unique within a file. A gold answer that is empty once normalised for
comparison (`hawkeye.answers.canonical_answer`: "$", "%") is refused: no answer could ever match it.

Curated row (`CuratedRow`, `${paths.curated_dir}/{train,val}.jsonl`): a prepared row plus

    {"cot_orig": str, "cot_orig_tokens": int >= 0, "orig_correct": bool, "cot_refined": str,
     "cot_refined_tokens": int >= 0, "refine_rejected": bool, "flags": [str, ...],
     "cot_critical_tokens": int > 0}        # optional: rows with ground truth (testbed) only

(see `hawkeye.curation.curate`). `cot_orig_tokens` is 0 for an empty generation (kept and
flagged); training divides by it, so its reader (`read_curated_rows(..., for_training=True)`)
requires a positive count.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypedDict

from hawkeye.answers import canonical_answer
from hawkeye.errors import DataError
from hawkeye.files import read_jsonl

FIELDS = ("id", "source", "question", "answer", "reference_cot")
NON_EMPTY = ("id", "source", "question", "answer")
# Checked first over the whole file by the readers ("missing or empty field '<name>'" at file:line).
ESSENTIAL = ("id", "question", "answer")
OPTIONAL = ("segments", "signature")
SEGMENT_KINDS = ("critical", "filler", "repeat", "fine")
THOUSANDS = re.compile(r"^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$")


class Segment(TypedDict):
    kind: str
    text: str


class _RowBase(TypedDict):
    id: str
    source: str
    question: str
    answer: str
    reference_cot: str


class Row(_RowBase, total=False):
    segments: list[Segment]
    signature: str


def clean_gold_answer(answer: Any) -> str:
    """The STORAGE form of a gold answer, as prepared files hold it: "$1,234." -> "1234",
    "\\$18.90" -> "18.90" (AIME strips zeros itself). Light on purpose: answers are compared
    through `hawkeye.answers.canonical_answer`, not through this."""
    text = str(answer).strip().replace("\\$", "").replace("$", "").strip().rstrip(".").strip()
    if THOUSANDS.match(text):  # only a whole number with comma groups: keep tuples like "(1, 2)"
        text = text.replace(",", "")
    return text


def make_row(id: str, source: str, question: str, answer: Any, reference_cot: str = "") -> Row:
    return Row(
        id=id,
        source=source,
        question=question.strip(),
        answer=clean_gold_answer(answer),
        reference_cot=reference_cot.strip(),
    )


def validate_row(row: Any, path: str | os.PathLike[str], line: int) -> Row:
    """Return `row` as a Row, or raise DataError naming `path:line` and the bad field."""
    where = f"{path}:{line}"
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    extra = sorted(set(row) - set(FIELDS) - set(OPTIONAL) - {"_line"})
    if extra:
        raise DataError(f"{where}: unknown field(s) {extra} (allowed: {list(FIELDS + OPTIONAL)})")
    for field in FIELDS:
        if field not in row:
            raise DataError(f"{where}: missing field '{field}'")
        if not isinstance(row[field], str):
            raise DataError(f"{where}: field '{field}' must be a string, got {type(row[field]).__name__}")
    for field in NON_EMPTY:
        if not row[field].strip():
            raise DataError(f"{where}: field '{field}' is empty")
    if not canonical_answer(row["answer"]):
        raise DataError(f"{where}: gold answer {row['answer']!r} is empty once normalised")
    if row["answer"] != clean_gold_answer(row["answer"]):
        raise DataError(
            f"{where}: field 'answer'={row['answer']!r} is not normalised "
            f"(expected {clean_gold_answer(row['answer'])!r})"
        )
    out = Row(**{f: row[f] for f in FIELDS})  # type: ignore[typeddict-item]
    if "segments" in row:
        out["segments"] = _check_segments(row["segments"], where)
    if "signature" in row:
        if not isinstance(row["signature"], str) or not row["signature"].strip():
            raise DataError(f"{where}: field 'signature'={row['signature']!r} must be a non-empty string")
        out["signature"] = row["signature"]
    return out


def _check_segments(segments: Any, where: str) -> list[Segment]:
    if not isinstance(segments, list) or not segments:
        raise DataError(f"{where}: field 'segments' must be a non-empty list")
    for i, seg in enumerate(segments):
        if not isinstance(seg, dict) or seg.get("kind") not in SEGMENT_KINDS or not isinstance(seg.get("text"), str):
            raise DataError(f"{where}: field 'segments[{i}]'={seg!r} must be {{'kind': one of {SEGMENT_KINDS}, 'text': str}}")
    return [Segment(kind=s["kind"], text=s["text"]) for s in segments]


# A reader's own check of a valid row beyond the schema: an error message, or None when the row is fine.
RowCheck = Callable[[Any], str | None]


def _validate_all(rows: Iterable[dict[str, Any]], path: str | os.PathLike[str],
                  validate: Callable[[Any, str | os.PathLike[str], int], Any], check: RowCheck | None) -> list[Any]:
    """Validate every row (line = `_line` if read from disk, else 1-based position), id uniqueness,
    then the reader's own `check`; each failure raises DataError naming `path:line`."""
    seen: dict[str, int] = {}
    out: list[Any] = []
    for i, row in enumerate(rows, start=1):
        line = row.get("_line", i) if isinstance(row, dict) else i
        valid = validate(row, path, line)
        if valid["id"] in seen:
            raise DataError(
                f"{path}:{line}: duplicate id {valid['id']!r} (first on line {seen[valid['id']]})"
            )
        seen[valid["id"]] = line
        problem = check(valid) if check is not None else None
        if problem:
            raise DataError(f"{path}:{line}: {problem}")
        out.append(valid)
    return out


def validate_rows(rows: Iterable[dict[str, Any]], path: str | os.PathLike[str],
                  check: RowCheck | None = None) -> list[Row]:
    """Validate every prepared row, id uniqueness and the reader's own `check` (see `_validate_all`)."""
    return _validate_all(rows, path, validate_row, check)


def read_rows(path: str | os.PathLike[str], check: RowCheck | None = None) -> list[Row]:
    """Read and validate a prepared jsonl file (what curate/evaluate call); `check`: the reader's
    own rule on top of the schema (curate: a numeric gold in a GSM/AIME split)."""
    return validate_rows(read_jsonl(Path(path), required=ESSENTIAL), path, check)


# ---- curated rows ---------------------------------------------------------------------------------

CURATED_FIELDS: dict[str, type] = {
    "cot_orig": str, "cot_orig_tokens": int, "orig_correct": bool, "cot_refined": str,
    "cot_refined_tokens": int, "refine_rejected": bool, "flags": list,
}
TOKEN_COUNTS = ("cot_orig_tokens", "cot_refined_tokens")


# The length of the row's critical steps in Model A tokens (ground truth: the testbed's segments),
# training's per-step `critical_tokens_mean`.
CRITICAL_TOKENS = "cot_critical_tokens"


class CuratedRow(Row, total=False):
    cot_orig: str
    cot_orig_tokens: int
    orig_correct: bool
    cot_refined: str
    cot_refined_tokens: int
    refine_rejected: bool
    flags: list[str]
    cot_critical_tokens: int


def make_curated_row(row: Row, *, cot_orig: str, cot_orig_tokens: int, orig_correct: bool, cot_refined: str,
                     cot_refined_tokens: int, refine_rejected: bool, flags: list[str],
                     cot_critical_tokens: int | None = None) -> CuratedRow:
    out = CuratedRow(**row, cot_orig=cot_orig, cot_orig_tokens=cot_orig_tokens, orig_correct=orig_correct,
                     cot_refined=cot_refined, cot_refined_tokens=cot_refined_tokens,
                     refine_rejected=refine_rejected, flags=list(flags))
    if cot_critical_tokens is not None:
        out[CRITICAL_TOKENS] = cot_critical_tokens
    return out


def _is_count(n: Any, minimum: int) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and n >= minimum


def validate_curated_row(row: Any, path: str | os.PathLike[str], line: int,
                         for_training: bool = False) -> CuratedRow:
    """Return `row` as a CuratedRow, or raise DataError naming `path:line` and the bad field.
    `for_training`: `cot_orig_tokens` must be positive (the length penalty divides by it)."""
    where = f"{path}:{line}"
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    for field in TOKEN_COUNTS:  # first: the message training's users know
        minimum = 1 if for_training and field == "cot_orig_tokens" else 0
        if field in row and not _is_count(row[field], minimum):
            kind = "positive" if minimum else "non-negative"
            raise DataError(f"{where}: {field}={row[field]!r} must be a {kind} integer")
    if CRITICAL_TOKENS in row and not _is_count(row[CRITICAL_TOKENS], 1):
        raise DataError(f"{where}: {CRITICAL_TOKENS}={row[CRITICAL_TOKENS]!r} must be a positive integer")
    prepared = validate_row({k: v for k, v in row.items() if k not in CURATED_FIELDS and k != CRITICAL_TOKENS},
                            path, line)
    for field, kind in CURATED_FIELDS.items():
        if field not in row:
            raise DataError(f"{where}: missing field '{field}'")
        value = row[field]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise DataError(f"{where}: field '{field}' must be {kind.__name__}, got {type(value).__name__}")
    if not all(isinstance(f, str) for f in row["flags"]):
        raise DataError(f"{where}: field 'flags'={row['flags']!r} must be a list of strings")
    return make_curated_row(prepared, **{f: row[f] for f in CURATED_FIELDS},
                            cot_critical_tokens=row.get(CRITICAL_TOKENS))


def validate_curated_rows(rows: Iterable[dict[str, Any]], path: str | os.PathLike[str],
                          for_training: bool = False) -> list[CuratedRow]:
    """Validate every curated row and id uniqueness (what curate checks before it writes)."""
    return _validate_all(rows, path, lambda r, p, n: validate_curated_row(r, p, n, for_training), None)


def read_curated_rows(path: str | os.PathLike[str], for_training: bool = False) -> list[CuratedRow]:
    """Read and validate a curated jsonl file (what training calls, with `for_training=True`)."""
    rows = read_jsonl(Path(path), required=(*ESSENTIAL, "cot_orig_tokens"))
    return validate_curated_rows(rows, path, for_training)
