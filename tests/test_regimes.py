"""The regime map's parts: its config refuses bad input naming the key; B's generic views and their
targets follow the one rule of each capacity; the gate's bounds; where a curve flattened; the report's
verdict reads the interval."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

from conftest import compose_config
from hawkeye.config import validate
from hawkeye.data.sources.testbed import TestbedSpec, critical_steps, generate
from hawkeye.errors import ConfigError
from hawkeye.regimes import report, views
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
     ("regimes.a.low.checks.a_greedy=[0.9,0.8]", "regimes.a.low.checks.a_greedy"),
     ("+regimes.b.copy.checks.longest=[0,1]", "regimes.b.copy.checks.longest"),
     ("regimes.seeds=[1]", "regimes.seeds"), ("regimes.penalty.alpha=0", "regimes.penalty.alpha"),
     ("regimes.warm_starts=[]", "regimes.warm_starts"), ("+regimes.steps=3", "regimes.steps")],
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
        _, target = views.a_example(row, Tok(), rng, direct)
        assert (target == views.boxed(row["answer"])) == (views.n_ops(row) == 1)


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


def test_where_a_curve_flattened() -> None:
    falling = [100 - 2 * t for t in range(40)] + [20.0] * 60
    assert report.flattened_at(falling, 10, 0.1) == pytest.approx(45, abs=5)
    assert report.flattened_at([100 - t for t in range(100)], 10, 0.1) is None  # still falling at the end
    assert report.flattened_at([5.0] * 10, 10, 0.1) is None  # too short to tell


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
