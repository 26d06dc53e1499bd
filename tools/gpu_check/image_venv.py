"""A CPU stand-in for the GPU box's Python: a fresh venv that sees only the GPU image's packages.

    .venv/bin/python tools/gpu_check/image_venv.py   # -> .gpu_check/image_venv/venv/bin/python (prints it)

The venv is made with the project venv's base interpreter, without system site-packages, and its
site-packages holds symlinks to those distributions of .venv whose names image_packages.txt lists (the
GPU image's package list) and what their .venv versions require, nothing else: no hydra-core, omegaconf,
antlr4, mlflow, trl, math-verify, latex2sympy2, dvc, gguf, and not the editable `hawkeye` install.
`bash tools/gpu_check/run.sh --cpu` runs with it, so a wheel missing from the bundle fails here as it
would on the box.

What it does not reproduce: the GPU image's versions (there torch 2.11, transformers 5.17, Python 3.12;
here .venv's), and packages the image has that .venv lacks.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIST = Path(__file__).with_name("image_packages.txt")
# Never linked, though the .venv version of a listed package requires them (typer 0.29 -> pydantic): the
# image lacks them, and mlflow needs them, so the bundle must bring them.
HIDDEN = {"pydantic", "pydantic-core", "annotated-types", "typing-inspection"}


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def image_packages() -> set[str]:
    words = []
    for line in LIST.read_text().splitlines():
        words += line.split("#", 1)[0].split()
    return {norm(w) for w in words}


def closure(wanted: set[str], installed: dict[str, md.Distribution]) -> set[str]:
    """`wanted` plus the (non-extra) requirements of their .venv versions, transitively: .venv's
    versions may need packages that the image's versions do not (huggingface-hub 2.x needs httpx2)."""
    from packaging.requirements import Requirement

    out, todo = set(), [n for n in wanted if n in installed]
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out.add(name)
        for spec in installed[name].requires or ():
            req = Requirement(spec)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            dep = norm(req.name)
            if dep in installed and dep not in out and dep not in HIDDEN:
                todo.append(dep)
    return out


def top_entries(dist: md.Distribution) -> set[str]:
    """The top-level names (package folders, modules, .dist-info, .libs, .pth) a distribution installed."""
    site = Path(dist._path).parent  # type: ignore[attr-defined]  # the .dist-info folder's parent
    names = {Path(dist._path).name}  # type: ignore[attr-defined]
    for f in dist.files or ():
        parts = Path(str(f)).parts
        if parts and parts[0] not in ("..", "__pycache__") and (site / parts[0]).exists():
            names.add(parts[0])
    return names


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dest", default=str(ROOT / ".gpu_check" / "image_venv"))
    args = ap.parse_args()
    if sys.prefix == sys.base_prefix:
        raise SystemExit("run this with the project's venv python (.venv/bin/python): it mirrors that venv")
    dest = Path(args.dest)
    venv = dest / "venv"
    shutil.rmtree(venv, ignore_errors=True)
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    subprocess.run([str(base), "-m", "venv", "--without-pip", str(venv)], check=True)
    site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    installed = {norm(d.metadata["Name"]): d for d in md.distributions()}
    listed = image_packages()
    wanted = closure(listed, installed)
    linked, skipped = [], []
    for name, dist in sorted(installed.items()):
        if name not in wanted:
            skipped.append(name)
            continue
        linked.append(f"{name}=={dist.version}" + ("" if name in listed else "  (a dependency of a listed one here)"))
        for entry in top_entries(dist):
            target = Path(dist._path).parent / entry  # type: ignore[attr-defined]
            link = site / entry
            if not link.exists() and not link.is_symlink():
                link.symlink_to(target)
    (dest / "linked.txt").write_text("\n".join(sorted(linked)) + "\n")
    (dest / "hidden.txt").write_text("\n".join(sorted(skipped)) + "\n")
    print(f"{venv}/bin/python: {len(linked)} of the image's distributions linked from {sys.prefix}, "
          f"{len(skipped)} of .venv hidden (lists in {dest}/linked.txt, hidden.txt)", file=sys.stderr)
    print(venv / "bin" / "python")


if __name__ == "__main__":
    main()
