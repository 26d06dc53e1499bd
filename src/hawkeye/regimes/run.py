"""`make regimes`, top to bottom: build the regimes, gate them, train the cells, score, report.

1. build: each warm start's A and B fine-tuned once per regime (`build`);
2. gate: every regime measured on the validation split; a regime that misses its bounds is reported
   and its cells are not run (`gate`). The penalty of each A regime is set here, by the written rule;
3. c_orig: each A regime's own CoT on the training questions (`cells.curate`);
4. GRPO: every cell (A regime x B regime, and A regime without B), `regimes.seeds` each (`cells.train`);
5. score: each trained A, and each A regime before GRPO, on the test split, alone and through every B;
6. report: the table, the grid figure and the JSON (`report`), logged to the map's MLflow run.
"""

from __future__ import annotations

import time
from typing import Any

from hawkeye.files import write_json
from hawkeye.regimes import build, cells, gate, layout, report, score
from hawkeye.replicates import label
from hawkeye.warmstart.stage import load_split


def _say(began: float, what: str) -> None:
    print(f"[regimes] {(time.perf_counter() - began) / 60:5.1f} min: {what}", flush=True)


def run(cfg: Any, header: str) -> dict[str, Any]:
    import mlflow

    began = time.perf_counter()
    r = cfg.regimes
    wss = [int(w) for w in r.warm_starts]
    for ws in wss:  # every warm start's models exist before anything runs
        for role in ("a", "b"):
            build.base_model(cfg, role, ws)
    train_rows = load_split(cfg, cfg.data.train_split)
    val_rows = load_split(cfg, cfg.data.val_split)
    test_rows = load_split(cfg, r.score_split)
    n = int(r.eval_rows)
    test_rows = test_rows[:n] if n else test_rows

    _say(began, f"fine-tuning {len(build.jobs(cfg))} regime models")
    built = build.build(cfg, train_rows)
    mlflow.log_metrics({f"regimes/build_s/{k.replace('/', '_')}": v for k, v in built.items()})

    gates, ran, skipped = {}, {}, set()
    for ws in wss:
        _say(began, f"gate of warm start {label(ws)} on {cfg.data.val_split}")
        gates[label(ws)] = gate.run(cfg, val_rows, ws)
        ran[ws], skip = cells.cells(cfg, gates[label(ws)])
        skipped.update(skip)
    write_json(layout.gate_path(cfg), gates)
    common = [c for c in ran[wss[0]] if all(c in ran[ws] for ws in wss)]  # a cell runs where every warm start passed
    skipped.update(c for ws in wss for c in ran[ws] if c not in common)

    scores = {}
    for ws in wss:
        for a in dict.fromkeys(layout.parse_cell(c)[0] for c in common):
            _say(began, f"c_orig of A regime {a} ({label(ws)})")
            cells.curate(cfg, ws, a)
        if common:
            _say(began, f"GRPO: {len(common)} cells x {len(r.seeds)} seeds ({label(ws)})")
            cells.train(cfg, ws, common, gates[label(ws)])
        _say(began, f"scoring on {r.score_split} ({len(test_rows)} questions, {label(ws)})")
        readers = [b for b in r.run_b if all(not gates[label(w)]["b"][b]["failed"] for w in wss)]
        scores[str(ws)] = score.score(cfg, ws, common, test_rows, readers)
    write_json(layout.scores_path(cfg), scores)

    doc = report.build(cfg, gates, scores, common, sorted(skipped))
    write_json(layout.report_path(cfg, "json"), doc)
    layout.report_path(cfg, "md").write_text(report.markdown(doc, header), encoding="utf-8")
    report.figure(doc, layout.report_path(cfg, "png"))
    for suffix in ("md", "json", "png"):
        mlflow.log_artifact(str(layout.report_path(cfg, suffix)))
    for c in doc["cells"]:
        for arm in ("with_b", "without_b"):
            mlflow.log_metric(f"regimes/{c['a']}/{c['b']}/{arm}/collapsed", c[arm]["collapse_b"]["mean"])
            mlflow.log_metric(f"regimes/{c['a']}/{c['b']}/{arm}/accuracy_through_b", c[arm]["acc_b"]["mean"])
    _say(began, f"done: {layout.report_path(cfg, 'md')}")
    return doc
