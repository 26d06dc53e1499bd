"""Evaluation rows from arm folders: discovery, which A is timed, B reading each arm's CoT the way
it trained, the table with intervals and the mean ± sd over seeds. Fake backends: no models."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import compose_config
from hawkeye.errors import ConfigError, DataError, ModelError
from hawkeye.evaluation.systems import evaluate_systems
from hawkeye.evaluation.table import aggregate_arms, score_systems
from hawkeye.generation.base import Generation
from hawkeye.models.resolve import Model
from hawkeye.runs import discover_arm_runs
from hawkeye.selection import latency_run, trained_runs


def make_arm(train_dir: Path, arm: str, seed: int, leak: str = "allow", responder: str = "tiny-responder",
             model_from: Path | None = None, **extra: Any) -> Path:
    """An arm run folder as src/train.py leaves it: final/, config.json and checkpoints/mlflow_run.json."""
    run_dir = train_dir / arm / f"seed{seed}"
    final = run_dir / "final"
    if model_from is not None:
        import shutil

        shutil.copytree(model_from, final)
    else:
        final.mkdir(parents=True)
        (final / "config.json").write_text("{}")
    config = {"tracking.arm": arm, "seed": seed, "reward.answer_leak": leak, "responder.name": responder,
              "lambda": 0.001, "alpha": 0.3, **extra}
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(config))
    (run_dir / "checkpoints" / "mlflow_run.json").write_text(json.dumps({"run_id": f"r-{arm}-{seed}"}))
    return run_dir


def _cfg(train_dir: Path, *overrides: str) -> Any:
    return compose_config(["experiment=smoke", f"paths.train_dir={train_dir}", "eval.policy_checkpoint=auto",
                           *overrides])


def test_arms_are_discovered_from_folders_with_their_own_config(tmp_path: Path) -> None:
    for arm, leak, resp in (("b_allow", "allow", "tiny-responder"), ("b_mask", "mask", "tiny-responder"),
                            ("no_b", "allow", "none")):
        for seed in (2, 1):
            make_arm(tmp_path, arm, seed, leak, resp)
    runs = discover_arm_runs(tmp_path)
    assert [r.key for r in runs] == ["b_allow/seed1", "b_allow/seed2", "b_mask/seed1", "b_mask/seed2",
                                     "no_b/seed1", "no_b/seed2"]
    by_key = {r.key: r for r in runs}
    assert by_key["b_mask/seed2"].answer_leak == "mask" and by_key["b_mask/seed2"].uses_b
    assert not by_key["no_b/seed1"].uses_b and by_key["no_b/seed1"].path == tmp_path / "no_b" / "seed1" / "final"
    assert by_key["b_allow/seed1"].alpha == 0.3 and by_key["b_allow/seed1"].run_id == "r-b_allow-1"


def test_arm_name_comes_from_the_config_else_the_folder(tmp_path: Path) -> None:
    make_arm(tmp_path, "folder_name", 1, **{"tracking.arm": None})
    assert [r.arm for r in discover_arm_runs(tmp_path)] == ["folder_name"]


def test_policy_checkpoint_choices(tmp_path: Path) -> None:
    train = tmp_path / "train"
    assert trained_runs(_cfg(train)) == []                       # nothing trained yet: base rows only
    (train / "final").mkdir(parents=True)
    (train / "final" / "config.json").write_text("{}")
    single = trained_runs(_cfg(train))                           # the single-run layout
    assert [(r.arm, r.source) for r in single] == [("trained", "single")]
    make_arm(train, "b_allow", 1)
    assert [r.key for r in trained_runs(_cfg(train))] == ["b_allow/seed1"]  # arms win when they exist
    assert trained_runs(_cfg(train, "eval.policy_checkpoint=null")) == []
    (path,) = trained_runs(_cfg(train, f"eval.policy_checkpoint={train / 'final'}"))
    assert (path.arm, path.path) == ("checkpoint", train / "final")


def test_bad_arm_folders_fail_naming_the_file_and_key(tmp_path: Path) -> None:
    run_dir = make_arm(tmp_path, "b_allow", 1)
    info = run_dir / "config.json"
    data = json.loads(info.read_text())
    del data["reward.answer_leak"]
    info.write_text(json.dumps(data))
    with pytest.raises(DataError, match=re.escape(f"{info}: config has no key 'reward.answer_leak'")):
        discover_arm_runs(tmp_path)
    info.write_text("{not json")
    with pytest.raises(DataError, match=re.escape(str(info))):
        discover_arm_runs(tmp_path)
    unfinished = make_arm(tmp_path / "t2", "no_b", 1)
    (unfinished / "final" / "config.json").unlink()
    with pytest.raises(ModelError, match="no final/ model"):
        discover_arm_runs(tmp_path / "t2")


def test_two_folders_claiming_one_arm_and_seed_are_refused(tmp_path: Path) -> None:
    make_arm(tmp_path, "a", 1)
    make_arm(tmp_path, "b", 1, **{"tracking.arm": "a"})
    with pytest.raises(DataError, match="two runs claim arm 'a' seed 1"):
        discover_arm_runs(tmp_path)


def test_latency_arm_is_its_first_seed_and_a_missing_one_names_the_key(tmp_path: Path) -> None:
    for seed in (3, 1, 2):
        make_arm(tmp_path, "b_allow", seed)
    make_arm(tmp_path, "no_b", 1, responder="none")
    cfg = _cfg(tmp_path, "arms.default=b_allow")  # the default arm is the one timed
    assert cfg.eval.latency_arm == "b_allow" and latency_run(cfg, trained_runs(cfg)).key == "b_allow/seed1"
    cfg = _cfg(tmp_path, "eval.latency_arm=no_b")
    assert latency_run(cfg, trained_runs(cfg)).key == "no_b/seed1"
    cfg = _cfg(tmp_path, "eval.latency_arm=b_mask")
    with pytest.raises(ConfigError, match=r"eval.latency_arm'='b_mask' is not among .*\['b_allow', 'no_b'\]"):
        latency_run(cfg, trained_runs(cfg))


# --- B reads each arm's CoT the way that arm trained ------------------------------------------------


class FakeTokenizer:
    def apply_chat_template(self, messages: list[dict[str, str]], tokenize: bool = False,
                            add_generation_prompt: bool = True) -> str:
        return messages[-1]["content"]


class FakeA:
    """A 'model' whose CoT is fixed per folder: `words` filler words then the answer, boxed."""

    def __init__(self, words: int) -> None:
        self.words, self.tokenizer = words, FakeTokenizer()

    def generate(self, prompts: list[str], params: Any) -> list[Generation]:
        out = []
        for p in prompts:
            a, b = map(int, re.findall(r"\d+", p)[:2])
            text = " ".join(["hmm"] * self.words) + f" so \\boxed{{{a + b}}}"
            out.append(Generation(text, list(range(self.words + 3)) + [0], finish_reason="stop"))
        return out

    def close(self) -> None:
        pass


class FakeB(FakeA):
    """Copies the boxed answer it can see in the CoT, else answers 0 (it cannot add)."""

    def generate(self, prompts: list[str], params: Any) -> list[Generation]:
        out = []
        for p in prompts:
            seen = re.search(r"Reasoning: .*\\boxed\{(\d+)\}", p)
            out.append(Generation(f"\\boxed{{{seen.group(1) if seen else 0}}}", [1, 2, 0], finish_reason="stop"))
        return out


def test_systems_read_each_arm_the_way_it_trained(tmp_path: Path) -> None:
    make_arm(tmp_path, "b_allow", 1, "allow")
    make_arm(tmp_path, "b_allow", 2, "allow")
    make_arm(tmp_path, "b_mask", 1, "mask")
    cfg = _cfg(tmp_path, "reward.answer_leak=mask", "eval.include_b_alone=true")
    runs = trained_runs(cfg)
    words = {"base": 9, "b_allow/seed1": 1, "b_allow/seed2": 3, "b_mask/seed1": 1}
    backends = {"base": FakeA(9), "B": FakeB(0), **{r.key: FakeA(words[r.key]) for r in runs}}
    opened: list[str] = []

    @contextlib.contextmanager
    def open_backend(model: Model) -> Iterator[Any]:
        opened.append(model.path)
        yield backends[model.path]

    rows = [{"id": f"q{i}", "question": f"What is {i} + {i + 1}?", "answer": str(2 * i + 1)} for i in range(6)]
    base, b = Model("baseline_a", "base", None, None), Model("responder", "B", None, None)
    out = evaluate_systems(cfg, {"test": rows}, base, b, [(r, Model(r.key, r.key, None, None)) for r in runs],
                           open_backend, (32, 8))
    assert opened == ["base", "b_allow/seed1", "b_allow/seed2", "b_mask/seed1", "B"]  # one model loaded at a time
    systems, samples = out["test"]
    table = {r["key"]: r for r in score_systems(systems, 0.95, 500, 0)}
    assert list(table) == ["baseline", "base_a_b", "b_alone", "b_allow/seed1/a", "b_allow/seed1/a_b",
                           "b_allow/seed2/a", "b_allow/seed2/a_b", "b_mask/seed1/a", "b_mask/seed1/a_b"]
    assert table["baseline"]["accuracy"] == 1.0 and table["baseline"]["cot_tokens"] == 12  # 9 + 3, EOS not counted
    assert table["base_a_b"]["accuracy"] == 0.0       # config: mask; B cannot add
    assert table["b_allow/seed1/a_b"]["accuracy"] == 1.0  # allow: B copies A's stated answer
    assert table["b_mask/seed1/a_b"]["accuracy"] == 0.0   # mask: the stated answer is gone
    assert table["b_mask/seed1/a"]["accuracy"] == 1.0
    assert table["b_alone"]["accuracy"] == 0.0
    r = table["b_allow/seed1/a"]
    assert (r["cot_tokens"], r["token_delta"]) == (4, -8)
    assert (r["token_delta_ci_low"], r["token_delta_ci_high"]) == (-8, -8)
    assert r["compression"] == pytest.approx(1 - 4 / 12)
    seen = {s["system"]: s["cot_seen_by_b"] for s in samples if s["id"] == "q1" and "cot_seen_by_b" in s}
    assert "\\boxed{3}" in seen["b_allow/seed1/a_b"] and "3" not in seen["b_mask/seed1/a_b"]

    arms = {(a["arm"], a["reader"]): a for a in aggregate_arms(list(table.values()), systems, 0.95, 500, 0)}
    allow = arms["b_allow", "A alone"]
    assert allow["seeds"] == [1, 2] and allow["cot_tokens_mean"] == 5 and allow["cot_tokens_sd"] == pytest.approx(2 ** 0.5)
    assert arms["b_mask", "A → B"]["accuracy_sd"] != arms["b_mask", "A → B"]["accuracy_sd"]  # NaN: one seed
    # pooled over seeds, paired by question against the Baseline (all right): mask's A → B lost every answer
    mask = arms["b_mask", "A → B"]
    assert (mask["accuracy_delta_pooled"], mask["accuracy_delta_pooled_ci_low"]) == (-1.0, -1.0)


def test_pooled_accuracy_difference_pairs_questions_over_seeds() -> None:
    from hawkeye.evaluation.table import A_ALONE, A_TO_B, SystemResult

    base = SystemResult("baseline", "Baseline", A_ALONE, [True, False] * 20, [10] * 40)
    # seed 1 loses question 0, seed 2 wins question 1: pooled, the arm is even with the Baseline
    one = SystemResult("arm/seed1/a_b", "s1", A_TO_B, [False, False] + [True, False] * 19, [5] * 40, arm="arm", seed=1)
    two = SystemResult("arm/seed2/a_b", "s2", A_TO_B, [True, True] + [True, False] * 19, [5] * 40, arm="arm", seed=2)
    rows = score_systems([base, one, two], 0.95, 1000, 0)
    assert [r["accuracy_delta"] for r in rows] == pytest.approx([0.0, -1 / 40, 1 / 40])
    (arm,) = aggregate_arms(rows, [base, one, two], 0.95, 1000, 0)
    assert arm["accuracy_delta_pooled"] == pytest.approx(0.0)
    assert arm["accuracy_delta_pooled_ci_low"] < 0 < arm["accuracy_delta_pooled_ci_high"]


def test_accuracy_interval_is_reported_per_row() -> None:
    from hawkeye.evaluation.table import A_ALONE, SystemResult

    base = SystemResult("baseline", "Baseline", A_ALONE, [True, False] * 20, [10] * 40)
    rows = score_systems([base], 0.95, 1000, 0)
    assert rows[0]["accuracy"] == 0.5 and rows[0]["accuracy_ci_low"] < 0.5 < rows[0]["accuracy_ci_high"]
    # The token delta pairs question i of both rows: a saving of exactly 2 tokens on every question
    # has a zero-width interval however much questions differ in length.
    trained = SystemResult("arm/seed1/a", "arm", A_ALONE, [True] * 40, [10 - 2, 50 - 2] * 20, arm="arm", seed=1)
    base_long = SystemResult("baseline", "Baseline", A_ALONE, [True] * 40, [10, 50] * 20)
    delta = score_systems([base_long, trained], 0.95, 1000, 0)[1]
    assert (delta["token_delta"], delta["token_delta_ci_low"], delta["token_delta_ci_high"]) == (-2, -2, -2)
    with pytest.raises(ValueError, match="Baseline"):
        score_systems([SystemResult("x", "x", A_ALONE, [True], [1])], 0.95, 1000, 0)
