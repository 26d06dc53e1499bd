"""The testbed's parts: the generator and its ground truth, the tokenizer, B's views, waste scoring,
the gate's verdicts and a warm start that resumes after a crash."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
import torch

from conftest import TESTBED_SPEC, compose_config
from hawkeye.config import validate
from hawkeye.curation import waste
from hawkeye.curation.rules import refine_with_rules
from hawkeye.data.sources import testbed_reading
from hawkeye.data.sources.testbed import Partition, TestbedSpec, critical_cot, critical_steps, generate
from hawkeye.data.sources.testbed_reading import as_segments
from hawkeye.errors import ConfigError
from hawkeye.responder.reads import ANSWER_PLACEHOLDER as M
from hawkeye.warmstart import examples, gate, sft
from hawkeye.warmstart.tokenizer import train_tokenizer

SPEC = TESTBED_SPEC


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
        steps = critical_steps(r["segments"])
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
    odd = generate("t", 50, 1, SPEC, keep=lambda sig: int(sig.split()[0]) % 2 == 1)  # redraws the rest
    assert all(int(r["signature"].split()[0]) % 2 for r in odd)


def test_the_signature_is_the_arithmetic_of_the_story(rows: list[dict]) -> None:
    """"7 +3 -4 *2": the start value, then sign and operand of each critical step, in order; the same
    arithmetic told with other names and items has the same signature."""
    by_signature: dict[str, set[str]] = {}
    for r in rows:
        start = re.match(r"\w+ has (\d+) ", r["question"])[1]
        ops = [re.search(r": \d+ ([-+*]) (\d+) = ", step).groups() for step in critical_steps(r["segments"])]
        assert r["signature"] == " ".join([start, *(op + k for op, k in ops)]), r["id"]
        by_signature.setdefault(r["signature"], set()).add(r["question"])
    assert any(len(questions) > 1 for questions in by_signature.values())  # one arithmetic, several stories


def test_the_partition_follows_the_seeded_signature_in_fixed_shares() -> None:
    signatures = [f"{a} +{b} -{c}" for a in range(1, 10) for b in range(1, 10) for c in range(1, 10)]
    part = Partition(signature_seed=1, val_share=0.1, test_share=0.2)
    parts = [part.part(s) for s in signatures]
    assert parts == [Partition(1, 0.1, 0.2).part(s) for s in signatures]  # a function of seed and signature
    assert parts != [Partition(2, 0.1, 0.2).part(s) for s in signatures]
    share = {p: parts.count(p) / len(parts) for p in ("train", "val", "test")}
    assert share == pytest.approx({"train": 0.7, "val": 0.1, "test": 0.2}, abs=0.04)


@pytest.mark.parametrize(
    ("override", "key"),
    [("data.min_ops=0", "data.min_ops"), ("data.max_ops=0", "data.max_ops"), ("data.train_size=-3", "data.train_size"),
     ("data.val_size=0", "data.val_size"), ("data.val_split=testbed_test", "data.val_split"),
     ("data.val_share=0", "data.val_share"), ("data.test_share=1", "data.test_share"),
     ("data.test_share=0.95", "data.test_share"), ("data.signature_seed=abc", "data.signature_seed"),
     ("warmstart.direct_fraction=1.5", "warmstart.direct_fraction"),
     ("warmstart.direct_fraction=-0.1", "warmstart.direct_fraction"),
     ("collapse.steps_share=1", "collapse.steps_share"), ("collapse.margin=0", "collapse.margin"),
     ("+collapse.length_fraction=0.5", "collapse.length_fraction"),
     ("collapse.window_steps=0", "collapse.window_steps"), ("+collapse.fraction=0.5", "collapse.fraction"),
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


def test_b_views_follow_one_rule(rows: list[dict]) -> None:
    """B's target: the critical steps from the first one whose result it cannot read, then the answer;
    under mask the last shown result is hidden, so B always computes at least one step."""
    r = next(r for r in rows if len(critical_steps(r["segments"])) >= 3)
    steps, boxed = critical_steps(r["segments"]), f"\\boxed{{{r['answer']}}}"
    rng = random.Random(0)
    for _ in range(20):  # the last one or two steps are missing, and B's target finishes them
        cot, target = examples.b_view(r, "partial", rng)
        shown = cot.removesuffix(cot[cot.find(" \\boxed"):] if "\\boxed" in cot else "")
        missing = len(steps) - len(shown.split(". "))
        assert missing in (1, 2) and shown == " ".join(steps[:-missing])
        assert target == " ".join(steps[-missing:]) + " " + boxed
        cot, target = examples.b_view(r, "masked_partial", rng)
        assert M in cot and target.startswith(next(s for s in reversed(steps) if s.split(": ")[0] in cot))
    assert examples.b_view(r, "none", rng) == ("", boxed)
    assert examples.b_view(r, "critical", rng) == (" ".join(steps) + " " + boxed, boxed)
    assert examples.b_view(r, "full", rng) == (r["reference_cot"] + " " + boxed, boxed)
    cot, target = examples.b_view(r, "masked_critical", rng)
    assert cot.endswith(f"= {M}. \\boxed{{{M}}}") and target == f"{steps[-1]} {boxed}"
    cot, target = examples.b_view(r, "masked_full", rng)
    assert r["answer"] not in re.findall(r"\d+", cot) and target == f"{steps[-1]} {boxed}"
    one = next(r for r in rows if len(critical_steps(r["segments"])) == 1)
    cot, target = examples.b_view(one, "partial", rng)  # a one-step question: its step, unboxed
    assert cot == critical_steps(one["segments"])[0] and target == f"\\boxed{{{one['answer']}}}"
    with pytest.raises(ValueError, match="unknown B view 'masked'"):
        examples.b_view(r, "masked", rng)


def test_reading_a_cot_back_labels_every_sentence_and_checks_the_arithmetic(rows: list[dict]) -> None:
    for r in rows:
        labelled = testbed_reading.as_segments(f"{r['reference_cot']} \\boxed{{{r['answer']}}}")
        assert [x["kind"] for x in labelled[:-1]] == [x["kind"] for x in r["segments"]]
        assert labelled[-1]["kind"] == "answer"
        kept = testbed_reading.steps_kept(r["reference_cot"], r)
        assert all(kept.kept) and all(kept.correct) and not kept.leaves_last_to_b
    r = next(r for r in rows if len(critical_steps(r["segments"])) >= 3)
    steps = critical_steps(r["segments"])
    wrong = steps[1].rsplit("= ", 1)[0] + "= 99."  # the story's step, a wrong result
    kept = testbed_reading.steps_kept(" ".join([steps[0], wrong]), r)
    assert kept.kept[:2] == [True, True] and kept.correct[:2] == [True, False] and kept.leaves_last_to_b
    assert testbed_reading.steps_kept("\\boxed{3}", r).no_steps


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
    metrics = {"a_greedy": 0.5, "a_sampled": 0.6, "a_direct": 0.1, "b_alone": 0.05, "truncated": 0.0,
               "b_finish/mask": 0.2, "b_reads_c_orig/mask": 0.5}
    cfg = validate(compose_config(["experiment=testbed"]))
    results = gate.checks(metrics, cfg.warmstart.gate, ["mask"])
    with pytest.raises(gate.GateError, match=r"a_greedy=0\.500 \(needs >= 0\.8\).*b_finish/mask=0\.200 \(needs >= 0\.425\)"):
        gate.enforce(results)
    gate.enforce(gate.checks({**metrics, "a_greedy": 0.9, "b_finish/mask": 0.8, "b_reads_c_orig/mask": 0.85},
                             cfg.warmstart.gate, ["mask"]))
    assert not any(c.metric == "a_direct" for c in results)  # reported by operations, never gated


def test_the_gate_checks_b_under_every_rule_an_arm_with_b_reads_by() -> None:
    from hawkeye.training.arms import reading_rules

    cfg = validate(compose_config(["experiment=testbed", "arms.run=[b_mask,no_b,b_allow,b_mask_short]"]))
    assert sorted(reading_rules(cfg)) == ["allow", "mask"]  # b_mask, b_allow, b_mask_short
    only_no_b = validate(compose_config(["experiment=testbed", "arms.run=[no_b]"]))
    assert reading_rules(only_no_b) == []


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
    from hawkeye.replicates import replicate_config
    from hawkeye.training.arms import jobs

    cfg = validate(compose_config(["experiment=testbed", "arms.seeds=[1,2]"]))
    arms = ["b_mask", "no_b"]  # the default trains only the arms its headline compares
    assert [(arm, seed) for arm, seed, _ in jobs(cfg)] == [(arm, seed) for arm in arms for seed in (1, 2)]
    cfg = validate(compose_config(["experiment=testbed", "arms.seeds=[1,2]", "arms.run=[b_mask,no_b_short]"]))
    overrides = dict(o.split("=", 1) for o in jobs(replicate_config(cfg, 3))[-1][2])
    assert overrides["responder.name_or_path"] == "null" and overrides["tracking.arm"] == "no_b_short"
    # relative as configured: the run's config.json must name no folder of the machine it ran on
    assert overrides["paths.train_dir"] == "runs/train/ws3/no_b_short/seed2" and overrides["seed"] == "2"
    assert overrides["alpha"] == "0.1"  # the short setting's own target


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
