"""The testbed's parts: the generator and its ground truth, the tokenizer, B's views, waste scoring,
the gate's verdicts and a warm start that resumes after a crash."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
import torch

from conftest import compose_config
from hawkeye.config import validate
from hawkeye.curation import waste
from hawkeye.curation.rules import refine_with_rules
from hawkeye.data.sources.testbed import TestbedSpec, critical_cot, generate
from hawkeye.data.sources.testbed_reading import as_segments
from hawkeye.errors import ConfigError
from hawkeye.warmstart import examples, gate, sft
from hawkeye.warmstart.tokenizer import train_tokenizer

SPEC = TestbedSpec()


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return generate("testbed_train", 300, 7, SPEC)


@pytest.fixture(scope="module")
def tok(rows: list[dict], tmp_path_factory: pytest.TempPathFactory):
    from hawkeye.warmstart.stage import tokenizer_corpus

    return train_tokenizer(tokenizer_corpus(rows), 1000, tmp_path_factory.mktemp("tok"))


def evaluate_equation(step: str) -> tuple[int, int]:
    """'She buys 3 more: 9 + 3 = 12.' -> (9 + 3 computed, 12 stated)."""
    lhs, rhs = step.split(": ")[-1].rstrip(".").split(" = ")
    return eval(lhs), int(rhs)  # noqa: S307 - digits and + - * only, made by the generator


def test_critical_steps_follow_the_story_and_compute_the_answer(rows: list[dict]) -> None:
    for r in rows:
        steps = examples._critical(r)
        events = r["question"].split(". ")[1:-1]  # the story's operations, in order
        assert len(steps) == len(events), r["id"]
        value = None
        for step, event in zip(steps, events, strict=True):
            assert step.startswith(event.rstrip(".") + ": ")
            computed, stated = evaluate_equation(step)
            assert computed == stated, (step, r["id"])
            value = stated
        assert str(value) == r["answer"]
        assert all(0 <= int(n) <= SPEC.max_total for n in re.findall(r"\d+", r["reference_cot"]))


def test_segments_are_the_reference_cot_and_waste_is_planted(rows: list[dict]) -> None:
    kinds = {s["kind"] for r in rows for s in r["segments"]}
    assert kinds == {"critical", "filler", "repeat", "fine"}
    for r in rows:
        assert " ".join(s["text"] for s in r["segments"]) == r["reference_cot"]
    crit = sum(len(critical_cot(r["segments"])) for r in rows)
    total = sum(len(r["reference_cot"]) for r in rows)
    assert 0.25 < crit / total < 0.6  # waste is a large, not total, share of a verbose CoT


def test_generation_is_seeded_and_splits_disjoint() -> None:
    a, b = generate("t", 50, 1, SPEC), generate("t", 50, 1, SPEC)
    assert a == b and a != generate("t", 50, 2, SPEC)
    test = generate("test", 50, 1, SPEC, exclude={r["question"] for r in a})
    assert not {r["question"] for r in a} & {r["question"] for r in test}


@pytest.mark.parametrize(
    ("override", "key"),
    [("data.min_ops=0", "data.min_ops"), ("data.max_ops=1", "data.max_ops"), ("data.train_size=-3", "data.train_size"),
     ("data.max_operand=1", "data.max_operand"), ("data.max_total=5", "data.max_total"),
     ("arms.run=[b_allow,nope]", "arms.run"), ("arms.jobs=0", "arms.jobs"),
     ("warmstart.a.hidden=90", "warmstart.a.hidden"), ("warmstart.b.steps=0", "warmstart.b.steps")],
)
def test_bad_testbed_parameters_name_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(key)):
        validate(compose_config(["experiment=testbed", override]))


def test_tokenizer_digits_single_tokens_and_chat_template(tok, rows: list[dict]) -> None:
    pieces = tok.tokenize(" 45 + 7 = 52.")
    assert pieces[:3] == ["Ġ4", "5", "Ġ+"]  # one digit per token, the space on the first
    text = rows[0]["reference_cot"]
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text
    rendered = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert rendered.endswith("<|im_start|>assistant\n") and tok.eos_token == "<|im_end|>"


def test_b_views(rows: list[dict]) -> None:
    r = next(r for r in rows if len(examples._critical(r)) >= 3)
    steps, boxed = examples._critical(r), f"\\boxed{{{r['answer']}}}"
    rng = random.Random(0)
    for _ in range(10):  # the last one or two steps are missing, and B's target finishes them
        cot, target = examples.b_view(r, "partial", rng)
        missing = len(steps) - len(cot.split(". "))
        assert missing in (1, 2) and cot == " ".join(steps[:-missing])
        assert target == " ".join(steps[-missing:]) + " " + boxed
    assert examples.b_view(r, "none", rng) == ("", boxed)
    assert examples.b_view(r, "critical", rng) == (" ".join(steps) + " " + boxed, boxed)
    assert examples.b_view(r, "full", rng) == (r["reference_cot"] + " " + boxed, boxed)


def test_waste_scores(tok, rows: list[dict]) -> None:
    r = rows[0]
    perfect = waste.score(r["segments"], critical_cot(r["segments"]), tok)
    assert perfect.precision == 1.0 and perfect.recall == 1.0 and perfect.waste > 0
    nothing = waste.score(r["segments"], r["reference_cot"], tok)
    assert nothing.removed == 0 and nothing.recall == 0.0
    everything = waste.score(r["segments"], "", tok)
    assert everything.recall == 1.0 and everything.precision < 1.0


@pytest.mark.parametrize("spec", [SPEC, TestbedSpec(min_ops=1, max_ops=4, max_operand=9, max_total=30)])
def test_rules_find_the_planted_waste_and_keep_every_critical_value(tok, spec: TestbedSpec) -> None:
    """On the reference CoTs, and on the same CoTs as A writes them (with its boxed answer, labelled
    back by testbed_reading): recall >= 0.8 at precision >= 0.95, and no critical value lost."""
    reference, own = waste.WasteScore(), waste.WasteScore()
    for r in generate("t", 300, 5, spec):
        refined = refine_with_rules(r["reference_cot"], 0.9, r["question"])
        assert not waste.lost_critical(r["segments"], r["answer"], refined), (r["reference_cot"], refined)
        reference += waste.score(r["segments"], refined, tok)
        cot = f"{r['reference_cot']} \\boxed{{{r['answer']}}}"
        segments = as_segments(cot)
        refined = refine_with_rules(cot, 0.9, r["question"])
        assert not waste.lost_critical(segments, r["answer"], refined), (cot, refined)
        own += waste.score(segments, refined, tok)
    for total in (reference, own):
        assert total.waste > 0 and total.recall >= 0.8 and total.precision >= 0.95, total


def test_gate_failure_names_metric_value_and_threshold() -> None:
    metrics = {"a_greedy": 0.5, "a_sampled": 0.6, "a_direct": 0.1, "b_alone": 0.05, "b_with_cot": 0.5,
               "truncated": 0.0}
    cfg = validate(compose_config(["experiment=testbed"]))
    results = gate.checks(metrics, cfg.warmstart.gate)
    with pytest.raises(gate.GateError, match=r"a_greedy=0\.500 \(needs >= 0\.8\)"):
        gate.enforce(results)
    gate.enforce(gate.checks({**metrics, "a_greedy": 0.9, "b_with_cot": 0.85}, cfg.warmstart.gate))


class Crash(Exception):
    pass


def test_warm_start_resumes_after_a_crash(tok, rows: list[dict], tmp_path: Path) -> None:
    shape = {"hidden": 32, "layers": 1, "heads": 2, "intermediate": 64, "steps": 8, "batch_size": 4,
             "lr": 3e-3, "warmup_steps": 2}

    def make(rng: random.Random) -> examples.Example:
        return examples.a_example(rng.choice(rows), tok, rng, 0.1)

    class Cfg(dict):
        __getattr__ = dict.__getitem__

    straight = sft.build_model(Cfg(shape), tok, seed=3)
    sft.train(straight, tok, make, Cfg(shape), seed=3, ckpt_dir=tmp_path / "a", checkpoint_every=4)

    crashed = sft.build_model(Cfg(shape), tok, seed=3)
    original = sft.SFTModule.training_step

    def crash_after_six(self, batch, idx):  # noqa: ANN001, ANN202
        if self.global_step == 6:
            raise Crash
        return original(self, batch, idx)

    sft.SFTModule.training_step = crash_after_six
    try:
        with pytest.raises(Crash):
            sft.train(crashed, tok, make, Cfg(shape), seed=3, ckpt_dir=tmp_path / "b", checkpoint_every=4)
    finally:
        sft.SFTModule.training_step = original
    assert (tmp_path / "b" / "last.ckpt").is_file()
    resumed = sft.build_model(Cfg(shape), tok, seed=99)  # weights come from the checkpoint, not the seed
    losses = sft.train(resumed, tok, make, Cfg(shape), seed=3, ckpt_dir=tmp_path / "b", checkpoint_every=4)
    assert len(losses) == 4  # steps 4..7 only: it resumed from step 4
    for p, q in zip(straight.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=0)


def test_arm_jobs_cover_every_arm_and_seed() -> None:
    from hawkeye.training.arms import jobs

    cfg = validate(compose_config(["experiment=testbed", "arms.seeds=[1,2]"]))
    got = [(arm, seed) for arm, seed, _ in jobs(cfg)]
    assert got == [("b_allow", 1), ("b_allow", 2), ("b_mask", 1), ("b_mask", 2), ("no_b", 1), ("no_b", 2)]
    overrides = dict(o.split("=", 1) for o in jobs(cfg)[-1][2])
    assert overrides["responder.name_or_path"] == "null" and overrides["tracking.arm"] == "no_b"
    assert overrides["paths.train_dir"].endswith("no_b/seed2") and overrides["seed"] == "2"


def test_a_failing_arm_names_arm_seed_and_log(tmp_path: Path) -> None:
    from hawkeye.training.arms import ArmError, run_arms

    cfg = validate(compose_config(["experiment=testbed", "arms.seeds=[5]", "arms.run=[no_b]",
                                   f"paths.train_dir={tmp_path}", f"paths.curated_dir={tmp_path / 'none'}"]))
    with pytest.raises(ArmError, match=r"arm no_b seed 5 failed .*no_b/seed5/train\.log"):
        run_arms(cfg)


@pytest.mark.parametrize("preset", ["testbed", "testbed_quick"])
def test_vllm_context_fits_the_warm_started_models(preset: str) -> None:
    """vLLM refuses a max_model_len above the model's positions: the evaluate stage's servers failed
    to start on the testbed models (1024 positions) with the default 2048."""
    from hawkeye.warmstart.sft import MAX_POSITIONS

    cfg = compose_config([f"experiment={preset}"])
    assert cfg.rollout.vllm.max_model_len <= MAX_POSITIONS
    assert cfg.rollout.max_new_tokens + 256 <= cfg.rollout.vllm.max_model_len  # a CoT after its prompt
