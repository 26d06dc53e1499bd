"""Group-relative advantages (GRPO): each CoT is scored against the other CoTs of its question.

    A_i = (R_i − mean(R_group)) / (std + 1e-4)      scale_rewards=group (std of the group)
                                                     scale_rewards=batch (std of the whole batch)
    A_i =  R_i − mean(R_group)                       scale_rewards=none  (Dr. GRPO)

The std is the unbiased one and the 1e-4 guard matches TRL 1.16 (`GRPOTrainer._generate_and_score_completions`).
"""

from __future__ import annotations

import torch


def group_advantages(rewards: torch.Tensor, group_size: int, scale_rewards: str = "group") -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages for rewards laid out group by group ([q0 x G, q1 x G, ...]), and a per-sample
    flag for groups whose rewards are all equal (zero std: no learning signal from that group)."""
    grouped = rewards.view(-1, group_size)
    mean = grouped.mean(dim=1).repeat_interleave(group_size)
    group_std = grouped.std(dim=1).repeat_interleave(group_size)
    if scale_rewards == "batch":
        std = rewards.std().expand_as(rewards) if rewards.numel() > 1 else torch.zeros_like(rewards)
    elif scale_rewards in ("group", "none"):
        std = group_std
    else:
        raise ValueError(f"scale_rewards={scale_rewards!r} must be group, batch or none")
    advantages = rewards - mean
    if scale_rewards != "none":
        advantages = advantages / (std + 1e-4)
    zero_std = torch.isclose(std, torch.zeros_like(std))
    return advantages, zero_std
