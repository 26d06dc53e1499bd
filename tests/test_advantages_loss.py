"""Group-relative advantages, and the clipped GRPO loss against TRL 1.16's own `_compute_loss`."""

from __future__ import annotations

import pytest
import torch

from hawkeye.training.advantages import group_advantages
from hawkeye.training.loss import grpo_loss
from trl_reference import trl_compute_loss


def test_group_advantages_hand_computed() -> None:
    # Three groups of G=3 with different means (1/3, 0.5, 0.75) and one zero-spread group: a
    # batch-wide mean or std would give other numbers.
    rewards = torch.tensor([1.0, 0.0, 0.0, 0.5, 0.5, 0.5, 1.0, 0.5, 0.75])
    adv, zero = group_advantages(rewards, group_size=3, scale_rewards="group")
    s0 = (((2 / 3) ** 2 + 2 * (1 / 3) ** 2) / 2) ** 0.5  # unbiased std of {1, 0, 0}
    s2 = ((0.25**2 + 0.25**2 + 0.0) / 2) ** 0.5          # unbiased std of {1, 0.5, 0.75}
    expected = [2 / 3 / (s0 + 1e-4), -1 / 3 / (s0 + 1e-4), -1 / 3 / (s0 + 1e-4), 0.0, 0.0, 0.0,
                0.25 / (s2 + 1e-4), -0.25 / (s2 + 1e-4), 0.0]
    assert torch.allclose(adv, torch.tensor(expected), atol=1e-6)
    assert zero.tolist() == [False] * 3 + [True] * 3 + [False] * 3

    adv_none, _ = group_advantages(rewards, 3, "none")
    assert torch.allclose(adv_none, torch.tensor([2 / 3, -1 / 3, -1 / 3, 0, 0, 0, 0.25, -0.25, 0]), atol=1e-6)

    adv_batch, zero_b = group_advantages(rewards, 3, "batch")  # group means, the batch's std
    assert torch.allclose(adv_batch, adv_none / (rewards.std() + 1e-4), atol=1e-6)
    assert not zero_b.any()


def _inputs(seed: int = 0, B: int = 6, T: int = 5) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(B, T)
    for i in range(B):
        mask[i, 1 + i % T :] = 0  # sequences of different lengths
    return {
        "logps": -torch.rand(B, T, generator=g) * 3,
        "old": -torch.rand(B, T, generator=g) * 3,
        "ref": -torch.rand(B, T, generator=g) * 3,
        "adv": torch.randn(B, generator=g),
        "mask": mask,
    }


def _trl_loss(x: dict[str, torch.Tensor], loss_type: str, beta: float, eps: float, eps_high: float, max_len: int) -> float:
    """TRL's own `GRPOTrainer._compute_loss` on these tensors (tests/trl_reference.py)."""
    loss, _ = trl_compute_loss(x["logps"], x["old"], x["adv"], x["mask"], loss_type=loss_type, beta=beta,
                               ref_logps=x["ref"], epsilon_low=eps, epsilon_high=eps_high, max_completion_length=max_len)
    return float(loss)


@pytest.mark.parametrize("loss_type", ["grpo", "dr_grpo", "dapo"])
@pytest.mark.parametrize("beta", [0.0, 0.04])
def test_loss_matches_trl(loss_type: str, beta: float) -> None:
    x = _inputs()
    ours = grpo_loss(x["logps"], x["old"], x["adv"], x["mask"], loss_type=loss_type, epsilon_low=0.2,
                     epsilon_high=0.28, max_completion_length=7, beta=beta, ref_logps=x["ref"])
    trl = _trl_loss(x, loss_type, beta, 0.2, 0.28, max_len=7)
    assert float(ours.loss) == pytest.approx(trl, abs=1e-6)


@pytest.mark.parametrize("loss_type", ["grpo", "dr_grpo", "dapo"])
def test_micro_batches_sum_to_the_full_batch(loss_type: str) -> None:
    x = _inputs(seed=1)
    logps = x["logps"].clone().requires_grad_(True)
    full = grpo_loss(logps, x["old"], x["adv"], x["mask"], loss_type=loss_type, max_completion_length=5).loss
    (g_full,) = torch.autograd.grad(full, logps)
    n_seq, n_tok = x["mask"].size(0), float(x["mask"].sum())
    parts = sum(
        grpo_loss(logps[i : i + 4], x["old"][i : i + 4], x["adv"][i : i + 4], x["mask"][i : i + 4],
                  loss_type=loss_type, max_completion_length=5, num_sequences=n_seq, num_tokens=n_tok).loss
        for i in (0, 4)
    )
    (g_parts,) = torch.autograd.grad(parts, logps)
    assert float(parts.detach()) == pytest.approx(float(full.detach()), abs=1e-6)
    assert torch.allclose(g_parts, g_full, atol=1e-6)


def test_on_policy_gradient_is_reinforce_weighted_by_advantage() -> None:
    # ratio = 1 (π_old = π_θ): dapo loss = −Σ A_i·(tokens of i)/N, gradient −A_i/N per token.
    logps = torch.zeros(2, 3, requires_grad=True)
    mask = torch.tensor([[1.0, 1, 1], [1, 0, 0]])
    adv = torch.tensor([1.0, -2.0])
    out = grpo_loss(logps, logps.detach(), adv, mask, loss_type="dapo")
    assert float(out.loss) == pytest.approx(-(3 * 1.0 + 1 * -2.0) / 4)
    (grad,) = torch.autograd.grad(out.loss, logps)
    assert torch.allclose(grad, torch.tensor([[-0.25, -0.25, -0.25], [0.5, 0, 0]]))
    assert out.clip_fraction == 0.0


def test_clipping_counts_tokens_pushed_outside_the_trust_region() -> None:
    old = torch.zeros(1, 2)
    logps = torch.tensor([[0.5, -0.5]])  # ratios e^0.5 (> 1.2) and e^-0.5 (< 0.8)
    out = grpo_loss(logps, old, torch.tensor([1.0]), torch.ones(1, 2), loss_type="dapo")
    assert out.clip_fraction == pytest.approx(0.5)  # only the high ratio with A > 0 is clipped
