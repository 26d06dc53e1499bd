"""The row every prepared file holds, and the checks that make a bad row fail with file:line.

    {"id": str, "source": str, "question": str, "answer": str, "reference_cot": str,
     "segments": [{"kind": str, "text": str}, ...]}      # optional: testbed rows only

`segments` is the reference CoT as labelled pieces (`critical`, or the planted waste `filler`,
`repeat`, `fine`), present only where the waste is known (the testbed generator).

`answer` is normalised text (no `$`, no thousands commas, no trailing `.`); `reference_cot` is
the dataset's own step-by-step solution without its final-answer line ("" when the source has
none, e.g. AIME). Ids are unique within a file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypedDict

from hawkeye.errors import DataError
from hawkeye.files import read_jsonl

FIELDS = ("id", "source", "question", "answer", "reference_cot")
NON_EMPTY = ("id", "source", "question", "answer")
OPTIONAL = ("segments",)
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


def normalise_answer(answer: Any) -> str:
    """Canonical answer text: "$1,234." -> "1234", "\\$18.90" -> "18.90" (AIME strips zeros itself)."""
    text = str(answer).strip().replace("\\$", "").replace("$", "").strip().rstrip(".").strip()
    if THOUSANDS.match(text):  # only a whole number with comma groups: keep tuples like "(1, 2)"
        text = text.replace(",", "")
    return text


def make_row(id: str, source: str, question: str, answer: Any, reference_cot: str = "") -> Row:
    return Row(
        id=id,
        source=source,
        question=question.strip(),
        answer=normalise_answer(answer),
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
    if row["answer"] != normalise_answer(row["answer"]):
        raise DataError(
            f"{where}: field 'answer'={row['answer']!r} is not normalised "
            f"(expected {normalise_answer(row['answer'])!r})"
        )
    out = Row(**{f: row[f] for f in FIELDS})  # type: ignore[typeddict-item]
    if "segments" in row:
        out["segments"] = _check_segments(row["segments"], where)
    return out


def _check_segments(segments: Any, where: str) -> list[Segment]:
    if not isinstance(segments, list) or not segments:
        raise DataError(f"{where}: field 'segments' must be a non-empty list")
    for i, seg in enumerate(segments):
        if not isinstance(seg, dict) or seg.get("kind") not in SEGMENT_KINDS or not isinstance(seg.get("text"), str):
            raise DataError(f"{where}: field 'segments[{i}]'={seg!r} must be {{'kind': one of {SEGMENT_KINDS}, 'text': str}}")
    return [Segment(kind=s["kind"], text=s["text"]) for s in segments]


def validate_rows(rows: Iterable[dict[str, Any]], path: str | os.PathLike[str]) -> list[Row]:
    """Validate every row (line = `_line` if read from disk, else 1-based position) and id uniqueness."""
    seen: dict[str, int] = {}
    out: list[Row] = []
    for i, row in enumerate(rows, start=1):
        line = row.get("_line", i) if isinstance(row, dict) else i
        valid = validate_row(row, path, line)
        if valid["id"] in seen:
            raise DataError(
                f"{path}:{line}: duplicate id {valid['id']!r} (first on line {seen[valid['id']]})"
            )
        seen[valid["id"]] = line
        out.append(valid)
    return out


def read_rows(path: str | os.PathLike[str]) -> list[Row]:
    """Read and validate a prepared jsonl file (what curate/evaluate should call)."""
    return validate_rows(read_jsonl(Path(path)), path)
