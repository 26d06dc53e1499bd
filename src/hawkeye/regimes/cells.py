"""The map's cells: A's own c_orig per A regime, then GRPO with each B regime in the loop and without B.

A cell is (A regime, B regime or none). Its runs are ordinary `src/train.py` runs started by the train
stage's own runner (`training.arms.run_arms`), one arm per cell (`layout.cell`), `regimes.seeds` each,
logged to MLflow under the experiment's tracking name with the cell as their `arm` tag. Every cell
reads by the paper's rule (`allow`), with its A regime's penalty from the gate (`gate.penalty`).
"""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf

from hawkeye.regimes import layout


def passed(gate: dict[str, Any], role: str, name: str) -> bool:
    return not gate[role][name]["failed"]


def cells(cfg: Any, gate: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(cells to run, cells skipped because a regime's gate failed), A regimes outer."""
    run, skipped = [], []
    for a in cfg.regimes.run_a:
        for b in [*cfg.regimes.run_b, None]:
            ok = passed(gate, "a", a) and (b is None or passed(gate, "b", b))
            (run if ok else skipped).append(layout.cell(a, b))
    return run, skipped


def overrides(cfg: Any, name: str, ws: int, gate: dict[str, Any]) -> list[str]:
    """The train.py overrides of one cell in warm start `ws`."""
    a, b = layout.parse_cell(name)
    pen = gate["a"][a]["penalty"]
    out = [f"policy.name_or_path={layout.model_ref(cfg, 'a', a, ws)}",
           f"paths.curated_dir={layout.curated_dir(cfg, a, ws)}",
           f"lambda={pen['lambda']:.6g}", f"alpha={pen['alpha']:.6g}", f"tracking.warm_start={ws}"]
    if b is None:
        return [*out, "responder.name=none", "responder.name_or_path=null"]
    return [*out, f"responder.name_or_path={layout.model_ref(cfg, 'b', b, ws)}", "reward.answer_leak=allow"]


def curate(cfg: Any, ws: int, a: str) -> dict[str, float]:
    """A regime's own c_orig on the training questions (the penalty's len(c_orig)), as the curate stage writes it."""
    from hawkeye.curation import curate as stage
    from hawkeye.tracking.mlflow_run import stage_run

    ccfg = OmegaConf.merge(cfg, {"policy": {"name_or_path": layout.model_ref(cfg, "a", a, ws)},
                                 "paths": {"curated_dir": layout.curated_dir(cfg, a, ws)}})
    splits = stage.load_inputs(ccfg)
    with stage_run(ccfg, stage="regimes-curate", run_name=f"regimes-curate-{a}-ws{ws}", nested=True):
        return stage.run(ccfg, splits)


def train(cfg: Any, ws: int, names: list[str], gate: dict[str, Any]) -> dict[str, Any]:
    """Every cell's GRPO runs in warm start `ws`, `arms.jobs` at a time; {cell: {seed: seconds}}."""
    from hawkeye.training.arms import run_arms

    arms = {name: overrides(cfg, name, ws, gate) for name in names}
    tcfg = OmegaConf.merge(cfg, {"warmstart": {"seeds": []},  # each run's models are named in full
                                 "paths": {"train_dir": layout.train_dir(cfg, ws)}})
    tcfg.arms.arms = arms
    tcfg.arms.run = list(names)
    tcfg.arms.seeds = list(cfg.regimes.seeds)
    tcfg.arms.default = names[0]
    tcfg.arms.pairs = {}
    return run_arms(tcfg)
