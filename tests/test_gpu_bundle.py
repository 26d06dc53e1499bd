"""The GPU check's bundle: cut into parts (`make_bundle.py --part-size`), checked and joined on the box
(`unpack_bundle.py verify`), and a bad or missing piece named by its part."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hawkeye.paths import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "tools" / "gpu_check"))
import make_bundle  # noqa: E402

UNPACK = REPO_ROOT / "tools" / "gpu_check" / "unpack_bundle.py"
MODEL = "model/llm_fake-0.1-py3-none-any.whl"


def stage_files(stage: Path) -> dict[str, bytes]:
    files = {
        MODEL: os.urandom(1_500_000),
        "wheels/a-1.0-py3-none-any.whl": os.urandom(200_000),
        "wheels/requirements.txt": b"a==1.0\n",
        "data/curated/train.jsonl": b'{"id": "1"}\n',
    }
    for rel, data in files.items():
        (stage / rel).parent.mkdir(parents=True, exist_ok=True)
        (stage / rel).write_bytes(data)
    return files


def verify(bundle: Path, work: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(UNPACK), "verify", "--bundle", str(bundle), "--work", str(work)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("part_size", [None, "700K"])
def test_bundle_round_trip(tmp_path: Path, part_size: str | None) -> None:
    files = stage_files(tmp_path / "stage")
    bundle = tmp_path / "bundle"
    limit = None if part_size is None else make_bundle.parse_size(part_size)
    manifest = {"created": "2000-01-01T00:00:00", "image_constraints": {}, "model": {"wheel": MODEL}}
    make_bundle.write_bundle(tmp_path / "stage", bundle, limit, manifest)
    if limit is not None:
        assert len(manifest["files"][MODEL]["pieces"]) > 1  # the model is larger than a part
        for part in manifest["parts"]:
            assert sum(p.stat().st_size for p in (bundle / part).rglob("*") if p.is_file()) <= limit
    r = verify(bundle, tmp_path / "work")
    assert r.returncode == 0, r.stderr
    view = tmp_path / "work" / "bundle"
    assert {rel: (view / rel).read_bytes() for rel in files} == files
    assert f"PKGCACHE={view / 'model'}" in r.stdout.splitlines()


def test_bad_and_missing_pieces_are_named_by_part(tmp_path: Path) -> None:
    stage_files(tmp_path / "stage")
    bundle = tmp_path / "bundle"
    manifest = {"created": "2000-01-01T00:00:00", "image_constraints": {}, "model": {"wheel": MODEL}}
    make_bundle.write_bundle(tmp_path / "stage", bundle, make_bundle.parse_size("700K"), manifest)
    second = bundle / manifest["files"][MODEL]["pieces"][1]["path"]
    second.write_bytes(b"x" + second.read_bytes()[1:])  # same size, other bytes
    r = verify(bundle, tmp_path / "work")
    assert r.returncode == 3
    assert f"{second.relative_to(bundle)} (corrupt" in r.stderr
    last = manifest["parts"][-1]
    for p in sorted((bundle / last).rglob("*"), reverse=True):
        p.rmdir() if p.is_dir() else p.unlink()
    r = verify(bundle, tmp_path / "work")
    assert r.returncode == 3 and f"{last}:" in r.stderr and "(missing)" in r.stderr
