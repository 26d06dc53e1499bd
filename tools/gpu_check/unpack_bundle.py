"""The bundle steps of tools/gpu_check/run.sh on the GPU box: check it, assemble it, install its wheels.

    python tools/gpu_check/unpack_bundle.py verify  --bundle B --work W  # every file and piece against the
                                                                         # manifest; W/bundle: the whole
                                                                         # bundle, split files joined; prints
                                                                         # shell variables
    python tools/gpu_check/unpack_bundle.py install --work W             # W/bundle's wheels -> W/site
                                                                         # (pip --target, no index)

Standard library and pip only: this runs before anything is installed.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MiB = 2**20


def say(*a: object) -> None:
    print(*a, file=sys.stderr, flush=True)


# hawkeye.files is standard library only, so it loads before any wheel is installed.
sys.path.insert(0, str(ROOT / "src"))
from hawkeye.files import sha256_file as sha256  # noqa: E402


def load_manifest(bundle: Path) -> dict:
    """The bundle's manifest (the same in every part); the newest when parts of two bundles are mixed."""
    found = sorted([*bundle.glob("manifest.json"), *bundle.glob("part*/manifest.json")])
    if not found:
        raise SystemExit(f"no bundle in {bundle} (no manifest.json): make one with "
                         "`.venv/bin/python tools/gpu_check/make_bundle.py` on a machine with network")
    manifests = {p: json.loads(p.read_text()) for p in found}
    newest = max(manifests.values(), key=lambda m: m["created"])
    stale = sorted(str(p.parent.relative_to(bundle)) for p, m in manifests.items()
                   if m["bundle_id"] != newest["bundle_id"])
    if stale:
        say(f"warning: {', '.join(stale)} in {bundle} belong to another bundle than {newest['bundle_id']} "
            f"({newest['created']}); copy that bundle's parts again")
    return newest


def cmd_verify(args: argparse.Namespace) -> int:
    bundle, view = Path(args.bundle).resolve(), Path(args.work).resolve() / "bundle"
    m = load_manifest(bundle)
    bad: dict[str, list[str]] = {}  # by part folder ("" for an unsplit bundle)
    ok_bytes = 0
    for f in m["files"].values():
        for piece in f["pieces"]:
            path = bundle / piece["path"]
            folder = Path(piece["path"]).parts[0] if m["parts"] else ""
            if not path.is_file():
                bad.setdefault(folder, []).append(piece["path"] + " (missing)")
            elif path.stat().st_size != piece["size"] or sha256(path) != piece["sha256"]:
                bad.setdefault(folder, []).append(piece["path"] + " (corrupt: size or SHA-256)")
            else:
                ok_bytes += piece["size"]
    parts = m["parts"] or [""]
    say(f"bundle {m['bundle_id']} ({m['created']}) in {bundle}: {len(m['files'])} files"
        + (f" in {len(parts)} parts" if m["parts"] else "") + f"; {ok_bytes / MiB:.1f} MiB verified (SHA-256)")
    if bad:
        for folder, paths in sorted(bad.items()):
            say(f"  {folder or 'bundle'}: {len(paths)} bad: " + ", ".join(paths[:4]) + (" ..." if len(paths) > 4 else ""))
        say(f"{len(parts) - len(bad)} of {len(parts)} parts whole: copy {', '.join(sorted(bad))} again" if m["parts"]
            else "the bundle is incomplete: copy it again")
        return 3
    # one folder with every file whole: a link to each unsplit file, the split ones joined and checked
    shutil.rmtree(view, ignore_errors=True)
    for rel, f in m["files"].items():
        out = view / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        if len(f["pieces"]) == 1:
            out.symlink_to(bundle / f["pieces"][0]["path"])
            continue
        with open(out, "wb") as fh:
            for piece in f["pieces"]:
                fh.write((bundle / piece["path"]).read_bytes())
        if sha256(out) != f["sha256"]:
            say(f"{rel} joined from {len(f['pieces'])} pieces does not match the manifest's SHA-256")
            return 4
    (view / "manifest.json").write_text(json.dumps(m, indent=1) + "\n")
    model = view / m["model"]["wheel"]
    say(f"all files present and whole in {view}; model wheel {model.name} ({model.stat().st_size / MiB:.1f} MiB)")
    print(f"PKGCACHE={shlex.quote(str(model.parent))}")
    print(f"CURATED={shlex.quote(str(view / 'data' / 'curated'))}")
    print(f"BUNDLER_SAFETENSORS_SHA256={m['model'].get('bundler_safetensors_sha256') or ''}")
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    """pip install --no-deps --no-index --target W/site: the pinned wheels (pip picks this python's build of
    the compiled ones), plus a fallback for each image distribution whose version fails a bundled wheel."""
    view = Path(args.work).resolve() / "bundle"
    m = json.loads((view / "manifest.json").read_text())
    site = Path(args.work).resolve() / "site"
    shutil.rmtree(site, ignore_errors=True)
    try:
        from packaging.specifiers import SpecifierSet
    except ImportError:  # pip vendors it
        from pip._vendor.packaging.specifiers import SpecifierSet
    extra = []
    for dep, c in sorted(m.get("image_constraints", {}).items()):
        spec = SpecifierSet(",".join(c["specifiers"]))
        try:
            have = md.version(dep)
        except md.PackageNotFoundError:
            have = None
        satisfied = have is not None and spec.contains(have, prereleases=True)
        if satisfied and not args.all_fallbacks:
            continue
        fb = c.get("fallback")
        if fb:
            why = "--all-fallbacks" if args.all_fallbacks else f"fails {spec}"
            say(f"  {dep} {have or '(absent)'} {why} (for {', '.join(sorted(set(c['required_by'])))}): "
                f"installing the fallback {Path(fb).name}")
            extra.append(str(view / fb))
        elif not satisfied:
            say(f"  warning: {dep} {have or '(absent)'} fails {spec} (for {', '.join(c['required_by'])}), no fallback")
    reqs = view / "wheels" / "requirements.txt"
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--no-compile",
           "--disable-pip-version-check", "--target", str(site), "--find-links", str(view / "wheels"),
           "-r", str(reqs), *extra]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        say(r.stdout[-3000:], r.stderr[-3000:])
        return r.returncode
    n = len(reqs.read_text().split())
    say(f"installed {n} pinned wheels{f' + {len(extra)} fallbacks' if extra else ''} into {site}")
    print(f"SITE={shlex.quote(str(site))}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("verify")
    v.add_argument("--bundle", required=True, help="the bundle folder as copied (whole, or its part* folders)")
    v.add_argument("--work", required=True)
    i = sub.add_parser("install")
    i.add_argument("--work", required=True)
    i.add_argument("--all-fallbacks", action="store_true",
                   help="also shadow image packages that satisfy the specifiers (when an import failed anyway)")
    args = ap.parse_args()
    return {"verify": cmd_verify, "install": cmd_install}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
