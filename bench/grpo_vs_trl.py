"""Time one GRPO step of hawkeye's LightningModule vs TRL's GRPOTrainer, same model and shapes.

Both: the tiny random Qwen2 (`tiny:qwen2?seed=0`), G completions per question, the same completion
length, questions per step, loss (dapo), beta 0, fp32, HF generate, and the same reward
(EM of A's own text − λ·max(0, len − α·len_orig)², i.e. `responder=none`, so no Model B on either side).

    OMP_NUM_THREADS=1 python bench/grpo_vs_trl.py [--steps 4] [--group 4] [--questions 2] [--tokens 32]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{tempfile.mkdtemp()}/bench.db")

import torch  # noqa: E402

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

QUESTIONS = [f"Tom has {i} apples and buys {i + 3} more. How many apples does he have?" for i in range(64)]
ROWS = [{"id": str(i), "question": q, "answer": str(2 * i + 3), "cot_orig_tokens": 40} for i, q in enumerate(QUESTIONS)]
REWARD_CFG = {"answer_leak": "allow", "leak_penalty": 0.0}
LAM, ALPHA = 0.001, 0.3


def ours(model_dir: str, a: argparse.Namespace) -> list[float]:
    import lightning as L
    from hydra import compose, initialize_config_dir

    from hawkeye.models.load import load_causal_lm, load_tokenizer
    from hawkeye.paths import CONF_DIR
    from hawkeye.training.module import GRPOModule

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=[
            "experiment=smoke", "responder=none", "reward.answer_leak=allow", f"grpo.group_size={a.group}",
            f"grpo.questions_per_step={a.questions}", f"rollout.max_new_tokens={a.tokens}", "grpo.loss_type=dapo",
            f"rollout.batch_size={a.group * a.questions}", "lambda=0.001",
        ])
    policy, tok = load_causal_lm(model_dir), load_tokenizer(model_dir)
    policy.train()
    n = a.questions
    module = GRPOModule(cfg, policy, tok, None, lambda s: ROWS[s * n % 64 : s * n % 64 + n])
    times: list[float] = []

    class Timer(L.Callback):
        def on_train_batch_start(self, *args) -> None:  # noqa: ANN002
            self.t = time.perf_counter()

        def on_train_batch_end(self, *args) -> None:  # noqa: ANN002
            times.append(time.perf_counter() - self.t)

    trainer = L.Trainer(accelerator="cpu", max_steps=a.steps, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[Timer()])
    loader = torch.utils.data.DataLoader(list(range(a.steps)), batch_size=None)
    trainer.fit(module, train_dataloaders=loader)
    return times


def trl(model_dir: str, a: argparse.Namespace) -> list[float]:
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from hawkeye.models.load import load_causal_lm, load_tokenizer
    from hawkeye.prompts import reasoning_messages
    from hawkeye.reward.reward import compute_reward

    def reward(completions, answer, completion_ids, **_):  # noqa: ANN001, ANN003, ANN202
        texts = [c[0]["content"] if isinstance(c, list) else c for c in completions]
        return [compute_reward(t, g, t, len(ids), 40, REWARD_CFG, lam=LAM, alpha=ALPHA).reward
                for t, g, ids in zip(texts, answer, completion_ids, strict=True)]

    times: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, *args, **kw) -> None:  # noqa: ANN002, ANN003
            self.t = time.perf_counter()

        def on_step_end(self, *args, **kw) -> None:  # noqa: ANN002, ANN003
            times.append(time.perf_counter() - self.t)

    data = Dataset.from_list([{"prompt": reasoning_messages(r["question"]), "answer": r["answer"]} for r in ROWS])
    args = GRPOConfig(
        output_dir=tempfile.mkdtemp(), per_device_train_batch_size=a.group * a.questions, num_generations=a.group,
        max_completion_length=a.tokens, max_steps=a.steps, learning_rate=1e-3, beta=0.0, loss_type="dapo",
        scale_rewards="group", temperature=0.9, top_k=0, bf16=False, use_cpu=True, report_to=[], save_strategy="no",
        logging_steps=1, dataloader_num_workers=0, seed=0,
    )
    trainer = GRPOTrainer(model=load_causal_lm(model_dir), reward_funcs=reward, args=args, train_dataset=data,
                          processing_class=load_tokenizer(model_dir), callbacks=[Timer()])
    trainer.train()
    return times


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--group", type=int, default=4)
    p.add_argument("--questions", type=int, default=2)
    p.add_argument("--tokens", type=int, default=32)
    p.add_argument("--spec", default="tiny:qwen2?seed=0")
    a = p.parse_args()
    from hawkeye.models.load import resolve_model_path

    model_dir = resolve_model_path(a.spec, str(Path(tempfile.mkdtemp())))
    t_ours, t_trl = ours(model_dir, a), trl(model_dir, a)
    # the first step includes warm-up (allocations, lazy imports): report the median of the rest
    m_ours, m_trl = statistics.median(t_ours[1:] or t_ours), statistics.median(t_trl[1:] or t_trl)
    print(f"shape: {a.questions} questions x G={a.group}, {a.tokens} completion tokens, {a.steps} steps, "
          f"threads={torch.get_num_threads()}")
    print(f"hawkeye s/step: {m_ours:.3f}  (all: {', '.join(f'{t:.2f}' for t in t_ours)})")
    print(f"trl     s/step: {m_trl:.3f}  (all: {', '.join(f'{t:.2f}' for t in t_trl)})")
    print(f"ratio hawkeye/trl: {m_ours / m_trl:.2f}")


if __name__ == "__main__":
    sys.exit(main())
