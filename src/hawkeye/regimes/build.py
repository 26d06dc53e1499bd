"""The regimes' models: each warm start's A and B, fine-tuned once per regime.

Every regime starts from the same warm start (`models/warmstarts/ws<k>/`, written by the Quick start's
`dvc repro` or by `make replicate`) and gets the same fine-tuning budget; only what it is shown
differs (`hawkeye.regimes.views`). So an A regime differs from another in its in-head ability alone,
and a B regime in how much it computes. The fine-tuning is the warm start's own loop (`warmstart.sft`:
step s trains on batch s, resumable), one model per process and core, two at a time.
"""

from __future__ import annotations

import json
import logging
import random
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from hawkeye.data.config import testbed_spec
from hawkeye.data.sources.testbed import TestbedSpec
from hawkeye.errors import ModelError
from hawkeye.paths import resolve
from hawkeye.regimes import layout
from hawkeye.regimes.views import a_example, b_example, drill_example
from hawkeye.replicates import label, replicate_config, sft_seed


def _finetune(role: str, regime: str, ws: int, spec: dict[str, Any], views: dict[str, float], rows: list[dict[str, Any]],
              base_dir: str, out_dir: str, ckpt_dir: str) -> float:
    """One model fine-tuned in its own process on one core (top level: spawn pickles it by name)."""
    import torch

    from hawkeye.models.load import load_causal_lm, load_tokenizer
    from hawkeye.training.fit import save_policy
    from hawkeye.warmstart import sft

    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO, format=f"[regimes {label(ws)} {role}={regime}] %(message)s", force=True)
    start = time.perf_counter()
    tok = load_tokenizer(base_dir)
    tok.padding_side = "right"  # training batches pad on the right
    model = load_causal_lm(base_dir, "float32", False)
    f = spec["finetune"]
    steps = int(f["a_steps"] if role == "a" else f["b_steps"])
    # As JSON has them (string keys), so that a rerun with the same settings resumes (`sft.train` compares
    # them with the checkpoint's config.json) instead of fine-tuning again from step 0.
    regime_spec = json.loads(json.dumps(spec["regime"]))
    settings = OmegaConf.create({"steps": steps, "batch_size": int(f["batch_size"]), "lr": float(f["lr"]),
                                 "warmup_steps": int(f["warmup_steps"]), "regime": regime, "spec": regime_spec})
    if role == "a":
        direct = {int(k): float(v) for k, v in spec["regime"]["direct_by_ops"].items()}
        drill, testbed = float(spec["regime"]["drill_one_op"]), TestbedSpec(**spec["testbed"])
        skip = float(spec["regime"]["skip_cot"])

        def make(rng: random.Random) -> Any:
            if rng.random() < drill:
                return drill_example(tok, rng, testbed)
            return a_example(rng.choice(rows), tok, rng, direct, skip)
    else:
        finish = int(spec["regime"]["finish"])

        def make(rng: random.Random) -> Any:
            return b_example(rng.choice(rows), tok, rng, views, finish)
    seed = sft_seed(int(spec["seed"]), ws, role) + 7  # not the warm start's own data order
    sft.train(model, tok, make, settings, seed, Path(ckpt_dir), max(1, steps // 4))
    tok.padding_side = "left"
    save_policy(model, tok, Path(out_dir))
    return time.perf_counter() - start


def jobs(cfg: Any) -> list[tuple[str, str, int]]:
    """(role, regime, warm start) of every model the map needs, B's first (they take longer)."""
    r = cfg.regimes
    return ([("b", name, int(ws)) for ws in r.warm_starts for name in r.run_b]
            + [("a", name, int(ws)) for ws in r.warm_starts for name in r.run_a])


def base_model(cfg: Any, role: str, ws: int) -> Path:
    """The warm start's own A or B folder (refused, naming it and the command that writes it, if absent)."""
    from hawkeye.models.load import check_model_dir

    node = replicate_config(OmegaConf.merge(cfg, {"warmstart": {"seeds": [ws]}}), ws)
    path = resolve(node.policy.name_or_path if role == "a" else node.responder.name_or_path)
    try:
        check_model_dir(path)
    except ModelError as e:
        raise ModelError(f"the regimes build on warm start {label(ws)}'s Model {role.upper()} at {path}, which is "
                         f"missing or incomplete ({e}); run the Quick start's `dvc repro` (warm start 1) or "
                         f"`make replicate` (1-3) first") from e
    return path


def build(cfg: Any, rows: list[dict[str, Any]]) -> dict[str, float]:
    """Fine-tune every regime's model; {"<role>/<regime>/ws<k>": seconds}."""
    r = cfg.regimes
    views = {k: float(v) for k, v in r.b_views.items()}
    todo = jobs(cfg)
    bases = {(role, ws): base_model(cfg, role, ws) for role, _, ws in todo}  # all checked before any starts
    out: dict[str, float] = {}
    with ProcessPoolExecutor(max_workers=int(cfg.arms.jobs), mp_context=get_context("spawn")) as pool:
        futures = {}
        for role, name, ws in todo:
            regime = OmegaConf.to_container((r.a if role == "a" else r.b)[name], resolve=True)
            spec = {"finetune": OmegaConf.to_container(r.finetune, resolve=True), "regime": regime, "seed": int(cfg.seed),
                    "testbed": vars(testbed_spec(cfg.data))}
            print(f"[regimes] fine-tuning {role.upper()} regime {name} from warm start {label(ws)}", flush=True)
            futures[f"{role}/{name}/{label(ws)}"] = pool.submit(
                _finetune, role, name, ws, spec, views, rows, str(bases[(role, ws)]),
                str(layout.model_dir(cfg, role, name, ws)), str(layout.build_checkpoints(cfg, role, name, ws)))
        for key, future in futures.items():
            out[key] = future.result()
            print(f"[regimes] {key}: fine-tuned in {out[key]:.0f} s", flush=True)
    return out
