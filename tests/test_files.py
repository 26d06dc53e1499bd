"""Strict jsonl reading and atomic writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from hawkeye.errors import DataError
from hawkeye.files import read_jsonl, write_jsonl


def test_roundtrip(tmp_path: Path) -> None:
    p = tmp_path / "x.jsonl"
    assert write_jsonl(p, [{"id": "1", "question": "q"}]) == 1
    assert read_jsonl(p, required=["id", "question"])[0]["_line"] == 1


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"id": "1", "question": "q"}\n{"id": 2,', r"x.jsonl:2: malformed JSON"),
        ('{"id": "1"}\n', r"x.jsonl:1: missing or empty field 'question'"),
        ('{"id": "1", "question": "  "}\n', r"x.jsonl:1: missing or empty field 'question'"),
        ("[1, 2]\n", r"x.jsonl:1: expected a JSON object"),
        ("\n\n", r"x.jsonl: empty dataset"),
    ],
)
def test_bad_jsonl_names_file_and_line(tmp_path: Path, text: str, match: str) -> None:
    p = tmp_path / "x.jsonl"
    p.write_text(text)
    with pytest.raises(DataError, match=match):
        read_jsonl(p, required=["id", "question"])


def test_failed_write_keeps_previous_output(tmp_path: Path) -> None:
    p = tmp_path / "out.jsonl"
    write_jsonl(p, [{"a": 1}])

    def rows():
        yield {"a": 2}
        raise RuntimeError("killed midway")

    with pytest.raises(RuntimeError):
        write_jsonl(p, rows())
    assert p.read_text() == '{"a": 1}\n'
    assert [f.name for f in tmp_path.iterdir()] == ["out.jsonl"]  # no temp file left behind
