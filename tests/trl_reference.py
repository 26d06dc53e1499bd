"""TRL 1.16's own `GRPOTrainer._compute_loss`, run on given tensors: the reference our loss must match.

The trainer object is a stand-in with only the attributes `_compute_loss` reads, and the model forward
(`_get_per_token_logps_and_entropies`) returns the log-probs we pass in, so gradients flow through
them to whatever produced them (a real policy, in the training-step oracle).
"""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

import torch


def trl_compute_loss(
    logps: torch.Tensor,
    old_logps: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    loss_type: str = "dapo",
    beta: float = 0.0,
    ref_logps: torch.Tensor | None = None,
    epsilon_low: float = 0.2,
    epsilon_high: float = 0.2,
    max_completion_length: int = 16,
    num_items_in_batch: float | None = None,
) -> tuple[torch.Tensor, dict[str, list[float]]]:
    """(TRL's loss, TRL's logged train metrics such as `clip_ratio/region_mean`)."""
    from trl import GRPOTrainer

    B, T = logps.shape
    metrics: dict[str, list[float]] = defaultdict(list)
    fake = SimpleNamespace(
        _get_per_token_logps_and_entropies=lambda *a, **k: (logps, torch.zeros(B, T), None),
        top_entropy_quantile=1.0, off_policy_mask_threshold=None, importance_sampling_level="token",
        beta=beta, loss_type=loss_type, epsilon_low=epsilon_low, epsilon_high=epsilon_high,
        args=SimpleNamespace(delta=None, use_bias_correction_kl=False, steps_per_generation=1),
        use_vllm=False, aux_loss_enabled=False, _entropy_bonus_enabled=False,
        model=SimpleNamespace(training=True), current_gradient_accumulation_steps=1,
        max_completion_length=max_completion_length, _metrics={"train": metrics},
        accelerator=SimpleNamespace(num_processes=1, gather=lambda t: t, reduce=lambda t, reduction: t),
    )
    inputs = {
        "prompt_ids": torch.zeros(B, 1, dtype=torch.long), "prompt_mask": torch.ones(B, 1),
        "completion_ids": torch.zeros(B, T, dtype=torch.long), "completion_mask": mask,
        "advantages": advantages, "old_per_token_logps": old_logps,
        "ref_per_token_logps": ref_logps if ref_logps is not None else torch.zeros(B, T),
        "num_items_in_batch": torch.as_tensor(float(mask.sum()) if num_items_in_batch is None else num_items_in_batch),
    }
    return GRPOTrainer._compute_loss(fake, None, inputs), metrics
