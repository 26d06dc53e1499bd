"""Every A the map trained, and each A regime before GRPO, on the test split: alone and through every B.

Per question: A's CoT tokens, whether A's own answer is right, and for each B regime whether B's answer
(reading A's CoT as written) is right, B's tokens, and whether the CoT has collapsed (`hawkeye.collapse`,
the one per-question definition: at most `steps_share` of the critical steps stated, and the answer
scored wrong). Reading every trained A through every B separates the effect of B in training from
the effect of B at inference.
"""

from __future__ import annotations

from typing import Any

from hawkeye import runs
from hawkeye.answers import exact_match
from hawkeye.collapse import collapsed_on
from hawkeye.cot import cot_length, generated_length
from hawkeye.evaluation.quality import reason, respond
from hawkeye.generation import make_backend
from hawkeye.paths import resolve
from hawkeye.regimes import layout
from hawkeye.regimes.gate import backend


def trained_models(cfg: Any, ws: int, names: list[str]) -> dict[str, str]:
    """{"<cell>/seed<s>": final folder} of the cells' runs, and {"base/<A regime>": its folder}."""
    out = {f"base/{a}": str(layout.model_dir(cfg, "a", a, ws)) for a in {layout.parse_cell(n)[0] for n in names}}
    for name in names:
        for seed in cfg.regimes.seeds:
            out[f"{name}/seed{seed}"] = str(runs.final_dir(resolve(layout.train_dir(cfg, ws)) / name / f"seed{seed}"))
    return out


def score(cfg: Any, ws: int, names: list[str], rows: list[dict[str, Any]], readers: list[str]) -> dict[str, Any]:
    """{model key: {"a_tokens", "alone": {"correct", "collapsed"}, "through": {B: {"correct", "collapsed",
    "b_tokens"}}}}, one value per row."""
    seed, r = int(cfg.seed), cfg.rollout
    questions = [row["question"] for row in rows]
    bs = {b: backend(cfg, "b", b, ws) for b in readers}
    rule = cfg.collapse
    out: dict[str, Any] = {}
    try:
        for key, folder in trained_models(cfg, ws, names).items():
            a = make_backend({"name": key, "name_or_path": folder, "dtype": "float32"}, r, cfg.paths.models_dir, seed)
            try:
                cots = reason(a, questions, int(r.max_new_tokens), seed)
            finally:
                a.close()
            alone = [exact_match(g.text, row["answer"]) for g, row in zip(cots, rows, strict=True)]
            entry: dict[str, Any] = {
                "a_tokens": [cot_length(g) for g in cots],
                "alone": {"correct": alone, "collapsed": [collapsed_on(g.text, row, ok, rule)
                                                          for g, row, ok in zip(cots, rows, alone, strict=True)]},
                "through": {},
            }
            for b_name, b in bs.items():
                _, answers = respond(b, questions, [g.text for g in cots], "allow", int(r.responder_max_new_tokens), seed)
                ok = [exact_match(g.text, row["answer"]) for g, row in zip(answers, rows, strict=True)]
                entry["through"][b_name] = {
                    "correct": ok, "b_tokens": [generated_length(g) for g in answers],
                    "collapsed": [collapsed_on(c.text, row, o, rule) for c, row, o in zip(cots, rows, ok, strict=True)]}
            out[key] = entry
            print(f"[regimes score] ws{ws} {key}: A alone {sum(alone) / len(alone):.1%}, "
                  + ", ".join(f"through {b} {sum(e['correct']) / len(rows):.1%}" for b, e in entry["through"].items()),
                  flush=True)
    finally:
        for b in bs.values():
            b.close()
    return out
