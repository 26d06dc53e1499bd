"""The nested bootstrap over warm starts, seeds and questions, the decisions read from its interval, and
the warm-start replicate layout."""

from __future__ import annotations

import re

import numpy as np
import pytest
from omegaconf import OmegaConf

from hawkeye.evaluation.nested import half_widths, nested_interval, questions_needed, spreads
from hawkeye.evaluation.replicated import aggregate
from hawkeye.evaluation.table import A_ALONE, A_TO_B, BASELINE, SystemResult
from hawkeye.replicates import first, replicate_config, sft_seed, standalone_run, warm_starts
from hawkeye.reporting import decide
from hawkeye.reporting.target import decision


def _values(ws_effects: list[float], seed_sd: float, n_seeds: int, n_q: int, rng: np.random.Generator) -> np.ndarray:
    """Bernoulli outcomes whose rate moves with the warm start, a little with the seed."""
    rates = np.asarray(ws_effects)[:, None] + rng.normal(0, seed_sd, (len(ws_effects), n_seeds))
    return (rng.random((len(ws_effects), n_seeds, n_q)) < np.clip(rates, 0, 1)[:, :, None]).astype(float)


def test_each_level_widens_the_interval_where_that_level_varies():
    rng = np.random.default_rng(0)
    v = _values([0.6, 0.8, 0.95], 0.0, 2, 400, rng)  # warm starts differ a lot, seeds not at all
    hw = half_widths(v, n_resamples=1000)
    assert hw["questions"] < hw["warm_starts"] / 2  # the warm starts carry most of the variance
    assert hw["seeds"] < hw["questions"] * 1.5      # seeds add little when they do not differ
    same = _values([0.8, 0.8, 0.8], 0.0, 2, 400, rng)
    assert half_widths(same, n_resamples=1000)["warm_starts"] < hw["warm_starts"] / 2


def test_the_interval_covers_the_mean_and_resamples_warm_starts_as_units():
    v = np.zeros((3, 2, 50))
    v[0] = 1.0  # one warm start always right, two always wrong: only the warm-start draw moves the mean
    one_level = nested_interval(v, n_resamples=2000, levels=2)
    assert one_level.low == one_level.high == pytest.approx(1 / 3)  # questions and seeds cannot move it
    full = nested_interval(v, n_resamples=2000)
    assert full.low == 0.0 and full.high == 1.0 and full.mean == pytest.approx(1 / 3)


def test_seeds_are_resampled_within_their_warm_start():
    v = np.zeros((3, 2, 20))
    v[:, 0] = 1.0  # in every warm start one seed always right, the other always wrong
    assert nested_interval(v, n_resamples=1000, levels=1).half_width == 0.0
    seeds = nested_interval(v, n_resamples=1000, levels=2)
    assert seeds.low < 0.3 and seeds.high > 0.7 and seeds.mean == 0.5


def test_spreads_separate_warm_starts_from_seeds():
    v = np.zeros((2, 2, 10))
    v[0, 0], v[0, 1], v[1, 0], v[1, 1] = 1.0, 0.0, 1.0, 0.0  # seeds differ, warm starts do not
    s = spreads(v)
    assert s["warm_starts"] == pytest.approx(0.0)
    assert s["seeds"] == pytest.approx(np.sqrt(0.5))


def test_questions_needed_for_a_three_point_margin():
    n = questions_needed(0.03)
    assert 900 <= n <= 1000
    rng = np.random.default_rng(1)
    diff = np.zeros((1, 1, n))
    diff[0, 0, rng.choice(n, n // 10, replace=False)] = rng.choice([-1.0, 1.0], n // 10)
    half = nested_interval(diff, n_resamples=2000).half_width
    assert 0.01 < half <= 0.021  # sampling the questions adds about 2 of the 3 points, no more


def test_decisions_read_the_interval_and_say_cannot_tell_when_it_straddles():
    assert decide.within(-0.02, 0.04, 0.03) == decide.YES
    assert decide.within(-0.05, 0.01, 0.03) == decide.CANNOT_TELL  # point estimate inside, bound outside
    assert decide.within(-0.09, -0.04, 0.03) == decide.NO
    assert decide.difference(-0.01, 0.02) == decide.CANNOT_TELL
    assert decide.difference(0.01, 0.02) == "higher"
    assert decide.difference(-0.03, -0.01) == "lower"
    row = {"compression_ab_ci_low": 0.5, "compression_ab_ci_high": 0.6, "warm_starts": ["ws1", "ws2", "ws3"],
           "accuracy_delta_pooled_ci_low": -0.045, "accuracy_delta_pooled_ci_high": 0.01}
    assert decision(row, 0.03) == (decide.YES, decide.CANNOT_TELL, decide.CANNOT_TELL)
    row["compression_ab_ci_high"] = 0.4
    row["compression_ab_ci_low"] = 0.2
    assert decision(row, 0.03)[2] == decide.NO
    row["warm_starts"] = ["ws1", "ws2"]  # two draws of the warm start are too few to decide anything
    assert decision(row, 0.03) == (decide.CANNOT_TELL, decide.CANNOT_TELL, decide.CANNOT_TELL)


def _system(key, reader, correct, tokens, b_tokens=None, arm=None, seed=None):
    return SystemResult(key, key, reader, correct, tokens, b_tokens or [0] * len(correct), arm=arm, seed=seed,
                        uses_b_in_training=None if arm is None else True, answer_leak="mask")


def test_aggregate_pairs_each_arm_with_its_own_warm_starts_base_a():
    n = 20
    per_ws = {}
    for ws, base_right in (("ws1", 1.0), ("ws2", 0.0)):
        systems = [_system(BASELINE, A_ALONE, [bool(base_right)] * n, [10] * n),
                   _system("base_a_b", A_TO_B, [bool(base_right)] * n, [10] * n, [2] * n)]
        for seed in (1, 2):  # the arm matches its own warm start's base A exactly, and writes half the tokens
            systems.append(_system(f"b_mask/seed{seed}/a_b", A_TO_B, [bool(base_right)] * n, [5] * n, [1] * n,
                                   arm="b_mask", seed=seed))
        per_ws[ws] = systems
    rows = {(r["arm"], r["reader"]): r for r in aggregate(per_ws, 0.95, 500, 0)}
    arm = rows["b_mask", A_TO_B]
    assert arm["accuracy_delta_pooled"] == 0.0 and arm["accuracy_delta_pooled_ci_low"] == 0.0
    assert arm["accuracy_mean"] == 0.5 and arm["accuracy_ci_low"] == 0.0 and arm["accuracy_ci_high"] == 1.0
    assert arm["compression_mean"] == pytest.approx(0.5) and arm["compression_ab_mean"] == pytest.approx(0.4)
    assert arm["ab_tokens_mean"] == 6.0 and arm["seeds"] == ["ws1/seed1", "ws1/seed2", "ws2/seed1", "ws2/seed2"]
    assert rows["base A", A_ALONE]["key"] == BASELINE


def test_uneven_seeds_across_warm_starts_fail_naming_the_method():
    per_ws = {"ws1": [_system(BASELINE, A_ALONE, [True], [3]), _system("x/seed1/a", A_ALONE, [True], [3], arm="x", seed=1)],
              "ws2": [_system(BASELINE, A_ALONE, [True], [3])]}
    per_ws["ws2"] += [_system(f"x/seed{s}/a", A_ALONE, [True], [3], arm="x", seed=s) for s in (1, 2)]
    with pytest.raises(ValueError, match="x .*different numbers of seeds"):
        aggregate(per_ws, 0.95, 200, 0)


def test_replicates_have_their_own_models_data_runs_and_seeds():
    cfg = OmegaConf.create({
        "seed": 42, "warmstart": {"seeds": [1, 2]},
        "policy": {"name_or_path": "models/testbed-a"}, "responder": {"name_or_path": "models/testbed-b"},
        "paths": {"models_dir": "models", "curated_dir": "data/curated", "train_dir": "runs/train",
                  "baselines_dir": "runs/baselines", "warmstart_dir": "runs/warmstart"},
        "tracking": {"warm_start": None}})
    assert warm_starts(cfg) == [1, 2]
    r2 = replicate_config(cfg, 2)
    assert r2.policy.name_or_path == "models/warmstarts/ws2/testbed-a"
    assert r2.responder.name_or_path == "models/warmstarts/ws2/testbed-b"
    assert (r2.paths.curated_dir, r2.paths.train_dir, r2.paths.baselines_dir, r2.paths.warmstart_dir) == (
        "data/curated/ws2", "runs/train/ws2", "runs/baselines/ws2", "runs/warmstart/ws2")
    assert r2.tracking.warm_start == 2
    seeds = {sft_seed(42, ws, role) for ws in (1, 2) for role in ("a", "b", "tokenizer")}
    assert len(seeds) == 6
    by_hand = standalone_run(cfg)  # src/train.py by hand or in a sweep: the first warm start, its own folder
    assert by_hand.policy.name_or_path == "models/warmstarts/ws1/testbed-a" and by_hand.paths.train_dir == "runs/train"
    assert by_hand.paths.curated_dir == "data/curated/ws1" and by_hand.tracking.warm_start == 1
    assert first(r2) is r2  # a replicate's own config is left alone
    cfg.warmstart.seeds = []
    assert warm_starts(cfg) == [None] and replicate_config(cfg, None) is cfg and standalone_run(cfg) is cfg


def test_the_collapsed_share_on_held_out_questions_is_a_method_figure():
    def system(key, arm, seed, collapsed):
        s = _system(key, A_ALONE, [False] * 4, [3] * 4, arm=arm, seed=seed)
        s.collapsed = collapsed
        return s

    per_ws = {ws: [system(BASELINE, None, None, [0.0] * 4),
                   system("no_b/seed1/a", "no_b", 1, [1.0, 1.0, 0.0, 0.0])] for ws in ("ws1", "ws2")}
    rows = {r["arm"]: r for r in aggregate(per_ws, 0.95, 300, 0)}
    assert rows["no_b"]["collapsed_mean"] == 0.5 and rows["base A"]["collapsed_mean"] == 0.0
    per_ws["ws1"][1].collapsed = [float("nan")] * 4  # no ground truth: no figure, rather than a partial one
    assert "collapsed_mean" not in {r["arm"]: r for r in aggregate(per_ws, 0.95, 300, 0)}["no_b"]


@pytest.mark.parametrize(("override", "key"), [
    ("warmstart.seeds=[0]", "warmstart.seeds"),        # a warm start needs a seed >= 1
    ("warmstart.seeds=[1,1]", "warmstart.seeds"),      # the same draw twice is one replicate
    ("data.test_size=500", "data.test_size"),          # too few questions to judge a 3-point margin
    ("eval.margin=2", "eval.margin"),
])
def test_bad_replication_settings_fail_at_start_naming_the_key(override: str, key: str) -> None:
    from conftest import compose_config
    from hawkeye.config import validate
    from hawkeye.errors import ConfigError

    with pytest.raises(ConfigError, match=re.escape(key)):
        validate(compose_config(["experiment=testbed", override]))


def test_a_small_test_split_without_a_margin_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    from conftest import compose_config
    from hawkeye.config import validate

    validate(compose_config(["experiment=testbed", "data.test_size=500", "eval.margin=null"]))
    assert "data.test_size=500" in caplog.text and "961" in caplog.text


def test_the_warm_start_stage_refuses_no_warm_start_naming_the_key() -> None:
    from conftest import compose_config
    from hawkeye.config import validate
    from hawkeye.errors import ConfigError
    from hawkeye.warmstart.stage import run

    with pytest.raises(ConfigError, match=re.escape("warmstart.seeds")):
        run(validate(compose_config(["experiment=testbed", "warmstart.seeds=[]"])))
