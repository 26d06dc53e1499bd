"""The clipped policy-gradient loss of GRPO (Algorithm 1, line 8), with token-level aggregation.

Per completion token t of sequence i, with ratio r = π_θ / π_old:

    L_it = −min(r·A_i, clip(r, 1 − ε_low, 1 + ε_high)·A_i)  [+ β·KL_it]
    KL_it = exp(ref − logp) − (ref − logp) − 1               (the k3 estimator, ≥ 0)

and the token losses are aggregated per `loss_type` (as TRL 1.16's `GRPOTrainer._compute_loss`):

    grpo:    mean over each sequence's tokens, then mean over sequences
    dr_grpo: sum over all tokens / (sequences · max_completion_length)
    dapo:    sum over all tokens / number of tokens

`num_sequences`/`num_tokens` are the totals of the whole optimizer step, so that summing the losses
of several micro-batches gives exactly the loss (and gradient) of the full batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class LossOutput:
    loss: torch.Tensor        # scalar, differentiable
    clip_fraction: float      # share of tokens whose ratio was clipped (in the direction that matters)
    kl: float                 # mean per-token KL to the reference (0 when β = 0)


def grpo_loss(
    logps: torch.Tensor,             # (B, T) log π_θ of the sampled tokens
    old_logps: torch.Tensor,         # (B, T) log π_old (the policy that sampled them)
    advantages: torch.Tensor,        # (B,)
    mask: torch.Tensor,              # (B, T) 1 for completion tokens (EOS included), 0 for padding
    loss_type: str = "dapo",
    epsilon_low: float = 0.2,
    epsilon_high: float = 0.2,
    max_completion_length: int | None = None,
    beta: float = 0.0,
    ref_logps: torch.Tensor | None = None,
    num_sequences: int | None = None,
    num_tokens: float | None = None,
) -> LossOutput:
    mask = mask.to(logps.dtype)
    adv = advantages.unsqueeze(1)

    ratio = torch.exp(logps - old_logps)
    clipped_ratio = torch.clamp(ratio, 1 - epsilon_low, 1 + epsilon_high)
    per_token_loss = -torch.min(ratio * adv, clipped_ratio * adv)

    kl = torch.zeros_like(logps)
    if beta != 0.0:
        assert ref_logps is not None, "beta > 0 needs the reference log-probs"
        kl = torch.exp(ref_logps - logps) - (ref_logps - logps) - 1
        per_token_loss = per_token_loss + beta * kl

    num_sequences = num_sequences or logps.size(0)
    if loss_type == "grpo":
        loss = ((per_token_loss * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).sum() / num_sequences
    elif loss_type == "dr_grpo":
        max_len = max_completion_length or logps.size(1)
        loss = (per_token_loss * mask).sum() / (num_sequences * max_len)
    elif loss_type == "dapo":
        total = mask.sum() if num_tokens is None else torch.as_tensor(num_tokens, dtype=logps.dtype)
        loss = (per_token_loss * mask).sum() / total.clamp(min=1.0)
    else:
        raise ValueError(f"loss_type={loss_type!r} must be grpo, dr_grpo or dapo")

    with torch.no_grad():
        clipped = ((ratio < 1 - epsilon_low) & (adv < 0)) | ((ratio > 1 + epsilon_high) & (adv > 0))
        n = mask.sum().clamp(min=1.0)
        clip_fraction = float((clipped.to(mask.dtype) * mask).sum() / n)
        kl_mean = float((kl * mask).sum() / n)
    return LossOutput(loss=loss, clip_fraction=clip_fraction, kl=kl_mean)
