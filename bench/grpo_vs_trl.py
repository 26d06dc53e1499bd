"""One GRPO step of hawkeye (`hawkeye.training.fit`, the code `src/train.py` runs) against one step of
TRL's `GRPOTrainer`, on the same models, questions, shapes and generation backend; each step profiled.

    python bench/grpo_vs_trl.py                                # the testbed (needs `dvc repro warmstart curate`)
    python bench/grpo_vs_trl.py --backend vllm                 # both sides on colocated vLLM
    python bench/grpo_vs_trl.py --experiment smoke --steps 8   # tiny random model, no B: seconds

Identical on both sides, read from the experiment's config: Model A and (unless `--no-b`) Model B,
the questions of each step (hawkeye's seeded step order, fed to TRL unshuffled), G, questions per
step, the completion cap, temperature, lr (constant), AdamW, loss (`grpo.loss_type`), β, ε, μ,
fp32, one thread, and the reward: TRL's reward function calls hawkeye's own `Responder` (B) and
`compute_reward`, so B reads the same prompt and the same rule scores it. The generation backend
is HF `generate` on the live policy (`--backend hf`, the testbed's) or vLLM colocated in the
trainer's process, weights pushed after every step (`--backend vllm`); TRL's importance-sampling
correction is off there, because hawkeye's step is on-policy without it (it would add a forward pass),
and TRL's gradient checkpointing (on by default) is off, as hawkeye's step has none.

Each side runs in its own process (two vLLM engines in one process clash). A step is profiled into
  generation  A's rollouts (hawkeye `sample_cots`; TRL its model's `generate` / vLLM's `generate`)
  B+reward    Model B's answers and the reward (hawkeye `respond` + `compute_reward`; TRL `_calculate_rewards`)
  forward     the policy's log-prob passes (hawkeye `token_logps`; TRL `_get_per_token_logps_and_entropies`)
  backward    hawkeye `manual_backward`; TRL `accelerator.backward`
  push        weights into vLLM (hawkeye `push_weights`; TRL `sync_weights`)
  other       the rest of the step: optimizer, padding, advantages, bookkeeping
and reported as the median over the steps after the first (which holds one-off warm-up) of every
round, next to the mean CoT length each side generated: with the testbed's lr the two policies stay
near A's c_orig length over a few steps, so both sides do the same work. The sides alternate over
`--rounds` rounds (who goes first alternates too), and each round's ratio is printed: on a shared
2-core machine one run's timings drift by ±30%.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PARTS = ("generation", "B+reward", "forward", "backward", "push", "other")


# ---- timers ------------------------------------------------------------------------------------

class StepProfile:
    """Seconds per part, accumulated while a step runs and closed into one row per step."""

    def __init__(self) -> None:
        self.current: dict[str, float] = defaultdict(float)
        self.steps: list[dict[str, float]] = []
        self.lengths: list[float] = []
        self.threads: set[int] = set()  # torch threads seen while steps ran (a library may change them)
        self.t0 = 0.0

    def wrap(self, owner: Any, name: str, part: str) -> None:
        inner = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.current[part] += time.perf_counter() - t

        setattr(owner, name, timed)

    def begin(self) -> None:
        import torch

        self.threads.add(torch.get_num_threads())
        self.current = defaultdict(float)
        self.t0 = time.perf_counter()

    def end(self) -> None:
        row = dict(self.current)
        row["step"] = time.perf_counter() - self.t0
        row["other"] = row["step"] - sum(v for k, v in row.items() if k != "step")
        self.steps.append(row)


# ---- hawkeye ----------------------------------------------------------------------------------

def compose(a: argparse.Namespace) -> Any:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    overrides = [f"experiment={a.experiment}", f"grpo.max_steps={a.steps}", f"seed={a.seed}",
                 "trainer.checkpoint_every_n_steps=1000000", "tracking.log_samples=0"]
    if a.experiment == "smoke":  # tiny random model and synthetic rows: no B (it would be random too)
        overrides += ["policy.name_or_path='tiny:qwen2?seed=0'", "grpo.group_size=4", "rollout.max_new_tokens=32",
                      "grpo.lr=1e-4", "rollout.batch_size=64"]
    if a.no_b or a.experiment == "smoke":
        overrides.append("responder=none")
    if a.backend == "vllm":
        overrides.append("rollout.backend=vllm")
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return hydra_compose("config", overrides=overrides)


def side_config(a: argparse.Namespace, out: Path, check_tracking: bool) -> Any:
    """The composed, validated config one side trains with (threads and seeds set, as `src/train.py` does)."""
    import hawkeye.runtime

    cfg = compose(a)
    if a.experiment == "smoke":
        cfg.paths.curated_dir = str(smoke_rows(out / "curated"))
    return hawkeye.runtime.start(cfg, check_tracking=check_tracking)


def smoke_rows(path: Path) -> Path:
    """Synthetic curated rows for `--experiment smoke` (no curate stage needed): one question shape."""
    from hawkeye.data.schema import make_curated_row, make_row
    from hawkeye.files import write_jsonl

    rows = [make_curated_row(make_row(f"bench-{i}", "bench", f"Tom has {i} apples and buys {i + 3} more. How many?",
                                      2 * i + 3), cot_orig="", cot_orig_tokens=24, orig_correct=True, cot_refined="",
                             cot_refined_tokens=24, refine_rejected=False, flags=[]) for i in range(64)]
    write_jsonl(path / "train.jsonl", rows)
    return path


def run_hawkeye(a: argparse.Namespace, out: Path) -> dict[str, Any]:
    from hawkeye.generation import vllm_backend
    from hawkeye.tracking.mlflow_run import stage_run
    from hawkeye.training import module as grpo_module
    from hawkeye.training.fit import fit
    from hawkeye.training.module import GRPOModule

    cfg = side_config(a, out, check_tracking=True)
    prof = StepProfile()
    prof.wrap(GRPOModule, "sample_cots", "generation")
    prof.wrap(GRPOModule, "respond", "B+reward")
    prof.wrap(grpo_module, "compute_reward", "B+reward")  # the step calls it by its module-level name
    prof.wrap(GRPOModule, "token_logps", "forward")
    prof.wrap(GRPOModule, "manual_backward", "backward")
    prof.wrap(vllm_backend.VLLMBackend, "push_weights", "push")
    step = GRPOModule.training_step

    def training_step(module: GRPOModule, *args: Any) -> None:
        prof.begin()
        step(module, *args)
        prof.end()
        prof.lengths.append(module.step_metrics["cot_tokens_mean"])

    GRPOModule.training_step = training_step
    with stage_run(cfg, "bench", "bench grpo_vs_trl") as run:
        fit(cfg, out / "train", run.info.run_id)
    return {"steps": prof.steps, "lengths": prof.lengths, "threads": sorted(prof.threads), "config": shape(cfg)}


def shape(cfg: Any) -> dict[str, Any]:
    g, r = cfg.grpo, cfg.rollout
    return {"policy": cfg.policy.name_or_path, "responder": cfg.responder.name_or_path, "G": int(g.group_size),
            "questions": int(g.questions_per_step), "max_new_tokens": int(r.max_new_tokens),
            "lr": float(g.lr), "backend": r.backend}


# ---- TRL --------------------------------------------------------------------------------------

def run_trl(a: argparse.Namespace, out: Path) -> dict[str, Any]:
    from hawkeye.cot import cot_length
    from hawkeye.generation.base import Generation
    from hawkeye.generation.eos import eos_ids
    from hawkeye.generation.vllm_args import engine_env
    from hawkeye.generation.vllm_backend import set_launcher_env
    from hawkeye.models.load import load_model_and_tokenizer
    from hawkeye.prompts import reasoning_messages
    from hawkeye.responder.model import Responder
    from hawkeye.reward.reward import compute_reward
    from hawkeye.training.data import GRPODataModule
    from hawkeye.training.fit import train_data_path

    cfg = side_config(a, out, check_tracking=False)
    if a.backend == "vllm":  # TRL's colocated engine: vLLM's external launcher, one process
        set_launcher_env()
        for key, value in engine_env(cfg.rollout.vllm).items():  # the project's engine environment
            os.environ.setdefault(key, value)
    from accelerate import Accelerator
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    g, r = cfg.grpo, cfg.rollout
    G, N = int(g.group_size), int(g.questions_per_step)
    data = GRPODataModule(train_data_path(cfg), N, a.steps, int(cfg.seed))
    # hawkeye's questions, step by step, in order: TRL's sampler (unshuffled) repeats each G times
    ordered = [row for s in range(a.steps) for row in data.rows_for_step(s)]
    dataset = Dataset.from_list([{"prompt": reasoning_messages(x["question"]), "question": x["question"],
                                  "answer": x["answer"], "cot_orig_tokens": int(x["cot_orig_tokens"])}
                                 for x in ordered])
    policy, tok, _ = load_model_and_tokenizer(cfg.policy, cfg.paths.models_dir)
    responder = Responder.from_config(cfg)
    eos = set(eos_ids(policy.generation_config, tok))  # the ids hawkeye's rollouts stop on
    lam, alpha = float(cfg["lambda"]), float(cfg.alpha)
    calls = [0]
    prof = StepProfile()

    def reward(completions: list[Any], completion_ids: list[list[int]], question: list[str], answer: list[str],
               cot_orig_tokens: list[int], **_: Any) -> list[float]:
        texts = [c[0]["content"] if isinstance(c, list) else c for c in completions]
        calls[0] += 1
        answers = texts if responder is None else [x.text for x in responder.answer(question, texts, seed=calls[0])]
        # len(c) exactly as hawkeye counts it (cot.cot_length); called once per step
        lengths = [cot_length(Generation(text=t, token_ids=ids, finish_reason="stop" if ids and ids[-1] in eos
                                         else "length")) for t, ids in zip(texts, completion_ids, strict=True)]
        prof.lengths.append(statistics.mean(lengths))
        return [compute_reward(ans, gold, t, n, orig, cfg.reward, lam=lam, alpha=alpha).reward
                for ans, gold, t, n, orig in zip(answers, answer, texts, lengths, cot_orig_tokens, strict=True)]

    if a.backend == "vllm":
        from trl.generation.vllm_generation import VLLMGeneration

        prof.wrap(VLLMGeneration, "generate", "generation")
        prof.wrap(VLLMGeneration, "sync_weights", "push")
    else:
        prof.wrap(policy, "generate", "generation")
    prof.wrap(GRPOTrainer, "_calculate_rewards", "B+reward")
    prof.wrap(GRPOTrainer, "_get_per_token_logps_and_entropies", "forward")
    prof.wrap(Accelerator, "backward", "backward")

    class Profiled(TrainerCallback):
        def on_step_begin(self, *args: Any, **kwargs: Any) -> None:
            prof.begin()

        def on_step_end(self, *args: Any, **kwargs: Any) -> None:
            prof.end()

    args = GRPOConfig(
        output_dir=str(out / "trl"), per_device_train_batch_size=G * N, num_generations=G, max_steps=a.steps,
        max_completion_length=int(r.max_new_tokens), temperature=float(r.temperature), top_p=float(r.top_p),
        top_k=0, learning_rate=float(g.lr), lr_scheduler_type="constant", warmup_steps=0,
        weight_decay=float(g.weight_decay), max_grad_norm=float(cfg.trainer.gradient_clip_val or 0.0),
        beta=float(g.beta), loss_type=str(g.loss_type), scale_rewards=str(g.scale_rewards),
        epsilon=float(g.epsilon), epsilon_high=float(g.epsilon_high or g.epsilon), num_iterations=int(g.num_iterations),
        gradient_checkpointing=False,  # TRL's default is on; hawkeye's step never recomputes activations
        shuffle_dataset=False, bf16=False, use_cpu=True, report_to=[], save_strategy="no", logging_steps=1,
        dataloader_num_workers=0, seed=int(cfg.seed), disable_tqdm=True,
        use_vllm=a.backend == "vllm", vllm_mode="colocate", vllm_importance_sampling_correction=False,
        vllm_max_model_length=int(r.vllm.max_model_len), vllm_gpu_memory_utilization=float(r.vllm.gpu_memory_utilization),
    )
    trainer = GRPOTrainer(model=policy, reward_funcs=reward, args=args, train_dataset=dataset,
                          processing_class=tok, callbacks=[Profiled()])
    trainer.train()
    return {"steps": prof.steps, "lengths": prof.lengths, "threads": sorted(prof.threads)}


# ---- the comparison ---------------------------------------------------------------------------

def side(name: str, a: argparse.Namespace) -> dict[str, Any]:
    """Run one side in a fresh process; its profile comes back as JSON."""
    out = Path(tempfile.mkdtemp(prefix=f"grpo-bench-{name}-"))
    argv = [sys.executable, __file__, "--side", name, "--out", str(out), "--experiment", a.experiment,
            "--steps", str(a.steps), "--backend", a.backend, "--seed", str(a.seed)] + (["--no-b"] if a.no_b else [])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "MLFLOW_TRACKING_URI": f"sqlite:///{out}/mlflow.db"}
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{name} side failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads((out / "profile.json").read_text())


def medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Per part, the median over every step after the first of each run (step 0 holds one-off warm-up:
    allocations, lazy imports, engine caches)."""
    rest = [s for run in runs for s in (run["steps"][1:] or run["steps"])]
    return {k: statistics.median(s.get(k, 0.0) for s in rest) for k in ("step", *PARTS)}


def report(ours: list[dict[str, Any]], trl: list[dict[str, Any]], a: argparse.Namespace) -> None:
    c = ours[0]["config"]
    m_ours, m_trl = medians(ours), medians(trl)
    print(f"shape: A={c['policy']}  B={c['responder'] or 'none'}  backend={c['backend']}  "
          f"{c['questions']} questions x G={c['G']}, cap {c['max_new_tokens']} tokens, lr {c['lr']:g}, "
          f"{a.rounds} rounds x {a.steps} steps, torch threads {ours[0]['threads']} vs {trl[0]['threads']}")
    mean = lambda runs: statistics.mean(x for run in runs for x in run["lengths"])  # noqa: E731
    print(f"mean CoT tokens per rollout: hawkeye {mean(ours):.1f}, trl {mean(trl):.1f}")
    print(f"{'s/step':<12}{'hawkeye':>9}{'trl':>9}{'ratio':>8}   (medians over steps 2..{a.steps} of every round)")
    for k in ("step", *PARTS):
        ratio = f"{m_ours[k] / m_trl[k]:.2f}" if m_trl[k] > 1e-4 else "-"
        print(f"{k:<12}{m_ours[k]:>9.3f}{m_trl[k]:>9.3f}{ratio:>8}")
    per_round = [medians([o])["step"] / medians([t])["step"] for o, t in zip(ours, trl, strict=True)]
    for name, runs in (("hawkeye", ours), ("trl", trl)):
        every = " | ".join(", ".join(f"{s['step']:.2f}" for s in run["steps"]) for run in runs)
        print(f"{name + ' s/step:':<16}{medians(runs)['step']:.3f}  (every step, rounds split by |: {every})")
    print(f"ratio hawkeye/trl: {m_ours['step'] / m_trl['step']:.2f}  "
          f"(per round: {', '.join(f'{r:.2f}' for r in per_round)})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--experiment", default="testbed", help="the conf/experiment preset whose models and shapes to use")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--backend", choices=("hf", "vllm"), default="hf")
    p.add_argument("--no-b", action="store_true", help="score A's own text (responder=none) on both sides")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3, help="hawkeye and TRL runs, alternating who goes first")
    p.add_argument("--side", choices=("hawkeye", "trl"), help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.side:
        sys.path.insert(0, str(REPO / "src"))
        out = Path(a.out)
        result = (run_hawkeye if a.side == "hawkeye" else run_trl)(a, out)
        (out / "profile.json").write_text(json.dumps(result))
        return
    if a.experiment == "testbed" and not (REPO / "models" / "testbed-a").is_dir():
        sys.exit("models/testbed-a not found: run `dvc repro curate` first (it trains the testbed's A and B)")
    ours, trl = [], []
    for r in range(a.rounds):  # alternate the order: a machine that slows down mid-run hits both sides
        for name in ("hawkeye", "trl") if r % 2 == 0 else ("trl", "hawkeye"):
            (ours if name == "hawkeye" else trl).append(side(name, a))
    report(ours, trl, a)


if __name__ == "__main__":
    main()
