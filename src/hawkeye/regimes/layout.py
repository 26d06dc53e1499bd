"""Where the regime map's files live: the one home of its layout and of its cells' names.

    <models_dir>/regimes/ws<k>/{a,b}_<regime>     each regime's fine-tuned model (HF folder)
    <warmstart_dir>/ws<k>/{a,b}_<regime>          its fine-tuning's resume state
    <curated_dir>/ws<k>/<A regime>                that A's own c_orig (the penalty's reference)
    <train_dir>/ws<k>/<cell>/seed<s>              GRPO runs (`hawkeye.runs`): cell = <A>__<B> or <A>__no_b
    <eval_dir>/gate.json, scores.json             the gate (validation) and every trained A's scores (test)
    <reports_dir>/regimes.{md,json,png}           the map
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hawkeye.paths import resolve
from hawkeye.replicates import label

NO_B = "no_b"
SEP = "__"


def model_ref(cfg: Any, role: str, regime: str, ws: int) -> str:
    """A regime's model folder as configured (relative to the repository, for run configs)."""
    return f"{cfg.paths.models_dir}/regimes/{label(ws)}/{role}_{regime}"


def model_dir(cfg: Any, role: str, regime: str, ws: int) -> Path:
    return resolve(model_ref(cfg, role, regime, ws))


def build_checkpoints(cfg: Any, role: str, regime: str, ws: int) -> Path:
    return resolve(cfg.paths.warmstart_dir) / label(ws) / f"{role}_{regime}"


def curated_dir(cfg: Any, a: str, ws: int) -> str:
    """As configured (relative to the repository), so a run's config.json names no folder of this machine."""
    return f"{cfg.paths.curated_dir}/{label(ws)}/{a}"


def train_dir(cfg: Any, ws: int) -> str:
    return f"{cfg.paths.train_dir}/{label(ws)}"


def cell(a: str, b: str | None) -> str:
    """A cell's arm name: the A regime, then the B regime in the loop (or `no_b`)."""
    return f"{a}{SEP}{b or NO_B}"


def parse_cell(name: str) -> tuple[str, str | None]:
    a, b = name.split(SEP, 1)
    return a, None if b == NO_B else b


def gate_path(cfg: Any) -> Path:
    return resolve(cfg.paths.eval_dir) / "gate.json"


def scores_path(cfg: Any) -> Path:
    return resolve(cfg.paths.eval_dir) / "scores.json"


def report_path(cfg: Any, suffix: str) -> Path:
    return resolve(cfg.paths.reports_dir) / f"regimes.{suffix}"
