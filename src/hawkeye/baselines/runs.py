"""A baseline run's folder, what it was trained from, and which runs the evaluation may use.

A baseline run is a run folder in the layout of `hawkeye.runs` at
`${paths.baselines_dir}/<baseline>/seed<k>/`, so the evaluation reads it like a GRPO arm run:
- `final/`: the fine-tuned Model A;
- `config.json`: the flat config, with `tracking.arm` = the baseline, its `seed`, `responder.name` =
  none (trained without B) and `reward.answer_leak` = the default arm's rule, so its A → B rows
  are read like the default GRPO arm's;
- `inputs.json`: fingerprints of the base A and the curated training file it was trained from;
- `metrics.json`: what it trained on; `checkpoints/`: resume state.

The evaluation uses a baseline run only while both fingerprints still match the config's base A and
curated file: in `dvc repro` the `baselines` stage reruns whenever they change, but a run trained by
hand (`python pipelines/baselines.py ...`) may be stale, and is then left out with a warning instead
of being scored as if it belonged to this base A.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from hawkeye.files import sha256_file, sha256_files
from hawkeye.paths import resolve
from hawkeye.runs import TrainedRun, discover_arm_runs

INPUTS = "inputs.json"
log = logging.getLogger(__name__)


def baselines_dir(cfg: Any) -> Path | None:
    """`paths.baselines_dir` (None when the config has none)."""
    d = cfg.paths.get("baselines_dir")
    return resolve(d) if d else None


def curated_train_path(cfg: Any) -> Path:
    return resolve(cfg.paths.curated_dir) / "train.jsonl"


def model_fingerprint(name_or_path: str) -> str:
    """The hash of a local model folder's weights; the name itself for anything else (a hub id, a spec)."""
    path = resolve(name_or_path)
    weights = sorted(path.glob("*.safetensors")) if path.is_dir() else []
    return sha256_files(weights) if weights else f"name:{name_or_path}"


def inputs(cfg: Any) -> dict[str, str]:
    """What a baseline run of `cfg` trains from: the base A's weights and the curated training rows."""
    data = curated_train_path(cfg)
    return {"base_model": model_fingerprint(str(cfg.policy.name_or_path)),
            "train_data": sha256_file(data) if data.is_file() else "missing"}


def read_inputs(run_dir: Path) -> dict[str, str] | None:
    try:
        return json.loads((run_dir / INPUTS).read_text())
    except (OSError, ValueError):
        return None


def current_runs(cfg: Any) -> list[TrainedRun]:
    """The baseline runs under `paths.baselines_dir` trained from this config's base A and curated rows."""
    root = baselines_dir(cfg)
    runs = discover_arm_runs(root, source="baseline") if root is not None and root.is_dir() else []
    if not runs:
        return []
    expected = inputs(cfg)
    current = [r for r in runs if read_inputs(r.run_dir) == expected]
    for r in runs:
        if r not in current:
            log.warning("baseline run %s left out: it was trained from another base A or curated file than %s "
                        "and %s (rerun the `baselines` stage)", r.run_dir, cfg.policy.name_or_path, curated_train_path(cfg))
    return current
