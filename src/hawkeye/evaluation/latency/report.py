"""The evaluate stage's latency outputs: `latency.json` (every cell, the breakdown, CPU use, the
machine) and `latency.md` (the tables). Everything timed lives here, so the quality outputs
(`metrics.json`, `results.md`, `samples/`) are the same on every run of the same inputs.

`latency[dataset]` = {"methods": {method: {concurrency: cell}}, "full_over_baseline":
{concurrency: {"e2e_mean", "e2e_p50"}}, "idle_cpu_percent": {process: %}, "servers": {role: name}};
a cell is `stats.summarize` plus "breakdown", "cpu_s_per_request", "cpu_busy_cores", loop lag.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from hawkeye.evaluation.latency.cost import cost_table
from hawkeye.evaluation.latency.stats import ENGINE_PARTS, PARTS
from hawkeye.files import write_json, write_text
from hawkeye.fmt import cell_text

LABELS = {"baseline_full": "Baseline (Full)", "cot_only": "Hawkeye (CoT only)", "full": "Hawkeye (Full)",
          "serve": "Hawkeye (serve)"}
# the poster's rows: (quality summary key, latency method, label)
POSTER = (("baseline", "baseline_full"), ("hawkeye_cot", "cot_only"), ("hawkeye", "full"), ("hawkeye", "serve"))
POSTER_HEADER = ["Dataset", "Method", "Concurrency", "Time per Req (s)", "Avg TBT (s)", "Tokens", "Accuracy (%)",
                 "Compression (%)", "Failed"]


def clean(x: Any) -> Any:
    """JSON without NaN (DVC and browsers reject it)."""
    if isinstance(x, dict):
        return {str(k): clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean(v) for v in x]
    return None if isinstance(x, float) and math.isnan(x) else x


def _cells(latency: dict[str, Any]) -> list[tuple[int, str, dict[str, Any]]]:
    """(concurrency, method, cell) in level order, methods in measuring order."""
    methods = latency.get("methods") or {}
    levels = sorted({int(c) for cells in methods.values() for c in cells})
    return [(c, m, cell) for c in levels for m, cells in methods.items()
            if (cell := cells.get(c) or cells.get(str(c)))]


def _ratio(latency: dict[str, Any], c: int) -> dict[str, float] | None:
    ratios = latency.get("full_over_baseline") or {}
    return ratios.get(c) or ratios.get(str(c))


def latency_table(latency: dict[str, Any]) -> str:
    """Percentiles of time per request, TTFT and TBT per (concurrency, method), and Full/Baseline."""
    lines = ["| Concurrency | Method | Requests (failed) | Time/req mean (s) | p50 | p90 | TTFT p50 (s) | p90 | "
             "TBT mean (s) | p50 | p90 | Tokens | Full / Baseline (mean, p50) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c, method, cell in _cells(latency):
        ratio = _ratio(latency, c)
        r = f"{cell_text(ratio['e2e_mean'])}, {cell_text(ratio['e2e_p50'])}" if ratio and method == "full" else ""
        lines.append(
            f"| {c} | {LABELS.get(method, method)} | {int(cell['requests'])} ({int(cell['failed'])}) | "
            f"{cell_text(cell['e2e_s_mean'])} | {cell_text(cell['e2e_s_p50'])} | {cell_text(cell['e2e_s_p90'])} | "
            f"{cell_text(cell['ttft_s_p50'], 3)} | {cell_text(cell['ttft_s_p90'], 3)} | {cell_text(cell['tbt_s_mean'], 4)} | "
            f"{cell_text(cell['tbt_s_p50'], 4)} | {cell_text(cell['tbt_s_p90'], 4)} | {cell_text(cell['tokens_mean'], 0)} | {r} |")
    return "\n".join(lines) + "\n"


def breakdown_table(latency: dict[str, Any]) -> str:
    """Where each method's time per request went (means over requests, seconds; `stats` defines the parts)."""
    head = ["A TTFT", "(A queue", "A prefill)", "A decode", "A close", "hand-off", "B TTFT", "(B queue", "B prefill)",
            "B decode"]
    keys = ["a_ttft", "a_queue", "a_prefill", "a_decode", "a_close", "handoff", "b_ttft", "b_queue", "b_prefill",
            "b_decode"]
    assert set(keys) == set(PARTS) | set(ENGINE_PARTS)
    lines = ["| Concurrency | Method | Time/req mean (s) | " + " | ".join(head) + " |",
             "|---|---|---|" + "---|" * len(head)]
    for c, method, cell in _cells(latency):
        parts = cell.get("breakdown") or {}
        lines.append(f"| {c} | {LABELS.get(method, method)} | {cell_text(cell['e2e_s_mean'], 3)} | " + " | ".join(
            cell_text((parts.get(k) or {}).get("mean"), 3) for k in keys) + " |")
    return "\n".join(lines) + "\n"


def cpu_table(latency: dict[str, Any]) -> str:
    """CPU ms per request of each process (client, each server) and in all, tokens per request, cores
    kept busy, client loop lag; per level, Full over Baseline in CPU per request."""
    procs = sorted({p for _, _, cell in _cells(latency) for p in cell.get("cpu_s_per_request") or {}})
    lines = ["| Concurrency | Method | " + " | ".join(f"CPU ms/req: {p}" for p in procs)
             + " | all | Tokens | cores busy | client loop lag p90 (s) | Full / Baseline CPU per request |",
             "|---|---|" + "---|" * (len(procs) + 5)]
    for c, method, cell in _cells(latency):
        cpu = cell.get("cpu_s_per_request") or {}
        ratio = _ratio(latency, c)
        r = cell_text(ratio.get("cpu_per_request")) if ratio and method == "full" else ""
        lines.append(f"| {c} | {LABELS.get(method, method)} | "
                     + " | ".join(cell_text(1000 * cpu[p] if p in cpu else None, 1) for p in procs)
                     + f" | {cell_text(1000 * sum(cpu.values()), 1)} | {cell_text(cell.get('tokens_mean'), 0)} | "
                     f"{cell_text(cell.get('cpu_busy_cores'))} | {cell_text(cell.get('loop_lag_s_p90'), 4)} | {r} |")
    return "\n".join(lines) + "\n"


def _method_quality(quality: dict[str, Any], key: str) -> tuple[Any, Any, Any]:
    """(accuracy %, mean tokens, compression) of one poster row from the quality summary."""
    if key == "baseline":
        return 100 * quality["baseline_accuracy"], quality["baseline_tokens"], None
    if key == "hawkeye_cot":
        return None, quality["hawkeye_a_tokens"], quality["compression"]
    return 100 * quality["hawkeye_accuracy"], quality["hawkeye_tokens"], quality["compression"]


def poster_table(results: dict[str, dict[str, Any]]) -> str:
    """The poster-style table: `results[dataset] = {"quality": summary, "latency": {"methods": ...}}`."""
    lines = ["| " + " | ".join(POSTER_HEADER) + " |", "|" + "---|" * len(POSTER_HEADER)]
    for dataset, res in results.items():
        q, lat = res["quality"], (res.get("latency") or {}).get("methods") or {}
        for qkey, method in POSTER:
            if method == "serve" and not lat.get(method):
                continue
            acc, tokens, comp = _method_quality(q, qkey)
            cells = lat.get(method) or {"–": None}
            for conc, cell in cells.items():
                tok = cell["tokens_mean"] if cell else tokens  # quality's tokens unless the latency run measured them
                lines.append("| " + " | ".join([
                    dataset, LABELS[method], str(conc),
                    cell_text(cell["e2e_s_mean"]) if cell else "–",
                    cell_text(cell["tbt_s_mean"], 3) if cell else "–",
                    cell_text(None if tok is None else float(tok), 0),
                    cell_text(acc, 1), cell_text(None if comp is None else 100 * comp, 1),
                    f"{int(cell['failed'])}/{int(cell['requests'])}" if cell else "–",
                ]) + " |")
        if q.get("b_alone_accuracy") is not None:
            lines.append(f"| {dataset} | B alone | – | – | – | {cell_text(q['b_alone_tokens'], 0)} | "
                         f"{cell_text(100 * q['b_alone_accuracy'], 1)} | – | – |")
    return "\n".join(lines) + "\n"


def render_latency(results: dict[str, dict[str, Any]], context: dict[str, Any]) -> str:
    hw = context.get("hardware") or {}
    machine = ", ".join(str(x) for x in (hw.get("cpu"), f"{hw.get('cpu_cores')} cores", hw.get("gpu")) if x)
    lines = [
        "# Serving latency",
        "",
        f"- Machine: {machine}; load average (1 min) at the start: {cell_text(hw.get('load_average_1m'))}; "
        f"versions: {', '.join(f'{k} {v}' for k, v in (context.get('versions') or {}).items())}",
        f"- Timed as Hawkeye: `{context.get('latency_system')}` (B reads the CoT with answer_leak="
        f"{context.get('latency_answer_leak')}); vLLM engines: {context.get('engines')}",
        "- Closed loop, streaming; time per request = send to last token (A then B for Full); TTFT = first token; "
        "TBT = mean gap between streamed tokens; failed requests are counted, never dropped.",
        "",
    ]
    for name, res in results.items():
        lat = res.get("latency") or {}
        if not lat.get("methods"):
            continue
        idle = lat.get("idle_cpu_percent") or {}
        if replay := lat.get("replay"):
            lines += [f"**Replay, not the models' own lengths**: every call generated exactly its given count: Baseline "
                      f"{replay['baseline_tokens']} tokens of base A; CoT only {replay['cot_tokens']} of the timed A; "
                      f"Full {replay['cot_tokens']} of A, then {replay['answer_tokens']} of B (`eval.latency_replay`).", ""]
        lines += [f"## {name}", "", latency_table(lat),
                  "Where the time per request went (means, s): A's and B's TTFT include the engine's queue wait and "
                  "prefill (vLLM's own per-request figures, in brackets) and the servers' HTTP and streaming work; "
                  "A close = A's last token to its stream's end; hand-off = the client building and sending B's "
                  "request.", "", breakdown_table(lat),
                  "CPU per served request (each server's whole process group, and the client), cores kept busy over "
                  "the cell, and how late the client's event loop ran. Once the cores are saturated, Full / Baseline "
                  "time per request tends to Full / Baseline CPU per request. Idle servers used "
                  + (", ".join(f"{p} {cell_text(v, 1)}%" for p, v in idle.items()) or "–") + " of a core.", "",
                  cpu_table(lat)]
        if lat.get("deployed_cost"):
            lines += ["Cost as deployed (`hawkeye.evaluation.latency.cost`): every method's held-out tokens, over all "
                      "warm starts and seeds, weighted by each model's measured decode time per token.", "",
                      cost_table(lat["deployed_cost"])]
    if all("quality" in r for r in results.values()):  # the latency part run alone has no quality columns
        lines += ["## Poster-style table", "", poster_table(results)]
    return "\n".join(lines)


def write_latency(out_dir: Path, results: dict[str, dict[str, Any]], context: dict[str, Any]) -> None:
    """latency.json ({**context, "results": {dataset: latency}}) and latency.md."""
    write_json(out_dir / "latency.json", clean({**context, "results": {n: r["latency"] for n, r in results.items()}}))
    write_text(out_dir / "latency.md", render_latency(results, context))
