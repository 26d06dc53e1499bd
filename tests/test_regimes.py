"""The regime map's parts: its config refuses bad input naming the key; B's generic views and their
targets follow the one rule of each capacity; the gate's bounds; where a curve flattened; the report's
verdict reads the interval."""

from __future__ import annotations

import random
import re
from typing import Any

import numpy as np
import pytest

from conftest import compose_config
from hawkeye.config import validate
from hawkeye.data.sources.testbed import TestbedSpec, critical_steps, generate
from hawkeye.errors import ConfigError
from hawkeye.regimes import flatness, report, views
from hawkeye.regimes.gate import failures, penalty


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return generate("t", 60, 5, TestbedSpec(min_ops=1, max_ops=3, max_operand=20, max_total=200))


@pytest.mark.parametrize(
    ("override", "key"),
    [("regimes.run_a=[low,nope]", "regimes.run_a"), ("regimes.run_b=[copy,nope]", "regimes.run_b"),
     ("regimes.b_views.verbose=1.5", "regimes.b_views.verbose"), ("regimes.b_views.none=-0.1", "regimes.b_views.none"),
     (";".join(f"regimes.b_views.{v}=0" for v in ("verbose", "verbose_boxed", "bare", "bare_boxed", "direct", "none")),
      "regimes.b_views"), ("+regimes.b_views.long=0.2", "regimes.b_views.long"),
     ("regimes.b.copy.finish=3", "regimes.b.copy.finish"), ("regimes.a.easy.direct_by_ops={1:1.2,2:0.1,3:0.1}", "direct_by_ops.1"),
     ("regimes.a.easy.drill_one_op=1.5", "regimes.a.easy.drill_one_op"),
     ("regimes.a.low.skip_cot=-0.1", "regimes.a.low.skip_cot"), ("~regimes.a.low.skip_cot", "skip_cot"),
     ("regimes.a.low.checks.a_greedy=[0.9,0.8]", "regimes.a.low.checks.a_greedy"),
     ("+regimes.b.copy.checks.longest=[0,1]", "regimes.b.copy.checks.longest"),
     ("regimes.seeds=[1]", "regimes.seeds"), ("regimes.penalty.alpha=0", "regimes.penalty.alpha"),
     ("regimes.warm_starts=[]", "regimes.warm_starts"), ("regimes.flat_floor=-1", "regimes.flat_floor"), ("+regimes.steps=3", "regimes.steps")],
)
def test_bad_regime_config_names_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(key)):
        validate(compose_config(["experiment=regimes", *override.split(";")]))


def test_the_preset_validates() -> None:
    cfg = validate(compose_config(["experiment=regimes"]))
    assert cfg.reward.answer_leak == "allow" and list(cfg.regimes.run_b) == ["copy", "one_op", "two_op"]


def _value(step: str) -> str:
    return step.rstrip(".").rsplit("= ", 1)[1]


def test_each_capacity_finishes_exactly_its_missing_operations(rows: list[dict]) -> None:
    three = next(r for r in rows if len(critical_steps(r["segments"])) == 3)
    steps = critical_steps(three["segments"])
    box = views.boxed
    # Nothing missing: every capacity copies the answer.
    assert {views.target(three, 3, k) for k in (0, 1, 2)} == {box(three["answer"])}
    # One missing: copy boxes the last value it saw (wrong); one_op and two_op write the last step.
    assert views.target(three, 2, 0) == box(_value(steps[1]))
    assert views.target(three, 2, 1) == views.target(three, 2, 2) == f"{steps[2]} {box(three['answer'])}"
    # Two missing: one_op writes one step and boxes its value (wrong); two_op finishes.
    assert views.target(three, 1, 1) == f"{steps[1]} {box(_value(steps[1]))}"
    assert views.target(three, 1, 2) == f"{steps[1]} {steps[2]} {box(three['answer'])}"
    # No CoT: B alone is taught the format with the answer.
    assert views.target(three, 0, 0) == box(three["answer"])


def test_views_are_prefixes_of_any_form_a_could_write(rows: list[dict]) -> None:
    rng = random.Random(0)
    seen_forms = set()
    for row in rows:
        steps = critical_steps(row["segments"])
        for view in ("verbose", "verbose_boxed", "bare", "bare_boxed"):
            cot, out = views.b_view(row, view, 2, rng)
            shown = sum(s in cot for s in steps)
            assert cot.startswith(row["reference_cot"][:10]) or view.startswith("bare")
            assert all(s in cot for s in steps[:shown]) and shown >= 1
            assert ("\\boxed{" in cot) == view.endswith("boxed")
            if view.startswith("verbose"):  # the reference CoT itself, cut before the next critical step
                assert row["reference_cot"].startswith(cot.split(" \\boxed{")[0])
            seen_forms.add((view, len(steps) - shown))
            assert out.endswith("}")
    assert {m for _, m in seen_forms} == {0, 1, 2}  # every cut point occurs
    assert views.b_view(rows[0], "direct", 0, rng) == (views.boxed(rows[0]["answer"]),) * 2
    assert views.b_view(rows[0], "none", 0, rng)[0] == ""


def test_gate_forms(rows: list[dict]) -> None:
    one = next(r for r in rows if len(critical_steps(r["segments"])) == 1)
    two = next(r for r in rows if len(critical_steps(r["segments"])) == 2)
    assert views.gate_form(one, "missing1_bare") is None and views.gate_form(two, "missing2_bare") is None
    assert views.gate_form(two, "missing1_bare") == critical_steps(two["segments"])[0]
    hidden = views.gate_form(two, "first_step_hidden")
    assert "[masked]" in hidden and _value(critical_steps(two["segments"])[0]) not in hidden.split("=")[-1]
    assert "\\boxed" not in views.gate_form(two, "critical_bare")


def test_a_regime_direct_share_follows_the_number_of_operations(rows: list[dict]) -> None:
    class Tok:
        def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):  # noqa: ANN001, ANN201
            return messages[0]["content"] + messages[-1]["content"]

    rng = random.Random(1)
    direct = {1: 1.0, 2: 0.0, 3: 0.0}
    for row in rows:
        _, target = views.a_example(row, Tok(), rng, direct, 0.0)
        assert (target == views.boxed(row["answer"])) == (views.n_ops(row) == 1)


def test_a_skips_its_cot_when_asked_to_reason_at_the_regime_share(rows: list[dict]) -> None:
    """GRPO's path to a short CoT: asked to reason (the prompt GRPO samples A with), A is shown the boxed
    answer alone at `skip_cot`, whatever the number of operations; never with skip_cot 0."""
    from hawkeye.prompts import reasoning_messages, render

    class Tok:
        def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):  # noqa: ANN001, ANN201
            return "|".join(m["content"] for m in messages)

    for skip in (0.0, 0.25):
        rng, by_ops = random.Random(2), {}
        for row in rows * 40:
            prompt, target = views.a_example(row, Tok(), rng, {1: 0.0, 2: 0.0, 3: 0.0}, skip)
            assert prompt == render(Tok(), reasoning_messages(row["question"]))
            by_ops.setdefault(views.n_ops(row), []).append(target == views.boxed(row["answer"]))
        for ops, skipped in by_ops.items():
            assert abs(sum(skipped) / len(skipped) - skip) < 0.05, (skip, ops)


def test_the_drill_covers_every_one_operation_fact_and_answers_it_directly() -> None:
    """The easy A's drill: direct answers to fresh one-operation stories of every signature (every
    split's), never more than one operation."""
    from hawkeye.data.config import testbed_partition, testbed_spec
    from hawkeye.data.sources.testbed import make_problem, signature

    class Tok:
        def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):  # noqa: ANN001, ANN201
            return messages[0]["content"]

    cfg = validate(compose_config(["experiment=regimes"]))
    spec, part = testbed_spec(cfg.data), testbed_partition(cfg.data)
    rng, facts = random.Random(3), {}
    for _ in range(6000):
        state = rng.getstate()
        prompt, target = views.drill_example(Tok(), rng, spec)
        rng_copy = random.Random()
        rng_copy.setstate(state)
        row = make_problem(rng_copy, TestbedSpec(min_ops=1, max_ops=1, max_operand=spec.max_operand,
                                                  max_total=spec.max_total))
        assert prompt.startswith(row["question"]) and target == views.boxed(row["answer"])
        facts[row["signature"]] = row["answer"]
    one_op = {signature(s, [(op, k)]) for s in range(1, spec.max_operand + 1) for op, ks in
              (("+", range(1, spec.max_operand + 1)), ("-", range(1, s + 1)), ("*", (2, 3))) for k in ks}
    assert set(facts) == one_op and len(one_op) == 144  # the whole one-operation arithmetic ...
    assert {part.part(s) for s in facts} == {"train", "val", "test"}  # ... every split's part of it


def test_gate_bounds_and_penalty_rule() -> None:
    assert failures({"a": 0.5, "b": 0.1}, {"a": [0.4, 1.0], "b": [0.0, 0.2]}) == []
    assert failures({"a": 0.3}, {"a": [0.4, 1.0]}) == ["a=0.300 not in [0.4, 1]"]
    assert failures({}, {"a": [0.0, 1.0]})  # a measure not taken is a miss, not a pass

    class Cfg:
        class regimes:  # noqa: N801
            class penalty:  # noqa: N801
                alpha, orig_cost = 0.1, 1.0

    p = penalty(Cfg, 50.0)
    assert p["lambda"] * ((1 - 0.1) * 50.0) ** 2 == pytest.approx(1.0)


def _constructed_run(ratio: Any, steps: int, seed: int) -> list[float]:
    """A GRPO curve as the map's runs have it: 2 questions of 1-3 operations a step (13 critical tokens an
    operation), A writing `ratio(t)` tokens per critical token with 8% noise (both measured on the map's
    400-step runs: the raw length then moves about 25% from step to step)."""
    rng = np.random.default_rng(seed)
    critical = rng.integers(1, 4, size=(steps, 2)).mean(axis=1) * 13.0
    cot = np.array([ratio(t) for t in range(steps)]) * critical * (1 + 0.08 * rng.standard_normal(steps))
    return flatness.length_per_critical_token(list(cot), list(critical))


def _collapsed_run(steps: int, seed: int) -> list[float]:
    """A run that collapses in 50 steps to the box alone: 5.5 tokens (0.5 of noise) whatever the question,
    as the map's collapsed runs write."""
    rng = np.random.default_rng(seed)
    critical = rng.integers(1, 4, size=(steps, 2)).mean(axis=1) * 13.0
    cot = np.where(np.arange(steps) < 50, 1.3 * critical, 5.5) + 0.5 * rng.standard_normal(steps)
    return flatness.length_per_critical_token(list(cot), list(critical))


@pytest.mark.parametrize(("name", "ratio", "flat_between"), [
    ("flat from the start", lambda t: 1.3, (0, 100)),
    ("falls, then settles", lambda t: 1.3 + 0.6 * np.exp(-t / 40), (50, 200)),
    ("falls to the end", lambda t: 1.9 - 0.9 * t / 400, None),
    ("drops late", lambda t: 1.35 if t < 340 else 1.0, None),
])
def test_where_a_curve_flattened_on_constructed_curves(name: str, ratio: Any, flat_between: Any) -> None:
    """The rule reads trends and not noise: on 20 draws of each curve it says flat (and where) or not."""
    got = [flatness.flattened_at(_constructed_run(ratio, 400, seed), 50, 0.05, 0.05) for seed in range(20)]
    if flat_between is None:
        assert got == [None] * 20, name
    else:
        assert all(s is not None and flat_between[0] <= s <= flat_between[1] for s in got), (name, got)


def test_a_collapsed_curve_is_flat_by_the_floor() -> None:
    """At the box alone the length per critical token moves with the questions drawn: a 5% tolerance
    alone calls such curves not flat; the floor reads them flat from the collapse on."""
    runs = [_collapsed_run(400, seed) for seed in range(20)]
    assert sum(flatness.flattened_at(c, 50, 0.05, 0.0) is None for c in runs) >= 5
    assert all(flatness.flattened_at(c, 50, 0.05, 0.05) in (50, 100) for c in runs)


def test_the_raw_length_would_read_noise_as_a_trend() -> None:
    """Why the rule reads length per critical token: on the raw length the same flat curves often read
    'not flat' (the old 20-step rolling rule), which is what the map's first runs reported."""
    def rolling_rule(curve: list[float]) -> int | None:  # the old rule, kept here as the counter-example
        rolled = np.convolve(np.asarray(curve), np.ones(20) / 20, mode="valid")
        off = np.abs(rolled - rolled[-1]) > 0.1 * rolled[-1]
        step = (int(np.nonzero(off)[0][-1]) + 1 if off.any() else 0) + 19
        return step if step < len(curve) - 20 else None

    raw = []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        critical = rng.integers(1, 4, size=(400, 2)).mean(axis=1) * 13.0
        raw.append(list(1.3 * critical * (1 + 0.08 * rng.standard_normal(400))))
    assert sum(rolling_rule(c) is None for c in raw) >= 5


def test_a_curve_shorter_than_two_blocks_cannot_tell() -> None:
    assert flatness.flattened_at([5.0] * 60, 50, 0.05, 0.05) is None


def test_the_verdict_reads_the_interval_and_the_warm_starts() -> None:
    from hawkeye.reporting import decide

    rng = np.random.default_rng(0)
    fewer = -(rng.random((3, 2, 400)) < 0.3).astype(float)  # B in training: 30 points less collapse
    i = report.interval(fewer)
    assert decide.difference(i["low"], i["high"]) == "lower"
    assert decide.replicated(decide.YES, 1) == decide.CANNOT_TELL and decide.replicated(decide.YES, 3) == decide.YES
    noise = rng.normal(0, 1, (1, 2, 400))
    j = report.interval(noise)
    assert j["low"] < 0 < j["high"]


def test_runs_collapsed_in_training_are_read_from_each_curve(tmp_path: Any) -> None:
    """The table's 'runs collapsed in training': the one curve rule (`collapse.verdict`) on each run's
    collapsed share per step. It read a key that no run file holds, so it said 0 for runs whose share
    went from 12% to 70%."""
    cfg = validate(compose_config(["experiment=regimes", f"paths.train_dir={tmp_path}"]))
    from hawkeye.regimes import layout

    def write(cell: str, seed: int, shares: list[float]) -> None:
        d = tmp_path / layout.train_dir(cfg, 1).split("/")[-1] / cell / f"seed{seed}"
        d.mkdir(parents=True)
        lines = ["step\tcot_tokens_mean\tcritical_tokens_mean\tcollapsed_share\trollouts"]
        lines += [f"{t}\t30\t25\t{s:g}\t16" for t, s in enumerate(shares)]
        (d / "collapse_curve.tsv").write_text("\n".join(lines) + "\n")

    write("easy__no_b", 1, [0.12] * 40 + [0.7] * 360)  # collapses
    write("easy__no_b", 2, [0.12] * 400)               # does not
    t = report.training(cfg, [1], "easy__no_b")
    assert t["runs"] == 2 and t["collapsed_in_training"] == 1
