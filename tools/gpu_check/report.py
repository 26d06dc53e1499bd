"""The figures of tools/gpu_check/run.sh, after training: s/step, rollout tokens/s against the HBM-bandwidth
bound, peak GPU memory, whether the weights changed, EM and CoT length first -> last.

    python tools/gpu_check/report.py --run R --stats S --init-weights W --out summary.json --steps N ...

Reads the run's MLflow sqlite store, train_with_stats.py's STATS.json and the initial and final
safetensors (torch and safetensors: the GPU image has them); prints the summary and writes it as JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
from hawkeye.files import sha256_file as sha256  # noqa: E402


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


def report(args: argparse.Namespace) -> int:
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
    ap.add_argument("--run", required=True, help="the run folder: mlflow.db, train/")
    ap.add_argument("--stats", required=True, help="train_with_stats.py's STATS.json")
    ap.add_argument("--init-weights", required=True, help="the policy's safetensors before training")
    ap.add_argument("--out", required=True, help="the summary, as JSON")
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--warmup", type=int, default=3, help="steps left out of the medians")
    ap.add_argument("--n", type=int, required=True, help="questions per step")
    ap.add_argument("--g", type=int, required=True, help="CoTs per question")
    ap.add_argument("--batch", type=int, required=True, help="rollout batch")
    ap.add_argument("--max-new-tokens", type=int, required=True)
    ap.add_argument("--trainer", required=True)
    ap.add_argument("--bandwidth", type=float, default=4.8, help="HBM bandwidth, TB/s (H200 datasheet: 4.8)")
    return report(ap.parse_args())


if __name__ == "__main__":
    sys.exit(main())
