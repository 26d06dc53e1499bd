"""File I/O every stage shares: strict jsonl reading, atomic writes, content hashes.

Atomic writes (temp file in the same folder, fsync, rename) mean an interrupted stage never
leaves a truncated file that DVC would cache: the previous output stays intact.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from hawkeye.errors import DataError

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temp file beside `path`; rename it onto `path` only if the block succeeds.

    The temp name carries the writer's pid (`.<name>.<pid>.<random>.tmp`): an exception or
    SIGTERM removes it at once, and what a SIGKILLed writer left is swept by the next write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs get the usual permissions
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove_stale_temps(path: str | os.PathLike[str]) -> list[Path]:
    """Delete temp files of `path` whose writer process is gone (killed with SIGKILL). Returns them."""
    path = Path(path)
    removed = []
    for tmp in path.parent.glob(f".{glob_escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[dict[str, Any]]) -> int:
    """Write rows atomically, one JSON object per line. Returns the row count."""
    n = 0
    with atomic_open(path, "w") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
            n += 1
    return n


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    with atomic_open(path, "w") as fh:
        json.dump(obj, fh, indent=2, sort_keys=True, ensure_ascii=False)
        fh.write("\n")


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def read_jsonl(
    path: str | os.PathLike[str],
    required: Iterable[str] = (),
    allow_empty: bool = False,
) -> list[dict[str, Any]]:
    """Read a jsonl file strictly. Every problem names the file and the 1-based line.

    Blank lines are skipped. Raises DataError for a missing file, malformed JSON, a row that
    is not an object, a missing/empty required field, or (unless allow_empty) no rows at all.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    required = tuple(required)
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{lineno}: malformed JSON ({e.msg} at column {e.colno})") from e
            if not isinstance(row, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            for key in required:
                value = row.get(key)
                if value is None or (isinstance(value, str) and not value.strip()):
                    raise DataError(f"{path}:{lineno}: missing or empty field '{key}'")
            row["_line"] = lineno
            rows.append(row)
    if not rows and not allow_empty:
        raise DataError(f"{path}: empty dataset (no rows)")
    return rows


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_files(paths: Iterable[str | os.PathLike[str]]) -> str:
    """One hash over several files (ordered), e.g. the data_hash tag of a run."""
    h = hashlib.sha256()
    for p in paths:
        h.update(str(Path(p).name).encode())
        h.update(sha256_file(p).encode())
    return h.hexdigest()
