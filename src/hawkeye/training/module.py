"""GRPO on Model A with frozen Model B in the reward loop, as a LightningModule (Algorithm 1).

One `training_step` is one step of Algorithm 1 for a mini-batch of N questions:

    line 4      c ~ π_θ(· | q), G samples per question          -> sample_cots
    line 5      â = ModelB(q, c, s)                             -> respond
    lines 6-7   R = EM(â, a) − λ·max(0, len(c) − α·len(c_orig))² -> score, `Rollouts.reward`
    (GRPO)      A = (R − mean_group R) / std                    -> group_advantages
    line 8      θ ← θ − η ∇ L_clip(θ)  (+ β·KL to a reference)  -> update_policy (μ × policy_gradient_step)

The step's numbers are `Rollouts`, a named tensor per quantity (one value per rollout); only
`reward` feeds the update, the rest are diagnostics, summarised once per step (`step_summary`).

Lightning supplies the loop, precision, strategies and checkpoints. Optimisation is manual because
one step holds several micro-batches and, with μ = num_iterations > 1, several optimizer steps on
the same rollouts. Everything random in a step is seeded by `step_seed(seed, step, rank)`, and the
questions come from `rows_for_step(step)`, so a resumed run reproduces an uninterrupted one.

Under DDP/FSDP each rank samples its own share of the step's questions with its own seed. The
per-sample rewards are gathered from all ranks before the advantages (so `scale_rewards=batch` sees
the whole batch) and the step's metrics, so every rank holds the same numbers and rank 0 logs them.
The token normaliser of the loss is the mean token count over ranks, so the gradient DDP averages
equals the gradient of the whole batch in one process.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import lightning as L
import torch

from hawkeye.collapse import collapsed_on
from hawkeye.cot import cot_length, cot_stop_token_ids
from hawkeye.data.schema import CRITICAL_TOKENS
from hawkeye.errors import HawkeyeError
from hawkeye.generation.base import Generation, SamplingParams
from hawkeye.prompts import reasoning_messages, render
from hawkeye.responder.model import Responder
from hawkeye.reward.reward import Reward, compute_reward
from hawkeye.seeding import step_seed
from hawkeye.training.advantages import group_advantages
from hawkeye.training.data import rank_share
from hawkeye.training.loss import grpo_loss


class NonFiniteError(HawkeyeError, FloatingPointError):
    """A NaN/Inf loss or reward: the run stops before the bad update reaches the weights."""


def stop_if_non_finite(step: int, name: str, value: float) -> None:
    """Raise `NonFiniteError` naming the step when `value` is NaN/Inf. Callers pass a value that every
    rank holds alike, so that every rank stops together (one rank alone would hang the others)."""
    if not math.isfinite(value):
        raise NonFiniteError(f"step {step}: non-finite {name}={value}; stopped before the update "
                             f"(the last checkpoint is the last good state)")


class Rollouts(NamedTuple):
    """A step's numbers per rollout: each field one float32 value per rollout, in sample order (rank
    order once gathered). `reward` is what the update learns from; the rest are diagnostics."""

    reward: torch.Tensor           # R of lines 6-7
    em: torch.Tensor               # EM(â, a) the reward used
    penalty: torch.Tensor          # the length penalty
    leak: torch.Tensor             # the answer-leak penalty
    cot_tokens: torch.Tensor       # len(c)
    orig_tokens: torch.Tensor      # len(c_orig)
    critical_tokens: torch.Tensor  # NaN without ground truth
    empty: torch.Tensor            # 1 where A wrote nothing
    truncated: torch.Tensor        # 1 where A hit the token cap
    collapsed: torch.Tensor        # 1 where the rollout collapsed on its question (NaN: not judged)

    @classmethod
    def of(cls, scored: list[Reward], cot_tokens: list[int], rows: list[dict[str, Any]], gens: list[Generation],
           rule: Any, device: Any = None) -> Rollouts:
        values = [rollout_values(s, n, r, g, rule) for s, n, r, g in zip(scored, cot_tokens, rows, gens, strict=True)]
        # One (rollouts, fields) table whose columns are the fields: a single tensor to gather over ranks.
        table = torch.tensor([[v[f] for f in cls._fields] for v in values], dtype=torch.float32, device=device)
        return cls(*table.unbind(1))


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
        rollout_factory: Callable[[], Any] | None = None,
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
        # Builds the colocated vLLM engine in on_fit_start: after DDP/FSDP has set up the process
        # group, whose ranks the engine's external launcher then follows (one engine per rank).
        self.rollout_factory = rollout_factory
        self.step_metrics: dict[str, float] = {}
        self.step_samples: list[dict[str, Any]] = []

    @property
    def responder(self) -> Responder | None:
        return self.frozen["responder"]

    def configure_optimizers(self) -> torch.optim.Optimizer:
        params = [p for p in self.policy.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=self.g.lr, weight_decay=self.g.weight_decay)

    def configure_model(self) -> None:
        """Under `trainer.strategy=fsdp` (FSDP2 through Lightning's ModelParallelStrategy): shard the
        policy's parameters, gradients and optimizer state over the ranks, one FSDP unit per decoder
        layer. The sharded parameters stay fp32 (the master weights); with bf16-mixed every forward
        and backward runs on bf16 copies and gradients are reduced in fp32."""
        from lightning.pytorch.strategies import ModelParallelStrategy

        if not isinstance(self.trainer.strategy, ModelParallelStrategy) or hasattr(self.policy, "reshard"):
            return
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        mesh = self.device_mesh["data_parallel"]
        bf16 = str(self.trainer.precision).startswith("bf16")
        mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16 if bf16 else None, reduce_dtype=torch.float32)
        layer_classes = set(getattr(self.policy, "_no_split_modules", None) or ())
        for module in self.policy.modules():
            if type(module).__name__ in layer_classes:
                fully_shard(module, mesh=mesh, mp_policy=mp)
        fully_shard(self.policy, mesh=mesh, mp_policy=mp)

    def on_fit_start(self) -> None:
        if self.responder is not None:
            self.responder.to(self.device)
        if self.frozen["ref"] is not None:
            self.frozen["ref"].to(self.device)
        if self.rollout is None and self.rollout_factory is not None:
            self.rollout = self.rollout_factory()
        if self.rollout is None:
            from hawkeye.generation.hf import HFBackend

            self.rollout = HFBackend(self.policy, self.tokenizer, batch_size=int(self.cfg.rollout.batch_size),
                                     synced_gpus=hasattr(self.policy, "reshard"))  # FSDP2-sharded policy
        elif hasattr(self.rollout, "push_weights"):
            self.rollout.push_weights(self.policy)  # a resumed policy differs from the folder vLLM loaded

    # ---- ranks ---------------------------------------------------------------------------------

    @property
    def rank_and_world(self) -> tuple[int, int]:
        trainer = self._trainer
        return (0, 1) if trainer is None else (int(trainer.global_rank), int(trainer.world_size))

    def gather(self, local: Rollouts) -> Rollouts:
        """Every rank's rollouts, concatenated in rank order (all ranks have equal shares)."""
        if self.rank_and_world[1] == 1:
            return local
        table = torch.stack(local, dim=1)
        return Rollouts(*self.all_gather(table).reshape(-1, table.size(1)).unbind(1))

    def mean_over_ranks(self, value: torch.Tensor | float) -> float:
        t = torch.as_tensor(value, dtype=torch.float32, device=self.device)
        if self.rank_and_world[1] > 1:
            t = self.trainer.strategy.reduce(t, reduce_op="mean")
        return float(t)

    # ---- Algorithm 1 ---------------------------------------------------------------------------

    def training_step(self, batch: Any, batch_idx: int) -> None:
        mu = int(self.g.num_iterations)
        step = self.global_step // mu
        t0 = time.perf_counter()
        rank, world = self.rank_and_world
        rows = rank_share(self.rows_for_step(step), rank, world)
        G = int(self.g.group_size)
        seed = step_seed(int(self.cfg.seed), step, rank, world)

        # line 4: G CoTs per question from the current policy
        gens = self.sample_cots([r["question"] for r in rows], G, seed)
        rows_g = [r for r in rows for _ in range(G)]
        cots = [g.text for g in gens]
        cot_tokens = [cot_length(g) for g in gens]
        t_rollout = time.perf_counter() - t0

        # line 5: B reads (q, c, s) and answers; responder=none scores A's own text
        answers = self.respond([r["question"] for r in rows_g], cots, seed)

        # lines 6-7: R = EM(â, a) − λ·max(0, len(c) − α·len(c_orig))², then every rank's rollouts
        scored = self.score(answers, rows_g, cots, cot_tokens)
        rollouts = self.gather(Rollouts.of(scored, cot_tokens, rows_g, gens, self.cfg.collapse, self.device))
        stop_if_non_finite(step, "reward_mean", float(rollouts.reward.mean()))  # gathered: alike on every rank

        # group-relative advantages, over the whole batch of all ranks (groups never span ranks)
        advantages_all, zero_std = group_advantages(rollouts.reward, G, self.g.scale_rewards)
        advantages = advantages_all[rank * len(gens) : (rank + 1) * len(gens)]

        # line 8: clipped policy-gradient step(s) on these rollouts
        update = self.update_policy(gens, advantages, step)

        times = {"rollout_time_s": t_rollout, "step_time_s": time.perf_counter() - t0}
        self.step_metrics = step_summary(step, rollouts, advantages_all, zero_std, update,
                                         float(self.optimizers().param_groups[0]["lr"]), times)
        self.step_samples = sample_rows(step, rows_g, cots, cot_tokens, answers, scored)[: int(self.cfg.tracking.log_samples)]

    def sample_cots(self, questions: list[str], G: int, seed: int) -> list[Generation]:
        prompts = [render(self.tokenizer, reasoning_messages(q)) for q in questions for _ in range(G)]
        r = self.cfg.rollout
        params = SamplingParams(max_new_tokens=int(r.max_new_tokens), temperature=float(r.temperature),
                                top_p=float(r.top_p), seed=seed,
                                stop_token_ids=cot_stop_token_ids(self.cfg.policy, self.tokenizer))
        return self.rollout.generate(prompts, params)

    def respond(self, questions: list[str], cots: list[str], seed: int) -> list[str]:
        if self.responder is None:
            return cots  # ablation: no B, A's completion is the answer
        return [g.text for g in self.responder.answer(questions, cots, seed=seed)]

    def score(self, answers: list[str], rows: list[dict[str, Any]], cots: list[str], cot_tokens: list[int]) -> list[Reward]:
        lam, alpha = float(self.cfg["lambda"]), float(self.cfg.alpha)
        return [
            compute_reward(ans, r["answer"], c, n, int(r["cot_orig_tokens"]), self.cfg.reward,
                           lam=lam, alpha=alpha)
            for ans, r, c, n in zip(answers, rows, cots, cot_tokens, strict=True)
        ]

    def update_policy(self, gens: list[Generation], advantages: torch.Tensor, step: int) -> dict[str, float]:
        """μ = num_iterations optimizer steps on this step's rollouts, against π_old (the policy that
        sampled them) and, with β > 0, the frozen reference; then the rollout engine takes the new
        weights. Returns the last pass's loss, clip fraction and KL, as means over ranks."""
        mu = int(self.g.num_iterations)
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
            out = self.policy_gradient_step(batch_t, advantages, old_logps, ref_logps, step)
        if hasattr(self.rollout, "push_weights"):
            self.rollout.push_weights(self.policy)  # vLLM samples the next step from the new weights
        return {k: self.mean_over_ranks(v) for k, v in out.items()}

    def policy_gradient_step(
        self,
        batch: dict[str, torch.Tensor],
        advantages: torch.Tensor,
        old_logps: torch.Tensor | None,
        ref_logps: torch.Tensor | None,
        step: int,
    ) -> dict[str, float]:
        """One optimizer step; micro-batches are summed with whole-batch normalisers (= one big batch)."""
        opt = self.optimizers()
        mask = batch["completion_mask"]
        # The mean token count over ranks: DDP/FSDP average the ranks' gradients, which then equal
        # the gradient of the whole batch normalised by its token count (as TRL normalises).
        n_seq, n_tok = mask.size(0), self.mean_over_ranks(mask.sum())
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
        if self.cfg.trainer.gradient_clip_val:
            self.clip_gradients(opt, gradient_clip_val=float(self.cfg.trainer.gradient_clip_val),
                                gradient_clip_algorithm="norm")
        stop_if_non_finite(step, "loss", self.mean_over_ranks(total_loss))  # a NaN/Inf never reaches the weights
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


def rollout_values(scored: Reward, cot_tokens: int, row: dict[str, Any], gen: Generation, rule: Any) -> dict[str, float]:
    """One rollout's numbers, by `Rollouts` field. Collapse is judged on A's CoT with the EM the reward used
    (B's answer with B in the loop, A's own without): what training was paid for. Without ground truth
    the critical content and the collapse flag are NaN (`hawkeye.collapse`)."""
    return {"reward": scored.reward, "em": scored.em, "penalty": scored.penalty, "leak": scored.leak,
            "cot_tokens": float(cot_tokens), "orig_tokens": float(row["cot_orig_tokens"]),
            "critical_tokens": float(row.get(CRITICAL_TOKENS, math.nan)), "empty": float(not gen.text.strip()),
            "truncated": float(gen.finish_reason == "length"),
            "collapsed": collapsed_on(gen.text, row, bool(scored.em), rule)}


def step_summary(
    step: int,
    rollouts: Rollouts,
    advantages: torch.Tensor,
    zero_std: torch.Tensor,
    update: dict[str, float],
    lr: float,
    times: dict[str, float],
) -> dict[str, float]:
    """The numbers of one step (the collapse curve and everything MLflow plots), over the rollouts of
    every rank; `update` is `update_policy`'s, `times` the wall times (MLflow only, never in files)."""
    col = {name: values.float().cpu() for name, values in rollouts._asdict().items()}
    r, lens, orig = col["reward"], col["cot_tokens"], col["orig_tokens"]
    return {
        "step": step,
        "reward_mean": float(r.mean()),
        "reward_std": float(r.std()) if r.numel() > 1 else 0.0,
        "em": float(col["em"].mean()),
        "penalty": float(col["penalty"].mean()),
        "leak_penalty": float(col["leak"].mean()),
        "cot_tokens_mean": float(lens.mean()),
        "cot_tokens_min": float(lens.min()),
        "cot_tokens_max": float(lens.max()),
        "orig_tokens_mean": float(orig.mean()),
        "critical_tokens_mean": float(col["critical_tokens"].mean()),  # NaN without ground truth
        # hawkeye.collapse: the step's share of rollouts collapsed on their question (NaN: not judged)
        "collapsed_share": float(col["collapsed"].mean()),
        "rollouts": float(r.numel()),  # n of the collapse verdict's k rule
        "compression": float((1 - lens / orig).mean()),  # 1 − len(c)/len(c_orig)
        "empty_fraction": float(col["empty"].mean()),
        "truncated_fraction": float(col["truncated"].mean()),
        "zero_std_fraction": float(zero_std.float().mean()),
        "advantage_abs_mean": float(advantages.abs().mean()),
        "clip_fraction": update["clip_fraction"],
        "kl": update["kl"],
        "loss": update["loss"],
        "lr": lr,
        **times,
    }


def sample_rows(step: int, rows: list[dict[str, Any]], cots: list[str], cot_tokens: list[int], answers: list[str],
                scored: list[Reward]) -> list[dict[str, Any]]:
    """This rank's rollouts as readable examples (rank 0's are the ones logged)."""
    return [
        {"step": step, "question": r["question"], "gold": r["answer"], "cot": c, "cot_tokens": n,
         "answer": a, "em": s.em, "penalty": s.penalty, "reward": s.reward}
        for r, c, n, a, s in zip(rows, cots, cot_tokens, answers, scored, strict=True)
    ]
