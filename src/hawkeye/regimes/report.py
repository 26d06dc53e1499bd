"""The map as a table, a grid figure and a JSON file: per cell, what training with B changed.

For an A regime a and a B regime b, the arm **with B** trained A with b in the loop; the arm **without
B** trained the same A regime scored on its own answer. Both are read through b at test time, so their
difference is the effect of B *in training*, with B at inference held equal. Each figure is a mean
over warm starts, GRPO seeds and test questions with its nested 95% interval (`evaluation.nested`;
seeds paired by number in a difference), and each verdict is `reporting.decide`'s: the interval's
side of 0, withheld ("cannot tell") with fewer than its minimum of warm starts.
"""

from __future__ import annotations

import csv
import math
from typing import Any

import numpy as np

from hawkeye import runs
from hawkeye.collapse import verdict
from hawkeye.evaluation.nested import nested_interval
from hawkeye.paths import resolve
from hawkeye.regimes import layout
from hawkeye.regimes.flatness import flattened_at, length_per_critical_token
from hawkeye.reporting import decide

MEASURES = ("collapse_b", "acc_b", "acc_alone", "collapse_alone", "a_tokens", "ab_tokens")


def per_question(entry: dict[str, Any], b: str) -> dict[str, list[float]]:
    """One trained A's per-question measures, read through B regime `b`."""
    through = entry["through"][b]
    return {"collapse_b": through["collapsed"], "acc_b": through["correct"], "acc_alone": entry["alone"]["correct"],
            "collapse_alone": entry["alone"]["collapsed"], "a_tokens": entry["a_tokens"],
            "ab_tokens": [a + t for a, t in zip(entry["a_tokens"], through["b_tokens"], strict=True)]}


def values(scores: dict[str, Any], cell: str, seeds: list[int], b: str, measure: str) -> np.ndarray:
    """[warm starts, seeds, questions] of one measure of a cell's runs read through `b`."""
    return np.array([[per_question(scores[ws][f"{cell}/seed{s}"], b)[measure] for s in seeds] for ws in sorted(scores)],
                    dtype=float)


def interval(v: np.ndarray) -> dict[str, float]:
    i = nested_interval(v)
    return {"mean": i.mean, "low": i.low, "high": i.high}


def training(cfg: Any, ws_list: list[int], cell: str) -> dict[str, Any]:
    """From each run's curve file: whether its training curve collapsed (the one curve rule,
    `collapse.verdict` on its collapsed share per step), and where it flattened."""
    collapsed, flat = [], []
    r = cfg.regimes
    for ws in ws_list:
        for seed in r.seeds:
            run_dir = resolve(layout.train_dir(cfg, ws)) / cell / f"seed{seed}"
            with runs.curve_path(run_dir).open() as fh:
                rows = list(csv.DictReader(fh, delimiter="\t"))
            shares = [float(row["collapsed_share"]) for row in rows]
            collapsed.append(verdict(shares, int(float(rows[0]["rollouts"])), cfg.collapse).collapsed)
            curve = length_per_critical_token([float(row["cot_tokens_mean"]) for row in rows],
                                              [float(row["critical_tokens_mean"]) for row in rows])
            flat.append(flattened_at(curve, int(r.flat_window), float(r.flat_tolerance), float(r.flat_floor)))
    return {"runs": len(collapsed), "collapsed_in_training": sum(collapsed), "flattened_at": flat}


def build(cfg: Any, gate: dict[str, Any], scores: dict[str, Any], ran: list[str], skipped: list[str]) -> dict[str, Any]:
    """The map: {"cells": [...], "skipped": [...], "warm_starts": n}."""
    seeds = list(cfg.regimes.seeds)
    ws_list = sorted(int(w) for w in scores)
    skeys = {ws: scores[ws] for ws in scores}
    out: dict[str, Any] = {"warm_starts": len(ws_list), "seeds": seeds, "skipped": skipped, "cells": [],
                           "split": str(cfg.regimes.score_split)}
    for a in cfg.regimes.run_a:
        without = layout.cell(a, None)
        for b in cfg.regimes.run_b:
            with_b = layout.cell(a, b)
            if with_b not in ran or without not in ran:
                continue
            row: dict[str, Any] = {"a": a, "b": b, "with_b": {}, "without_b": {}, "difference": {}}
            for arm, cell in (("with_b", with_b), ("without_b", without)):
                row[arm] = {m: interval(values(skeys, cell, seeds, b, m)) for m in MEASURES}
                row[arm]["training"] = training(cfg, ws_list, cell)
            for m in ("collapse_b", "acc_b", "a_tokens", "ab_tokens"):
                diff = values(skeys, with_b, seeds, b, m) - values(skeys, without, seeds, b, m)
                row["difference"][m] = interval(diff)
            d = row["difference"]["collapse_b"]
            direction = decide.difference(d["low"], d["high"])
            row["interval_says"] = {"lower": "less collapse with B in training", "higher": "more collapse with B in training",
                                    decide.CANNOT_TELL: "no difference shown"}[direction]
            row["verdict"] = decide.replicated({"lower": decide.YES, "higher": decide.NO}.get(direction, decide.CANNOT_TELL),
                                               len(ws_list))
            out["cells"].append(row)
    out["base"] = {}
    for a in cfg.regimes.run_a:
        if not all(f"base/{a}" in scores[ws] for ws in scores):
            continue
        readers = scores[next(iter(scores))][f"base/{a}"]["through"]  # the B regimes that passed their gate
        out["base"][a] = {b: {m: interval(np.array([[per_question(scores[ws][f"base/{a}"], b)[m]]
                                                    for ws in sorted(scores)], dtype=float))
                              for m in ("acc_b", "acc_alone", "a_tokens")} for b in readers}
    out["gate"] = gate
    return out


def _pct(i: dict[str, float]) -> str:
    return f"{100 * i['mean']:.1f} [{100 * i['low']:.1f}, {100 * i['high']:.1f}]"


def _num(i: dict[str, float]) -> str:
    return f"{i['mean']:.1f} [{i['low']:.1f}, {i['high']:.1f}]"


def _flat(t: dict[str, Any]) -> str:
    steps = t["flattened_at"]
    return ", ".join("not flat" if s is None else str(s) for s in steps)


def markdown(doc: dict[str, Any], header: str) -> str:
    lines = [header, "", f"## The map ({doc['split']})", "",
             "Each cell's A read through the cell's B. Collapse: the share of questions whose CoT states at most half "
             "their critical steps and whose answer is wrong (`hawkeye.collapse`). Intervals: nested 95% bootstrap over "
             "warm starts, GRPO seeds and questions.", "",
             "| A regime | B regime | trained | collapsed (%) | accuracy through B (%) | A alone (%) | A alone collapsed (%) "
             "| A tokens | A + B tokens | runs collapsed in training | flattened at step |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in doc["cells"]:
        for arm, label in (("with_b", "with B"), ("without_b", "without B")):
            x = c[arm]
            lines.append(f"| {c['a']} | {c['b']} | {label} | {_pct(x['collapse_b'])} | {_pct(x['acc_b'])} | "
                         f"{_pct(x['acc_alone'])} | {_pct(x['collapse_alone'])} | {_num(x['a_tokens'])} | "
                         f"{_num(x['ab_tokens'])} | {x['training']['collapsed_in_training']} of {x['training']['runs']} | "
                         f"{_flat(x['training'])} |")
    lines += ["", "## With B minus without B in training (both read through the cell's B)", "",
              "| A regime | B regime | collapsed (points) | accuracy (points) | A tokens | A + B tokens | interval says | "
              "B in training prevented collapse? |", "|---|---|---|---|---|---|---|---|"]
    for c in doc["cells"]:
        d = c["difference"]
        lines.append(f"| {c['a']} | {c['b']} | {_pct(d['collapse_b'])} | {_pct(d['acc_b'])} | {_num(d['a_tokens'])} | "
                     f"{_num(d['ab_tokens'])} | {c['interval_says']} | {c['verdict']} |")
    why = decide.too_few_warm_starts(doc["warm_starts"])
    if why:
        lines += ["", f"Verdicts withheld: {why}."]
    if doc["skipped"]:
        lines += ["", "Cells not run (a regime missed its gate): " + ", ".join(f"`{s}`" for s in doc["skipped"]) + "."]
    lines += ["", f"## Before GRPO: each A regime alone and through each B ({doc['split']})", "",
              "| A regime | A alone (%) | A tokens | " + " | ".join(f"through {b} (%)" for b in _readers(doc)) + " |",
              "|---|---|---|" + "---|" * len(_readers(doc))]
    for a, per_b in doc["base"].items():
        first = next(iter(per_b.values()))
        lines.append(f"| {a} | {_pct(first['acc_alone'])} | {_num(first['a_tokens'])} | "
                     + " | ".join(_pct(per_b[b]["acc_b"]) for b in _readers(doc)) + " |")
    lines += ["", "## The gate (validation split), per warm start", ""]
    for ws, g in doc["gate"].items():
        lines += [f"### {ws} ({g['rows']} questions)", "", "| A regime | with CoT | direct | direct, 1 op | 2 ops | 3 ops | "
                  "skips (sampled) | 1 op | 2 ops | 3 ops | skips right, 1 op | 2 ops | 3 ops | len(c_orig) | lambda | "
                  "alpha | gate |", "|---|" + "---|" * 16]
        for a, x in g["a"].items():
            m, p = x["measures"], x["penalty"]
            cols = ["a_greedy", "a_direct", *(f"a_direct_ops{k}" for k in (1, 2, 3)), "a_skip",
                    *(f"a_skip_ops{k}" for k in (1, 2, 3)), *(f"a_skip_right_ops{k}" for k in (1, 2, 3))]
            lines.append(f"| {a} | " + " | ".join(f"{m.get(k, math.nan):.3f}" for k in cols)
                         + f" | {m['c_orig_tokens']:.1f} | {p['lambda']:.3g} | {p['alpha']:g} | {_state(x)} |")
        forms = list(next(iter(g["b"].values()))["measures"]) if g["b"] else []
        lines += ["", "| B regime | " + " | ".join(forms) + " | gate |", "|---|" + "---|" * (len(forms) + 1)]
        for b, x in g["b"].items():
            lines.append(f"| {b} | " + " | ".join(f"{x['measures'][f]:.3f}" for f in forms) + f" | {_state(x)} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def _readers(doc: dict[str, Any]) -> list[str]:
    return list(next(iter(doc["base"].values())).keys()) if doc["base"] else []


def _state(x: dict[str, Any]) -> str:
    return "passed" if not x["failed"] else "missed: " + "; ".join(x["failed"])


def figure(doc: dict[str, Any], path: Any) -> None:
    """The regimes as a grid (A regimes x B regimes), colour = collapse share, trained with B and without."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hawkeye.files import atomic_open

    # Every regime pair the map asked for: a pair not run (a regime missed its gate) is shown as such.
    skipped = [layout.parse_cell(name) for name in doc["skipped"]]
    a_names = list(dict.fromkeys([*(c["a"] for c in doc["cells"]), *(a for a, _ in skipped)]))
    b_names = list(dict.fromkeys([*(c["b"] for c in doc["cells"]), *(b for _, b in skipped if b)]))
    fig, axes = plt.subplots(1, 2, figsize=(4 + 1.6 * len(b_names), 1.2 + 1.0 * max(1, len(a_names))), squeeze=False)
    if not a_names:  # no regime pair at all: the figure says so rather than not existing
        axes[0][0].text(0.5, 0.5, "no cell ran", ha="center")
    for ax, (arm, title) in zip(axes[0], (("with_b", "trained with B"), ("without_b", "trained without B")), strict=True):
        grid = np.full((len(a_names), len(b_names)), np.nan)
        for c in doc["cells"]:
            grid[a_names.index(c["a"]), b_names.index(c["b"])] = c[arm]["collapse_b"]["mean"]
        if grid.size:
            ax.imshow(grid, vmin=0, vmax=1, cmap="Reds")
        for i in range(len(a_names)):
            for j in range(len(b_names)):
                label = "not run:\ngate missed" if math.isnan(grid[i, j]) else f"{100 * grid[i, j]:.0f}%"
                ax.text(j, i, label, ha="center", va="center", fontsize=8 if math.isnan(grid[i, j]) else 10)
        ax.set_xticks(range(len(b_names)), [f"read by {b}" for b in b_names], rotation=20)
        ax.set_yticks(range(len(a_names)), [f"A {a}" for a in a_names])
        ax.set_title(f"{title}: collapsed share", fontsize=9)
    fig.tight_layout()
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=100)
    plt.close(fig)
