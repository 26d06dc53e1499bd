"""An oracle test of one whole `GRPOModule.training_step`, under a real Lightning Trainer.

The tiny policy's outputs vary and some end on EOS; there are more questions (4) than samples per
question (G=3); a scripted Model B answers some samples right, so the groups have different mean
rewards; it records what it was given. Everything the step computes is recomputed here from what it
sampled, with the formulas written out:

- what B read: the question and `what_b_reads(c, answer_leak)`, in the order of the samples;
- R = EM − λ·max(0, len(c) − α·len(c_orig))², with the row's own len(c_orig) and len(c) = the
  sampled token ids without EOS;
- A = (R − mean of its group) / (unbiased std of its group + 1e-4);
- the token log-probs, from an unpadded forward pass of the policy at the sampling temperature;
- the loss and the gradient of every policy weight: TRL 1.16's `_compute_loss` fed the module's own
  log-probs, then the step's gradient-norm clipping;
- with μ = num_iterations = 2 (and micro-batches): the second pass's ratios against the first
  pass's log-probs clip some tokens, and the clip fraction equals TRL's `clip_ratio/region_mean`.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

import hawkeye.training.module as module_mod
from conftest import compose_config
from hawkeye.config import validate
from hawkeye.generation.base import Generation, SamplingParams
from hawkeye.generation.hf import HFBackend
from hawkeye.models.load import load_model_and_tokenizer
from hawkeye.responder.model import Responder
from hawkeye.responder.reads import what_b_reads
from hawkeye.training.module import GRPOModule
from trl_reference import trl_compute_loss

N, G = 4, 3
LAM, ALPHA = 0.01, 0.3
ROWS = [  # different len(c_orig) per row: a step that reads the wrong row's (or c's own) length is caught
    {"id": "q0", "question": "Tom has 3 apples and buys 4 more. How many?", "answer": "7", "cot_orig_tokens": 10},
    {"id": "q1", "question": "A book costs 12 dollars. How much do 2 books cost?", "answer": "24", "cot_orig_tokens": 30},
    {"id": "q2", "question": "Sam had 9 pens and gave away 5. How many are left?", "answer": "4", "cot_orig_tokens": 6},
    {"id": "q3", "question": "Each box holds 6 eggs. How many eggs are in 3 boxes?", "answer": "18", "cot_orig_tokens": 20},
]
# Which samples B answers correctly, group by group: group means 1/3, 2/3, 0, 1 before the penalty.
B_RIGHT = [1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1]


class RecordingRollout:
    """The HF backend on the live policy, keeping every generation it returns."""

    def __init__(self, backend: HFBackend) -> None:
        self.backend, self.tokenizer, self.gens = backend, backend.tokenizer, []

    def generate(self, prompts: list[str], params: SamplingParams) -> list[Generation]:
        gens = self.backend.generate(prompts, params)
        self.gens.append(gens)
        return gens

    def close(self) -> None:
        pass


class ScriptedB:
    """Model B's backend: records its prompts; answers sample j right iff B_RIGHT[j]."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer, self.prompts = tokenizer, []

    def generate(self, prompts: list[str], params: SamplingParams) -> list[Generation]:
        self.prompts += prompts
        golds = [r["answer"] for r in ROWS for _ in range(G)]
        return [Generation(text=f"So the answer is \\boxed{{{gold if right else '-1'}}}.", token_ids=[1, 2])
                for gold, right in zip(golds, B_RIGHT, strict=True)]

    def close(self) -> None:
        pass


class GradRecorder(L.Callback):
    """The gradients the optimizer is about to apply (after the step's own clipping)."""

    def __init__(self) -> None:
        self.grads: list[dict[str, torch.Tensor]] = []

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: Any, optimizer: Any) -> None:
        self.grads.append({n: p.grad.detach().clone() for n, p in pl_module.policy.named_parameters()})


def oracle_rewards(gens: list[Generation], eos: int) -> tuple[torch.Tensor, list[int]]:
    lengths = [sum(t != eos for t in g.token_ids) for g in gens]  # len(c): EOS is not part of c
    rewards = []
    for j, n in enumerate(lengths):
        orig = ROWS[j // G]["cot_orig_tokens"]
        rewards.append(B_RIGHT[j] - LAM * max(0.0, n - ALPHA * orig) ** 2)
    return torch.tensor(rewards), lengths


def oracle_advantages(rewards: torch.Tensor) -> torch.Tensor:
    out = []
    for g in range(N):
        r = rewards[g * G : (g + 1) * G].tolist()
        mean = sum(r) / G
        std = math.sqrt(sum((x - mean) ** 2 for x in r) / (G - 1))
        out += [(x - mean) / (std + 1e-4) for x in r]
    return torch.tensor(out)


def oracle_logps(policy: torch.nn.Module, gens: list[Generation], temperature: float) -> list[torch.Tensor]:
    """log π(token) of each sampled token, one unpadded sequence at a time."""
    out = []
    with torch.no_grad():
        for g in gens:
            ids = torch.tensor([g.prompt_token_ids + g.token_ids])
            logits = policy(input_ids=ids).logits[0, len(g.prompt_token_ids) - 1 : -1]
            lp = torch.log_softmax(logits / temperature, dim=-1)
            out.append(lp.gather(-1, torch.tensor(g.token_ids).unsqueeze(-1)).squeeze(-1))
    return out


def run_step(cfg: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """One training_step under a Lightning Trainer; returns what the test needs to check it."""
    policy, tok, _ = load_model_and_tokenizer(cfg.policy, cfg.paths.models_dir)
    policy.config.use_cache = False
    policy.train()
    rollout = RecordingRollout(HFBackend(policy, tok, batch_size=16))
    b_backend = ScriptedB(tok)
    responder = Responder(backend=b_backend, params=SamplingParams(max_new_tokens=8), answer_leak="mask")
    module = GRPOModule(cfg, policy, tok, responder, rows_for_step=lambda step: ROWS, rollout=rollout)
    eos = tok.eos_token_id
    temperature = float(cfg.rollout.temperature)
    mu = int(cfg.grpo.num_iterations)
    clip_val = float(cfg.trainer.gradient_clip_val)
    params = dict(policy.named_parameters())
    rec: dict[str, Any] = {"calls": [], "eos": eos, "module": module, "rollout": rollout, "b": b_backend, "tok": tok}
    real_loss = module_mod.grpo_loss

    def checked_loss(logps, old_logps, advantages, mask, **kw):  # noqa: ANN001, ANN003, ANN202
        """The module's loss call, and TRL's loss and gradients on the same log-probs beside it."""
        out = real_loss(logps, old_logps, advantages, mask, **kw)
        gens = rollout.gens[-1]
        rewards, lengths = oracle_rewards(gens, eos)
        adv = oracle_advantages(rewards)
        n_calls_per_pass = len(gens) // (int(cfg.trainer.micro_batch_size) or len(gens))
        k = len(rec["calls"])
        pass_idx, mb = divmod(k, n_calls_per_pass)
        rows = slice(mb * logps.size(0), (mb + 1) * logps.size(0))
        T = logps.size(1)
        full_mask = torch.tensor([[1.0] * len(g.token_ids) + [0.0] * (T - len(g.token_ids)) for g in gens])
        ref = oracle_logps(policy, gens[rows], temperature)
        # π_old: the policy that sampled, i.e. the first pass's log-probs (on-policy: a detached copy)
        old = None if pass_idx == 0 else torch.cat([c["logps"] for c in rec["calls"][:n_calls_per_pass]])[rows]
        trl_loss, trl_metrics = trl_compute_loss(
            logps, old, adv[rows], full_mask[rows], loss_type=cfg.grpo.loss_type,
            epsilon_low=float(cfg.grpo.epsilon), epsilon_high=float(cfg.grpo.epsilon_high),
            max_completion_length=int(cfg.rollout.max_new_tokens), num_items_in_batch=float(full_mask.sum()))
        names = [n for n, p in params.items() if p.requires_grad]
        trl_grads = torch.autograd.grad(trl_loss, [params[n] for n in names], retain_graph=True, allow_unused=True)
        rec["calls"].append({
            "pass": pass_idx, "rows": rows, "logps": logps.detach().clone(), "mask": mask.clone(),
            "advantages": advantages.clone(), "oracle_advantages": adv[rows], "oracle_logps": ref,
            "rewards": rewards, "lengths": lengths, "loss": float(out.loss.detach()), "trl_loss": float(trl_loss),
            "clip_fraction": out.clip_fraction, "trl_clip": trl_metrics["clip_ratio/region_mean"][-1],
            "tokens": float(full_mask[rows].sum()), "total_tokens": float(full_mask.sum()),
            "trl_grads": {n: torch.zeros_like(params[n]) if g is None else g for n, g in zip(names, trl_grads, strict=True)},
        })
        return out

    monkeypatch.setattr(module_mod, "grpo_loss", checked_loss)
    grads = GradRecorder()
    trainer = L.Trainer(accelerator="cpu", max_steps=mu, max_epochs=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[grads],
                        num_sanity_val_steps=0)
    trainer.fit(module, train_dataloaders=DataLoader([ROWS], batch_size=None))
    rec.update(grads=grads.grads, mu=mu, clip_val=clip_val, temperature=temperature)
    return rec


def _cfg(smoke_overrides: list[str], extra: list[str]) -> Any:
    return validate(compose_config([
        *smoke_overrides, f"grpo.group_size={G}", f"grpo.questions_per_step={N}", f"lambda={LAM}", f"alpha={ALPHA}",
        "reward.answer_leak=mask", "tracking.log_samples=1000", "rollout.max_new_tokens=16", "rollout.temperature=0.9",
        *extra,
    ]))


def check_step(rec: dict[str, Any]) -> None:
    module, gens, eos = rec["module"], rec["rollout"].gens[0], rec["eos"]
    assert len(rec["rollout"].gens) == 1 and len(gens) == N * G  # one rollout per step, reused by every pass
    # The step had something to learn from: varied lengths, some ending on EOS, groups with different means.
    assert any(g.token_ids[-1] == eos for g in gens) and any(g.finish_reason == "length" for g in gens)
    rewards, lengths = oracle_rewards(gens, eos)
    assert len(set(lengths)) > 2
    means = rewards.view(N, G).mean(dim=1)
    assert len({round(float(m), 6) for m in means}) == N

    # B was given each sample's question and the CoT as `what_b_reads` shows it, in sample order.
    prompts = rec["b"].prompts
    assert len(prompts) == N * G
    for j, (prompt, g) in enumerate(zip(prompts, gens, strict=True)):
        assert ROWS[j // G]["question"] in prompt
        assert f"Reasoning: {what_b_reads(g.text, 'mask')}\n\n" in prompt

    # Rewards and lengths: the logged samples against the formula.
    samples = module.step_samples
    assert [s["cot_tokens"] for s in samples] == lengths
    assert [s["em"] for s in samples] == [float(x) for x in B_RIGHT]
    assert torch.allclose(torch.tensor([s["reward"] for s in samples]), rewards, atol=1e-6)
    assert module.step_metrics["reward_mean"] == pytest.approx(float(rewards.mean()), abs=1e-6)

    calls = rec["calls"]
    per_pass = len(calls) // rec["mu"]
    for c in calls:
        # advantages: the per-group formula
        assert torch.allclose(c["advantages"], c["oracle_advantages"], atol=1e-5), (c["advantages"], c["oracle_advantages"])
        # log-probs: an unpadded forward pass at the sampling temperature; the loss mask covers c and its EOS
        for i, ref in enumerate(c["oracle_logps"]):
            n = ref.numel()
            assert torch.allclose(c["logps"][i, :n], ref, atol=1e-4)
            assert c["mask"][i].tolist() == [1.0] * n + [0.0] * (c["mask"].size(1) - n)
        # loss: TRL's on the same log-probs
        assert c["loss"] == pytest.approx(c["trl_loss"], abs=1e-6)
        assert c["clip_fraction"] == pytest.approx(c["trl_clip"], abs=1e-6)
    assert module.step_metrics["advantage_abs_mean"] == pytest.approx(
        float(oracle_advantages(rewards).abs().mean()), abs=1e-5)

    # gradients: TRL's, summed over the micro-batches of a pass, clipped to the same total norm
    assert len(rec["grads"]) == rec["mu"]
    for p, got in enumerate(rec["grads"]):
        pass_calls = calls[p * per_pass : (p + 1) * per_pass]
        want = {n: sum(c["trl_grads"][n] for c in pass_calls) for n in got}
        if rec["clip_val"]:
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in want.values()]))
            scale = min(1.0, rec["clip_val"] / (float(norm) + 1e-6))
            want = {n: g * scale for n, g in want.items()}
        assert any(float(g.abs().max()) > 0 for g in got.values())
        for n, g in got.items():
            torch.testing.assert_close(g, want[n], rtol=1e-4, atol=1e-7, msg=lambda m, n=n: f"{n}: {m}")


def test_one_training_step_matches_the_oracle(smoke_overrides: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    rec = run_step(_cfg(smoke_overrides, []), monkeypatch)
    check_step(rec)
    assert all(c["clip_fraction"] == 0.0 for c in rec["calls"])  # on-policy: the ratio is 1


def test_two_iterations_clip_like_trl(smoke_overrides: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # μ = 2 on the same rollouts, three micro-batches of 4; a large lr moves π far enough to clip
    rec = run_step(_cfg(smoke_overrides, ["grpo.num_iterations=2", "grpo.lr=0.05", "trainer.micro_batch_size=4"]),
                   monkeypatch)
    check_step(rec)
    first, second = [c for c in rec["calls"] if c["pass"] == 0], [c for c in rec["calls"] if c["pass"] == 1]
    assert len(first) == len(second) == 3
    assert all(c["clip_fraction"] == 0.0 for c in first)
    clip = sum(c["clip_fraction"] * c["tokens"] / c["total_tokens"] for c in second)
    trl_clip = sum(c["trl_clip"] * c["tokens"] / c["total_tokens"] for c in second)
    assert clip > 0 and clip == pytest.approx(trl_clip, abs=1e-6)
    assert rec["module"].step_metrics["clip_fraction"] == pytest.approx(clip, abs=1e-6)
