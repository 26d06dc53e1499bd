"""The 14 AIME problems that OpenAI's `evals` package (3.0.1.post1) ships, read from its wheel.

Each sample is a chat (a system line about the three-digit answer format, then the problem)
and an `ideal` such as "079". We keep the problem text and the integer answer ("79"): the
three-digit padding is a formatting rule of the original eval, not part of the answer. There
is no worked solution, so `reference_cot` is empty.
"""

from __future__ import annotations

import json
from pathlib import Path

from hawkeye.data.schema import Row, make_row
from hawkeye.data.sources.pypi import fetch_wheel, read_member
from hawkeye.errors import DataError

SOURCE = "aime"
PACKAGE, VERSION = "evals", "3.0.1.post1"
MEMBER = "evals/registry/data/aime_evaluation/samples.jsonl"


def normalise_aime(ideal: str) -> str:
    """'079' -> '79'; anything but an integer in 0..999 is an error."""
    text = str(ideal).strip()
    if not text.isdigit() or not 0 <= int(text) <= 999:
        raise DataError(f"AIME answer {ideal!r} is not an integer in 000-999")
    return str(int(text))


def parse_samples(text: str, where: str) -> list[Row]:
    rows: list[Row] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            sample = json.loads(line)
            question = next(m["content"] for m in sample["input"] if m.get("role") == "user")
            answer = normalise_aime(sample["ideal"])
        except (json.JSONDecodeError, KeyError, TypeError, StopIteration, DataError) as e:
            raise DataError(f"{where}:{lineno}: bad AIME sample ({e})") from e
        rows.append(make_row(f"aime/{lineno:02d}", SOURCE, question, answer))
    return rows


def aime_rows(cache: str | Path | None = None) -> list[Row]:
    wheel = fetch_wheel(PACKAGE, VERSION, cache)
    return parse_samples(read_member(wheel, MEMBER).decode("utf-8"), f"{wheel.name}:{MEMBER}")
