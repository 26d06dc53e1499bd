"""GRPO on Model A with frozen Model B in the reward loop, as a LightningModule (Algorithm 1).

One `training_step` is one step of Algorithm 1 for a mini-batch of N questions:

    line 4      c ~ π_θ(· | q), G samples per question          -> sample_cots
    line 5      â = ModelB(q, c, s)                             -> respond
    lines 6-7   R = EM(â, a) − λ·max(0, len(c) − α·len(c_orig))² -> rewards
    (GRPO)      A = (R − mean_group R) / std                    -> group_advantages
    line 8      θ ← θ − η ∇ L_clip(θ)  (+ β·KL to a reference)  -> policy_gradient_step

Lightning supplies the loop, precision, strategies and checkpoints. Optimisation is manual because
one step holds several micro-batches and, with μ = num_iterations > 1, several optimizer steps on
the same rollouts. Everything random in a step is seeded by `seed + step`, and the questions come
from `rows_for_step(step)`, so a resumed run reproduces an uninterrupted one.
"""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import torch

from hawkeye.collab import Responder
from hawkeye.generation.base import Generation, SamplingParams
from hawkeye.prompts import reasoning_messages, render
from hawkeye.reward.reward import Reward, compute_reward, cot_length
from hawkeye.training.advantages import group_advantages
from hawkeye.training.loss import grpo_loss


class GRPOModule(L.LightningModule):
    def __init__(
        self,
        cfg: Any,
        policy: torch.nn.Module,
        tokenizer: Any,
        responder: Responder | None,
        rows_for_step: Any,
        ref_policy: torch.nn.Module | None = None,
        rollout: Any = None,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.cfg = cfg
        self.g = cfg.grpo
        self.policy = policy
        self.tokenizer = tokenizer
        # Plain attributes, not submodules: B and the reference are frozen, never in the optimizer,
        # never in a checkpoint.
        self.frozen = {"responder": responder, "ref": ref_policy}
        self.rows_for_step = rows_for_step
        self.rollout = rollout  # None = HF generate on the live policy (built in on_fit_start)
        self.step_metrics: dict[str, float] = {}
        self.step_samples: list[dict[str, Any]] = []

    @property
    def responder(self) -> Responder | None:
        return self.frozen["responder"]

    def configure_optimizers(self) -> torch.optim.Optimizer:
        params = [p for p in self.policy.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=self.g.lr, weight_decay=self.g.weight_decay)

    def on_fit_start(self) -> None:
        if self.responder is not None:
            self.responder.to(self.device)
        if self.frozen["ref"] is not None:
            self.frozen["ref"].to(self.device)
        if self.rollout is None:
            from hawkeye.generation.hf import HFBackend

            self.rollout = HFBackend(self.policy, self.tokenizer, batch_size=int(self.cfg.rollout.batch_size))
        elif hasattr(self.rollout, "push_weights"):
            self.rollout.push_weights(self.policy)  # a resumed policy differs from the folder vLLM loaded

    # ---- Algorithm 1 ---------------------------------------------------------------------------

    def training_step(self, batch: Any, batch_idx: int) -> None:
        mu = int(self.g.num_iterations)
        step = self.global_step // mu
        t0 = time.perf_counter()
        rows = self.rows_for_step(step)
        G = int(self.g.group_size)
        seed = int(self.cfg.seed) + step

        # line 4: G CoTs per question from the current policy
        gens = self.sample_cots([r["question"] for r in rows], G, seed)
        rows_g = [r for r in rows for _ in range(G)]
        cots = [g.text for g in gens]
        cot_tokens = [cot_length(g) for g in gens]
        t_rollout = time.perf_counter() - t0

        # line 5: B reads (q, c, s) and answers; responder=none scores A's own text
        answers = self.respond([r["question"] for r in rows_g], cots, seed)

        # lines 6-7: R = EM(â, a) − λ·max(0, len(c) − α·len(c_orig))²
        scored = [
            compute_reward(ans, r["answer"], c, n, int(r["cot_orig_tokens"]), self.cfg.reward)
            for ans, r, c, n in zip(answers, rows_g, cots, cot_tokens, strict=True)
        ]
        rewards = torch.tensor([s.reward for s in scored], dtype=torch.float32, device=self.device)

        # group-relative advantages
        advantages, zero_std = group_advantages(rewards, G, self.g.scale_rewards)

        # line 8: clipped policy-gradient step(s) on these rollouts
        batch_t = self.pad_rollouts(gens)
        old_logps = None
        if mu > 1:  # π_old is the sampling policy, fixed across the μ passes
            with torch.no_grad():
                old_logps = self.token_logps(self.policy, batch_t)
        ref_logps = None
        if self.g.beta != 0.0:
            with torch.no_grad():
                ref_logps = self.token_logps(self.reference(), batch_t)
        for _ in range(mu):
            out = self.policy_gradient_step(batch_t, advantages, old_logps, ref_logps, rewards)
        if hasattr(self.rollout, "push_weights"):
            self.rollout.push_weights(self.policy)  # vLLM samples the next step from the new weights

        self.step_metrics = step_summary(step, scored, cot_tokens, rows_g, gens, advantages, zero_std, out)
        self.step_metrics.update(
            lr=float(self.optimizers().param_groups[0]["lr"]),
            rollout_time_s=t_rollout,
            step_time_s=time.perf_counter() - t0,
        )
        self.step_samples = [
            {"step": step, "question": r["question"], "gold": r["answer"], "cot": c, "cot_tokens": n,
             "answer": a, "em": s.em, "penalty": s.penalty, "reward": s.reward}
            for r, c, n, a, s in zip(rows_g, cots, cot_tokens, answers, scored, strict=True)
        ][: int(self.cfg.tracking.log_samples)]

    def sample_cots(self, questions: list[str], G: int, seed: int) -> list[Generation]:
        prompts = [render(self.tokenizer, reasoning_messages(q)) for q in questions for _ in range(G)]
        r = self.cfg.rollout
        params = SamplingParams(max_new_tokens=int(r.max_new_tokens), temperature=float(r.temperature),
                                top_p=float(r.top_p), seed=seed)
        return self.rollout.generate(prompts, params)

    def respond(self, questions: list[str], cots: list[str], seed: int) -> list[str]:
        if self.responder is None:
            return cots  # ablation: no B, A's completion is the answer
        return [g.text for g in self.responder.answer(questions, cots, seed=seed)]

    def policy_gradient_step(
        self,
        batch: dict[str, torch.Tensor],
        advantages: torch.Tensor,
        old_logps: torch.Tensor | None,
        ref_logps: torch.Tensor | None,
        rewards: torch.Tensor,
    ) -> dict[str, float]:
        """One optimizer step; micro-batches are summed with whole-batch normalisers (= one big batch)."""
        opt = self.optimizers()
        mask = batch["completion_mask"]
        n_seq, n_tok = mask.size(0), float(mask.sum())
        mb = int(self.cfg.trainer.micro_batch_size) or n_seq
        total_loss, clip, kl = 0.0, 0.0, 0.0
        for i in range(0, n_seq, mb):
            sl = slice(i, i + mb)
            part = {k: v[sl] for k, v in batch.items()}
            logps = self.token_logps(self.policy, part)
            out = grpo_loss(
                logps,
                logps.detach() if old_logps is None else old_logps[sl],
                advantages[sl],
                part["completion_mask"],
                loss_type=self.g.loss_type,
                epsilon_low=self.g.epsilon,
                epsilon_high=self.g.epsilon_high,
                max_completion_length=int(self.cfg.rollout.max_new_tokens),
                beta=float(self.g.beta),
                ref_logps=None if ref_logps is None else ref_logps[sl],
                num_sequences=n_seq,
                num_tokens=n_tok,
            )
            self.manual_backward(out.loss)
            share = float(part["completion_mask"].sum()) / max(n_tok, 1.0)
            total_loss += float(out.loss.detach())
            clip += out.clip_fraction * share
            kl += out.kl * share
        # read by NonFiniteGuard (on_before_optimizer_step): a NaN/Inf never reaches the weights
        self.step_metrics = {"loss": total_loss, "reward_mean": float(rewards.mean())}
        if self.cfg.trainer.gradient_clip_val:
            self.clip_gradients(opt, gradient_clip_val=float(self.cfg.trainer.gradient_clip_val),
                                gradient_clip_algorithm="norm")
        opt.step()
        opt.zero_grad(set_to_none=True)
        return {"loss": total_loss, "clip_fraction": clip, "kl": kl}

    # ---- tensors -------------------------------------------------------------------------------

    def pad_rollouts(self, gens: list[Generation]) -> dict[str, torch.Tensor]:
        """Prompts left-padded, completions (EOS included) right-padded, as one (B, P+T) batch."""
        pad = self.tokenizer.pad_token_id
        P = max(len(g.prompt_token_ids) for g in gens)
        T = max(1, max(len(g.token_ids) for g in gens))
        ids, attn, cmask = [], [], []
        for g in gens:
            p, c = g.prompt_token_ids, g.token_ids
            ids.append([pad] * (P - len(p)) + p + c + [pad] * (T - len(c)))
            attn.append([0] * (P - len(p)) + [1] * len(p) + [1] * len(c) + [0] * (T - len(c)))
            cmask.append([1] * len(c) + [0] * (T - len(c)))
        dev = self.device
        return {
            "input_ids": torch.tensor(ids, device=dev),
            "attention_mask": torch.tensor(attn, device=dev),
            "completion_mask": torch.tensor(cmask, device=dev, dtype=torch.float32),
        }

    def token_logps(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """log π(token) of each completion token, from logits scaled by the sampling temperature."""
        T = batch["completion_mask"].size(1)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                       logits_to_keep=T + 1).logits[:, :-1]
        temperature = float(self.cfg.rollout.temperature) or 1.0
        logps = torch.log_softmax(logits.float() / temperature, dim=-1)
        targets = batch["input_ids"][:, -T:]
        return logps.gather(-1, targets.unsqueeze(-1)).squeeze(-1)

    def reference(self) -> torch.nn.Module:
        if self.frozen["ref"] is None:
            raise RuntimeError("beta > 0 needs a reference model (built by hawkeye.training.fit)")
        return self.frozen["ref"]


def step_summary(
    step: int,
    scored: list[Reward],
    cot_tokens: list[int],
    rows: list[dict[str, Any]],
    gens: list[Generation],
    advantages: torch.Tensor,
    zero_std: torch.Tensor,
    out: dict[str, float],
) -> dict[str, float]:
    """The numbers of one step (the collapse curve and everything MLflow plots)."""
    r = torch.tensor([s.reward for s in scored])
    lens = torch.tensor(cot_tokens, dtype=torch.float32)
    orig = torch.tensor([float(x["cot_orig_tokens"]) for x in rows])
    return {
        "step": step,
        "reward_mean": float(r.mean()),
        "reward_std": float(r.std()) if r.numel() > 1 else 0.0,
        "em": sum(s.em for s in scored) / len(scored),
        "penalty": sum(s.penalty for s in scored) / len(scored),
        "leak_penalty": sum(s.leak for s in scored) / len(scored),
        "cot_tokens_mean": float(lens.mean()),
        "cot_tokens_min": float(lens.min()),
        "cot_tokens_max": float(lens.max()),
        "orig_tokens_mean": float(orig.mean()),
        "compression": float((1 - lens / orig).mean()),  # 1 − len(c)/len(c_orig)
        "empty_fraction": sum(1 for g in gens if not g.text.strip()) / len(gens),
        "truncated_fraction": sum(1 for g in gens if g.finish_reason == "length") / len(gens),
        "zero_std_fraction": float(zero_std.float().mean()),
        "advantage_abs_mean": float(advantages.abs().mean()),
        "clip_fraction": out["clip_fraction"],
        "kl": out["kl"],
        "loss": out["loss"],
    }
