"""What a run draws, and in which order: the sampling seeds of every (step, rank), the questions of every
step, and each rank's share of them. A resumed or distributed run must draw exactly what one
uninterrupted process would, and no two samples may share a seed. Pure functions: no models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hawkeye.generation.base import SamplingParams
from hawkeye.generation.hf import HFBackend
from hawkeye.seeding import SEED_STRIDE, step_seed
from hawkeye.training.data import questions_for_step, rank_share


def test_every_step_and_rank_samples_with_its_own_seeds() -> None:
    seeds = {(s, r, w): step_seed(7, s, r, w) for w in (1, 2, 4) for s in range(50) for r in range(w)}
    for w in (1, 2, 4):
        mine = [seeds[s, r, w] for s in range(50) for r in range(w)]
        assert len(set(mine)) == len(mine)  # distinct for every (step, rank)
        # a call's samples use seed + i (i < SEED_STRIDE): no two (step, rank) pairs share a sample seed
        assert all(b - a >= SEED_STRIDE for a, b in zip(sorted(mine), sorted(mine)[1:], strict=False))
    assert step_seed(7, 3) == step_seed(7, 3) and step_seed(7, 3) != step_seed(8, 3)  # a function of (seed, step)


def test_each_epoch_visits_every_question_once_in_a_seeded_order() -> None:
    n, per_step = 10, 3
    steps = [questions_for_step(n, s, per_step, seed=5) for s in range(20)]  # 60 draws = 6 epochs
    flat = [q for step in steps for q in step]
    epochs = [flat[i : i + n] for i in range(0, len(flat), n)]
    assert all(sorted(e) == list(range(n)) for e in epochs)
    assert len({tuple(e) for e in epochs}) > 1  # the order changes from epoch to epoch
    assert steps[7] == questions_for_step(n, 7, per_step, seed=5)  # step 7 alone: the same questions
    assert [questions_for_step(n, s, per_step, seed=6) for s in range(20)] != steps  # and it is the seed's


def test_ranks_split_a_step_into_disjoint_equal_shares() -> None:
    items = list(range(8))
    shares = [rank_share(items, r, 4) for r in range(4)]
    assert [q for share in shares for q in share] == items and all(len(s) == 2 for s in shares)
    assert [q for r in range(2) for q in questions_for_step(12, 3, 4, 1, r, 2)] == questions_for_step(12, 3, 4, 1)
    with pytest.raises(ValueError, match="cannot be split evenly"):
        rank_share(items, 0, 3)


def test_hf_sampling_is_seeded_per_call(tiny_models_dir: Path) -> None:
    from hawkeye.models.load import load_causal_lm, load_tokenizer, resolve_model_path

    path = resolve_model_path("tiny:qwen2?seed=0", str(tiny_models_dir))
    backend = HFBackend(load_causal_lm(path).eval(), load_tokenizer(path), batch_size=4)
    prompts = ["Mia has 3 apples."] * 4
    params = SamplingParams(max_new_tokens=12, temperature=1.0, seed=11)
    first = [g.token_ids for g in backend.generate(prompts, params)]
    torch.manual_seed(999)  # whatever ran before, the call's own seed decides
    assert [g.token_ids for g in backend.generate(prompts, params)] == first
    assert len({tuple(t) for t in first}) > 1  # one seed per call, not per sample: the copies still differ
    other = [g.token_ids for g in backend.generate(prompts, SamplingParams(max_new_tokens=12, temperature=1.0, seed=12))]
    assert other != first
