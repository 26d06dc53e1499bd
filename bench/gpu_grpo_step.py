"""A few GRPO steps of hawkeye's module on a Qwen2-0.5B-shaped random model: step time and rollout tokens/s.

Runs WITHOUT hydra, mlflow, trl or vllm (the lent GPU machine has torch, lightning, transformers):
the config is a plain nested dict, the reward is a fake (no Model B, no answer checker), and the
rollouts use HF generate on the live policy, exactly as `rollout=hf` training does.

    python bench/gpu_grpo_step.py                 # CUDA, bf16, Qwen2-0.5B shape (hidden 896, 24 layers)
    python bench/gpu_grpo_step.py --tiny          # CPU, fp32, a 2-layer toy (check the script first)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
import types
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
if importlib.util.find_spec("math_verify") is None:  # the fake reward never checks answers
    stub = types.ModuleType("math_verify")
    stub.parse = stub.verify = lambda *a, **k: None
    sys.modules["math_verify"] = stub


class Cfg(dict):
    """cfg.key and cfg["key"], like the OmegaConf node the module normally gets."""

    def __getattr__(self, key: str):  # noqa: ANN204
        value = self[key]
        return Cfg(value) if isinstance(value, dict) else value


def build(args: argparse.Namespace, device: str, dtype: torch.dtype):  # noqa: ANN201
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from hawkeye.models.tiny import ensure_tiny_model

    tok = AutoTokenizer.from_pretrained(ensure_tiny_model("tiny:qwen2?seed=0", tempfile.mkdtemp()))
    tok.padding_side = "left"
    shape = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                 num_key_value_heads=1, vocab_size=len(tok)) if args.tiny else dict(
        hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
        num_key_value_heads=2, vocab_size=151936)
    config = Qwen2Config(**shape, max_position_embeddings=4096, tie_word_embeddings=True,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    with torch.device(device):
        policy = Qwen2ForCausalLM(config).to(dtype)
    # Random weights never stop early: force full-length CoTs so the timing is the worst case.
    policy.generation_config.eos_token_id = tok.eos_token_id
    policy.config.use_cache = False
    n = sum(p.numel() for p in policy.parameters())
    print(f"policy: {n / 1e6:.1f}M params, {dtype}, {device}")
    return policy, tok


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tiny", action="store_true", help="CPU, fp32, 2-layer toy")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--group", type=int, default=8)
    p.add_argument("--questions", type=int, default=4)
    p.add_argument("--tokens", type=int, default=256)
    p.add_argument("--micro-batch", type=int, default=8)
    a = p.parse_args()
    if a.tiny:
        a.tokens = min(a.tokens, 32)
    device = "cpu" if a.tiny or not torch.cuda.is_available() else "cuda"
    dtype = torch.float32 if device == "cpu" else torch.bfloat16

    import lightning as L

    import hawkeye.training.module as module
    from hawkeye.reward.reward import Reward, length_penalty

    def fake_reward(answer, gold, cot, cot_tokens, orig_tokens, cfg, *, lam, alpha):  # noqa: ANN001, ANN202
        em = float(len(cot) % 3 == 0)  # varies within a group, so advantages are non-zero
        pen = length_penalty(cot_tokens, orig_tokens, lam, alpha)
        return Reward(em=em, penalty=pen, leak=0.0, reward=em - pen)

    module.compute_reward = fake_reward
    cfg = Cfg(
        seed=0,
        alpha=0.3,
        **{"lambda": 1e-4},
        grpo=dict(group_size=a.group, questions_per_step=a.questions, loss_type="dapo", scale_rewards="group",
                  epsilon=0.2, epsilon_high=0.2, beta=0.0, num_iterations=1, lr=1e-5, weight_decay=0.0),
        rollout=dict(temperature=0.9, top_p=1.0, max_new_tokens=a.tokens, batch_size=a.group * a.questions),
        reward=dict(answer_leak="allow", leak_penalty=0.0),
        trainer=dict(micro_batch_size=a.micro_batch, gradient_clip_val=1.0),
        tracking=dict(log_samples=2),
    )
    rows = [{"id": str(i), "question": f"Tom has {i} apples and buys {i + 3} more. How many apples?",
             "answer": str(2 * i + 3), "cot_orig_tokens": 300} for i in range(256)]
    policy, tok = build(a, device, dtype)
    n = a.questions
    grpo = module.GRPOModule(cfg, policy, tok, None, lambda s: rows[s * n : s * n + n])
    steps: list[dict] = []

    class Timer(L.Callback):
        def on_train_batch_start(self, *args) -> None:  # noqa: ANN002
            if device == "cuda":
                torch.cuda.synchronize()
            self.t = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, *args) -> None:  # noqa: ANN001, ANN002
            if device == "cuda":
                torch.cuda.synchronize()
            m = pl_module.step_metrics
            tokens = m["cot_tokens_mean"] * a.group * a.questions
            steps.append({"step": int(m["step"]), "step_s": time.perf_counter() - self.t,
                          "rollout_s": m["rollout_time_s"], "rollout_tok_per_s": tokens / m["rollout_time_s"],
                          "loss": m["loss"], "reward": m["reward_mean"], "cot_tokens": m["cot_tokens_mean"]})
            print(json.dumps(steps[-1]), flush=True)

    trainer = L.Trainer(accelerator="gpu" if device == "cuda" else "cpu", devices=1,
                        precision="bf16-true" if device == "cuda" else "32-true", max_steps=a.steps, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[Timer()])
    trainer.fit(grpo, train_dataloaders=torch.utils.data.DataLoader(list(range(a.steps)), batch_size=None))
    rest = steps[1:] or steps
    summary = {
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "shape": f"{a.questions} questions x G={a.group}, {a.tokens} max new tokens, micro-batch {a.micro_batch}",
        "step_s_median_after_warmup": sorted(s["step_s"] for s in rest)[len(rest) // 2],
        "rollout_tok_per_s_median": sorted(s["rollout_tok_per_s"] for s in rest)[len(rest) // 2],
        "max_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None,
    }
    print("SUMMARY " + json.dumps(summary))


if __name__ == "__main__":
    main()
