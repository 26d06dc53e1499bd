"""Stage `prepare`: write every evaluation/training split as schema-checked jsonl + a manifest.

Files in `${paths.prepared_dir}` (the names `data.train_split`, `data.test_split` and
`eval.datasets` refer to):
- gsm_symbolic_train.jsonl, gsm_symbolic_test.jsonl: reasoning_gym, disjoint templates
- gsm8k_test.jsonl: original GSM8K test problems of the templates training never sees
- aime.jsonl: the 14 AIME problems of the `evals` package
- math500.jsonl: only when `data.math_source` is set
- testbed_train.jsonl, testbed_val.jsonl, testbed_test.jsonl (data=testbed): generated, disjoint by
  question and by arithmetic signature (`check_signatures_disjoint`)
- manifest.json: rows and SHA-256 per file, package pins, the template split
"""

from __future__ import annotations

import logging
from importlib import metadata
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from hawkeye.data.config import testbed_partition, testbed_spec
from hawkeye.data.schema import Row, validate_rows
from hawkeye.data.sources import aime, gsm8k, gsm_symbolic, math500, testbed
from hawkeye.errors import DataError
from hawkeye.files import sha256_file, write_json, write_jsonl
from hawkeye.paths import resolve

log = logging.getLogger(__name__)

SPLITS = ("gsm_symbolic_train", "gsm_symbolic_test", "gsm8k_test", "aime", "math500", "testbed_train", "testbed_val",
          "testbed_test")
TRAIN_SPLITS = ("gsm_symbolic_train", "testbed_train")
# The testbed's splits, each after the ones it must share no arithmetic signature with.
TESTBED_SPLITS = ("testbed_train", "testbed_val", "testbed_test")


def build(data: Any, cache: str | Path | None = None) -> tuple[dict[str, list[Row]], dict[str, Any]]:
    """All splits in memory ({name: rows}) and the provenance for the manifest."""
    if data.name == "testbed":
        return build_testbed(data)
    train_t, test_t = gsm_symbolic.split_templates(int(data.template_split))
    splits = {
        "gsm_symbolic_train": gsm_symbolic.generate(
            "gsm_symbolic_train", train_t, int(data.train_size), int(data.train_seed)
        ),
        "gsm_symbolic_test": gsm_symbolic.generate(
            "gsm_symbolic_test", test_t, int(data.test_size), int(data.test_seed)
        ),
        "gsm8k_test": gsm8k.heldout_rows(exclude_templates=train_t, cache=cache),
        "aime": aime.aime_rows(cache),
    }
    if data.get("math_source"):
        splits["math500"] = math500.math_rows(str(data.math_source))
    check_no_leak(splits)
    provenance = {
        "packages": {
            "reasoning-gym": metadata.version("reasoning-gym"),
            gsm8k.PACKAGE: gsm8k.VERSION,
            aime.PACKAGE: aime.VERSION,
        },
        "template_split": {
            "train_templates": train_t,
            "test_templates": test_t,
            "gsm8k_test_excludes_gsm8k_indices": sorted(gsm_symbolic.GSM8K_TEST_INDEX[t] for t in train_t),
        },
        "math_source": data.get("math_source"),
    }
    return splits, provenance


def build_testbed(data: Any) -> tuple[dict[str, list[Row]], dict[str, Any]]:
    """The planted-overthinking testbed: generated train, validation and test splits, disjoint by
    arithmetic signature (each draws only signatures its part of the partition owns) and by question
    (each later split redraws any question an earlier one holds)."""
    spec, partition = testbed_spec(data), testbed_partition(data)

    def draw(part: str, size: Any, seed: Any, exclude: set[str] | None = None) -> list[Row]:
        return testbed.generate(f"testbed_{part}", int(size), int(seed), spec, exclude=exclude,  # type: ignore[return-value]
                                keep=lambda sig: partition.part(sig) == part)

    train = draw("train", data.train_size, data.train_seed)
    taken = {r["question"] for r in train}
    splits: dict[str, list[Row]] = {"testbed_train": train}
    if data.get("val_split"):
        splits["testbed_val"] = draw("val", data.val_size, data.val_seed, exclude=taken)
        taken |= {r["question"] for r in splits["testbed_val"]}
    splits["testbed_test"] = draw("test", data.test_size, data.test_seed, exclude=taken)
    check_no_leak(splits)
    check_disjoint(splits, ("testbed_val", "testbed_test"))
    check_signatures_disjoint(splits, TESTBED_SPLITS)
    return splits, {"generator": "hawkeye.data.sources.testbed", "spec": vars(spec), "partition": vars(partition)}


def check_no_leak(splits: dict[str, list[Row]]) -> None:
    """No question text of a training split may appear in any other split."""
    train_q = {r["question"]: (name, r["id"]) for name in TRAIN_SPLITS for r in splits.get(name, [])}
    for name, rows in splits.items():
        if name in TRAIN_SPLITS:
            continue
        for r in rows:
            if r["question"] in train_q:
                tname, tid = train_q[r["question"]]
                raise DataError(f"{name}: question of {r['id']} is also in {tname} ({tid})")


def check_disjoint(splits: dict[str, list[Row]], names: tuple[str, ...]) -> None:
    """No question may be in two of `names` (validation and test: choosing settings on a question the
    final evaluation scores would leak the test split into the choice)."""
    seen: dict[str, tuple[str, str]] = {}
    for name in names:
        for r in splits.get(name, []):
            if r["question"] in seen:
                other, oid = seen[r["question"]]
                raise DataError(f"{name}: question of {r['id']} is also in {other} ({oid})")
            seen[r["question"]] = (name, r["id"])


def check_signatures_disjoint(splits: dict[str, list[Row]], names: tuple[str, ...]) -> None:
    """No arithmetic signature may be in two of `names` (train, validation, test): a held-out question
    that repeats a training question's arithmetic with other names scores recall, not reasoning.
    Rows without a signature (data with no known arithmetic) are not checked."""
    seen: dict[str, tuple[str, str]] = {}
    for name in names:
        own: dict[str, str] = {}
        for r in splits.get(name, []):
            sig = r.get("signature")
            if sig is None:
                continue
            if sig in seen:
                other, oid = seen[sig]
                raise DataError(f"{name}: row {r['id']} shares the arithmetic signature {sig!r} with "
                                f"{other} row {oid}")
            own.setdefault(sig, r["id"])
        seen |= {sig: (name, rid) for sig, rid in own.items()}


def run(cfg: DictConfig, cache: str | Path | None = None) -> dict[str, Any]:
    """Write the prepared files atomically and return the manifest."""
    out_dir = resolve(cfg.paths.prepared_dir)
    splits, provenance = build(cfg.data, cache)
    files: dict[str, Any] = {}
    for name, rows in splits.items():
        path = out_dir / f"{name}.jsonl"
        validate_rows(rows, path)  # same checks a reader runs: never write what we would refuse
        write_jsonl(path, rows)
        files[name] = {"file": path.name, "rows": len(rows), "sha256": sha256_file(path)}
        log.info("%s: %d rows -> %s", name, len(rows), path)
    # A split not produced this time (math500 after math_source=null) must not linger in the
    # DVC output as if it were current.
    for name in SPLITS:
        stale = out_dir / f"{name}.jsonl"
        if name not in splits and stale.exists():
            stale.unlink()
    manifest = {"files": files, **provenance}
    write_json(out_dir / "manifest.json", manifest)
    return manifest
