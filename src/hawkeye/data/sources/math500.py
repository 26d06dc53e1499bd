"""MATH / MATH500 from a local .jsonl/.parquet file or a Hugging Face hub dataset id.

Rows carry `problem`, `solution` and (MATH500) `answer`, as in HuggingFaceH4/MATH-500; when
`answer` is absent (the original MATH release) it is the last `\\boxed{...}` of the solution.
`unique_id` (e.g. "test/algebra/1004.json") becomes the id when present. No package on PyPI
ships MATH500, so on this offline machine `data.math_source` stays null; cluster users point it
at the hub id or a downloaded file.
"""

from __future__ import annotations

import re
from typing import Any

from hawkeye.data.schema import Row, make_row
from hawkeye.errors import DataError
from hawkeye.files import read_jsonl
from hawkeye.paths import resolve

SOURCE = "math500"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def last_boxed(text: str) -> str | None:
    r"""Content of the last \boxed{...} (or \fbox{...}), matching nested braces."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    i = text.index("{", start) + 1
    depth = 1
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j]
    return None


def _text(value: Any) -> str | None:
    """A field as text; None for missing, empty or NaN (how pandas fills an absent column)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value)
    return text if text.strip() else None


def read_records(source: str) -> tuple[list[dict[str, Any]], str]:
    """(records, label) from a local file or a hub id; each record keeps `_line` for errors."""
    path = resolve(source)
    if path.suffix in (".jsonl", ".parquet") or path.exists():
        if path.suffix == ".jsonl":
            return read_jsonl(path, required=("problem",)), str(path)
        if path.suffix == ".parquet" and path.is_file():
            import pandas as pd

            records = pd.read_parquet(path).to_dict(orient="records")
            return [dict(r, _line=i) for i, r in enumerate(records, start=1)], str(path)
        raise DataError(f"data.math_source={source!r}: expected an existing .jsonl or .parquet file")
    if HUB_ID.match(source):
        from datasets import load_dataset  # needs the hub (or its cache): cluster use

        ds = load_dataset(source, split="test")
        return [dict(r, _line=i) for i, r in enumerate(ds, start=1)], f"{source}[test]"
    raise DataError(f"data.math_source={source!r} is neither a local .jsonl/.parquet file nor a hub id")


def math_rows(source: str) -> list[Row]:
    records, label = read_records(source)
    rows: list[Row] = []
    for rec in records:
        where = f"{label}:{rec['_line']}"
        problem, solution = _text(rec.get("problem")), _text(rec.get("solution")) or ""
        if problem is None:
            raise DataError(f"{where}: missing or empty field 'problem'")
        answer = _text(rec.get("answer")) or last_boxed(solution)
        if answer is None or not answer.strip():
            raise DataError(f"{where}: no 'answer' field and no \\boxed{{}} answer in 'solution'")
        rid = _text(rec.get("unique_id")) or f"{rec['_line']:05d}"
        rows.append(make_row(f"math500/{rid}", SOURCE, problem, answer, solution))
    return rows
