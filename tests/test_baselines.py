"""The supervised baselines: what each trains on, a tiny run end to end (its folder, its MLflow run, the
evaluation finding it), a run killed mid-way that resumes, bad input, and the comparison table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import pytest
import torch

from conftest import TESTBED_SPEC, compose_config
from hawkeye.baselines import targets
from hawkeye.baselines.runs import INPUTS, inputs
from hawkeye.baselines.train import LOSS, run_baselines
from hawkeye.config import validate
from hawkeye.data.schema import make_curated_row
from hawkeye.data.sources.testbed import critical_cot, generate
from hawkeye.errors import ConfigError, DataError
from hawkeye.files import write_jsonl
from hawkeye.models.load import load_causal_lm, resolve_model_path
from hawkeye.reporting.comparison import comparison_section
from hawkeye.runtime import start
from hawkeye.selection import latency_run, trained_runs
from hawkeye.warmstart import sft
from hawkeye.warmstart.examples import a_target
from test_runs import make_arm


def curated_rows(n: int = 8) -> list[dict[str, Any]]:
    """Curated testbed rows: A's CoT is the reference; every third one got the answer wrong."""
    rows = []
    for i, row in enumerate(generate("testbed_train", n, 7, TESTBED_SPEC)):
        cot = a_target(row)
        refined = critical_cot(row["segments"]) if i % 4 else critical_cot(row["segments"]) + " \\boxed{" + row["answer"] + "}"
        rows.append(dict(make_curated_row(row, cot_orig=cot, cot_orig_tokens=20, orig_correct=i % 3 != 0,
                                          cot_refined=refined, cot_refined_tokens=10, refine_rejected=False,
                                          flags=[])))
    return rows


# --- what each baseline trains on ------------------------------------------------------------------


def test_each_baseline_trains_on_its_own_targets(tmp_path: Path) -> None:
    rows = curated_rows()
    refined = targets.targets("sft_refined", rows, tmp_path / "train.jsonl")
    correct = [r for r in rows if r["orig_correct"]]
    assert [q for q, _ in refined] == [r["question"] for r in correct]  # A's own mistakes are not taught
    for (_, target), r in zip(refined, correct, strict=True):
        assert target.count("\\boxed{") == 1 and target.endswith(f"\\boxed{{{r['answer']}}}")
        assert target.startswith(r["cot_refined"].split(" \\boxed")[0])
    critical = targets.targets("sft_critical", rows, tmp_path / "train.jsonl")
    assert [t for _, t in critical] == [f"{critical_cot(r['segments'])} \\boxed{{{r['answer']}}}" for r in rows]


def test_rows_a_baseline_cannot_train_on_fail_naming_file_and_row(tmp_path: Path) -> None:
    rows = curated_rows(3)
    del rows[1]["segments"]
    with pytest.raises(DataError, match=r"train.jsonl:2: row 'testbed_train-\d+' has no 'segments'"):
        targets.targets("sft_critical", rows, tmp_path / "train.jsonl")
    wrong = [{**r, "orig_correct": False} for r in rows]
    with pytest.raises(DataError, match="train.jsonl: no row to train sft_refined on"):
        targets.targets("sft_refined", wrong, tmp_path / "train.jsonl")


@pytest.mark.parametrize(("override", "key"), [("baselines.run=[sft_x]", "baselines.run"),
                                               ("baselines.steps=0", "baselines.steps"),
                                               ("baselines.seeds=[1,1]", "baselines.seeds"),
                                               ("baselines.lr=0", "baselines.lr")])
def test_bad_baselines_config_names_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate(compose_config([override]))


# --- a tiny run end to end --------------------------------------------------------------------------


def _cfg(tmp_path: Path, models_dir: Path, *overrides: str) -> Any:
    return start(compose_config([
        "experiment=smoke", f"paths.models_dir={models_dir}", f"paths.curated_dir={tmp_path / 'curated'}",
        f"paths.train_dir={tmp_path / 'train'}", f"paths.baselines_dir={tmp_path / 'baselines'}",
        "eval.policy_checkpoint=auto", "arms.default=b_mask", "reward.answer_leak=allow", "baselines.run=[sft_critical]", "baselines.seeds=[1]",
        "baselines.steps=6", "baselines.batch_size=2", "baselines.warmup_steps=1",
        "baselines.checkpoint_every_n_steps=3", "baselines.jobs=1", *overrides]))


def test_a_baseline_run_is_an_arm_run_the_evaluation_finds(tmp_path: Path, tiny_models_dir: Path,
                                                            mlflow_uri: str) -> None:
    write_jsonl(tmp_path / "curated" / "train.jsonl", curated_rows())
    cfg = _cfg(tmp_path, tiny_models_dir)
    run_baselines(cfg)

    run_dir = tmp_path / "baselines" / "sft_critical" / "seed1"
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["tracking.arm"], config["seed"], config["responder.name"]) == ("sft_critical", 1, "none")
    assert config["reward.answer_leak"] == "mask"  # the default arm's rule: its A → B rows read like b_mask's
    assert json.loads((run_dir / INPUTS).read_text()) == inputs(cfg)
    base = load_causal_lm(resolve_model_path(str(cfg.policy.name_or_path), str(tiny_models_dir)))
    tuned = load_causal_lm(str(run_dir / "final"))
    assert any(not torch.equal(p, q) for p, q in zip(base.parameters(), tuned.parameters(), strict=True))

    (run,) = mlflow.search_runs(filter_string="tags.stage = 'baselines'", search_all_experiments=True,
                                output_format="list")
    assert run.data.tags["arm"] == "sft_critical" and run.info.status == "FINISHED"
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, LOSS)
    assert sorted(m.step for m in history) == list(range(6))
    assert run_baselines(cfg) == {}  # already trained: nothing runs again
    assert len(mlflow.search_runs(filter_string="tags.stage = 'baselines'", search_all_experiments=True)) == 1

    assert latency_run(cfg, trained_runs(cfg)) is None  # without GRPO runs the base A is timed, never a baseline
    make_arm(tmp_path / "train", "b_mask", 1, leak="mask")
    found = trained_runs(cfg)
    assert [(r.key, r.source) for r in found] == [("b_mask/seed1", "arm"), ("sft_critical/seed1", "baseline")]
    assert not found[1].uses_b and found[1].answer_leak == "mask"
    assert latency_run(cfg, found).key == "b_mask/seed1"  # a baseline is never timed as Hawkeye


def test_a_baseline_killed_mid_way_resumes_from_its_checkpoint(tmp_path: Path, tiny_models_dir: Path,
                                                               mlflow_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    write_jsonl(tmp_path / "curated" / "train.jsonl", curated_rows())
    straight = _cfg(tmp_path, tiny_models_dir, f"paths.baselines_dir={tmp_path / 'straight'}")
    run_baselines(straight)

    class Killed(Exception):
        pass

    original = sft.SFTModule.training_step

    def killed_at_step_4(self: sft.SFTModule, batch: Any, idx: int) -> Any:
        if self.global_step == 4:
            raise Killed
        return original(self, batch, idx)

    cfg = _cfg(tmp_path, tiny_models_dir)
    monkeypatch.setattr(sft.SFTModule, "training_step", killed_at_step_4)
    with pytest.raises(Killed):
        run_baselines(cfg)
    run_dir = tmp_path / "baselines" / "sft_critical" / "seed1"
    assert (run_dir / "checkpoints" / "last.ckpt").is_file() and not (run_dir / "config.json").exists()
    assert trained_runs(cfg) == []  # an unfinished run is not evaluated
    monkeypatch.setattr(sft.SFTModule, "training_step", original)
    run_baselines(cfg)

    resumed = mlflow.search_runs(filter_string="tags.stage = 'baselines' and attributes.status = 'FINISHED'",
                                 search_all_experiments=True, output_format="list", order_by=["start_time DESC"])[0]
    assert resumed.data.tags["resumed_from_step"] == "3"  # the checkpoint of step 3
    a = load_causal_lm(str(tmp_path / "straight" / "sft_critical" / "seed1" / "final"))
    b = load_causal_lm(str(run_dir / "final"))
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=0)


def test_a_missing_curated_file_fails_naming_it(tmp_path: Path, tiny_models_dir: Path, mlflow_uri: str) -> None:
    cfg = _cfg(tmp_path, tiny_models_dir)
    with pytest.raises(DataError, match=str(tmp_path / "curated" / "train.jsonl")):
        run_baselines(cfg)
    assert not (tmp_path / "baselines").exists()


# --- which baseline runs the evaluation uses -------------------------------------------------------


def test_the_evaluation_leaves_out_stale_baselines_and_refuses_clashing_names(tmp_path: Path) -> None:
    def config(*overrides: str) -> Any:
        return compose_config(["experiment=smoke", f"paths.curated_dir={tmp_path / 'curated'}",
                               f"paths.train_dir={tmp_path / 'train'}", f"paths.baselines_dir={tmp_path / 'baselines'}",
                               "eval.policy_checkpoint=auto", *overrides])

    write_jsonl(tmp_path / "curated" / "train.jsonl", curated_rows())
    cfg = config()
    make_arm(tmp_path / "train", "no_b", 1, responder="none")
    for seed in (1, 2):
        run = make_arm(tmp_path / "baselines", "sft_refined", seed, responder="none")
        (run / INPUTS).write_text(json.dumps(inputs(cfg)))
    assert [r.key for r in trained_runs(cfg)] == ["no_b/seed1", "sft_refined/seed1", "sft_refined/seed2"]

    assert [r.key for r in trained_runs(config("policy.name_or_path='tiny:qwen2?seed=5'"))] == ["no_b/seed1"]  # another A
    assert [r.key for r in trained_runs(config("paths.baselines_dir=null"))] == ["no_b/seed1"]
    write_jsonl(tmp_path / "curated" / "train.jsonl", curated_rows(5))  # curated again: the runs are stale
    assert [r.key for r in trained_runs(cfg)] == ["no_b/seed1"]

    run = make_arm(tmp_path / "baselines", "no_b", 2, responder="none")
    (run / INPUTS).write_text(json.dumps(inputs(cfg)))
    with pytest.raises(DataError, match=r"\['no_b'\] name both GRPO runs .* and baseline runs"):
        trained_runs(cfg)


# --- the comparison table ---------------------------------------------------------------------------


def agg(arm: str, reader: str, acc: float, delta: tuple[float, float, float], comp: float, tokens: float,
        leak: str = "mask", seeds: int = 3) -> dict[str, Any]:
    """One seed in each of `seeds` warm starts."""
    return {"arm": arm, "reader": reader, "seeds": list(range(1, seeds + 1)), "answer_leak": leak,
            "warm_starts": [f"ws{k}" for k in range(1, seeds + 1)],
            "uses_b_in_training": arm == "b_mask", "accuracy_mean": acc, "accuracy_sd": 0.02,
            "b_tokens_mean": 5.0 if reader == "A → B" else 0.0,
            "ab_tokens_mean": tokens + (5.0 if reader == "A → B" else 0.0), "compression_ab_mean": comp - 0.1,
            "cot_tokens_mean": tokens, "cot_tokens_sd": 1.5, "compression_mean": comp, "compression_sd": 0.01,
            "accuracy_delta_pooled": delta[0], "accuracy_delta_pooled_ci_low": delta[1],
            "accuracy_delta_pooled_ci_high": delta[2]}


def evaluation(arms: list[dict[str, Any]]) -> dict[str, Any]:
    base = {"key": "baseline", "arm": "base A", "reader": "A alone", "seeds": ["ws1", "ws2", "ws3"], "accuracy_mean": 0.84, "cot_tokens_mean": 79.4,
            "ab_tokens_mean": 79.4}
    return {"results": {"testbed_test": {"n": 200, "methods": [base, *arms]}},
            "context": {"confidence": 0.95}}


def test_the_comparison_table_has_every_method_and_says_which_wins() -> None:
    arms_cfg = compose_config(["arms.default=b_mask", "arms.pairs={default:[b_mask,no_b]}"]).arms
    arms = [agg("sft_refined", "A alone", 0.78, (-0.06, -0.10, -0.02), 0.54, 36.6),
            agg("sft_refined", "A → B", 0.79, (-0.05, -0.09, -0.01), 0.54, 36.6),
            agg("sft_critical", "A alone", 0.83, (-0.01, -0.05, 0.03), 0.55, 36.0),
            agg("sft_critical", "A → B", 0.82, (-0.02, -0.06, 0.02), 0.55, 36.0),
            agg("no_b", "A alone", 0.70, (-0.14, -0.19, -0.09), 0.60, 31.8, leak="allow"),
            agg("no_b", "A → B", 0.69, (-0.15, -0.20, -0.10), 0.60, 31.8, leak="allow"),  # not its deployment
            agg("b_mask", "A alone", 0.80, (-0.04, -0.08, 0.00), 0.58, 33.4),               # not its deployment
            agg("b_mask", "A → B", 0.81, (-0.03, -0.07, 0.01), 0.58, 33.4)]
    text = "\n".join(comparison_section(evaluation(arms), arms_cfg))
    table = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert table == [
        "| Baseline | base A | A alone | 3 | 84.0 | 79.4 | 79.4 | – | – |",
        "| SFT-refined | `sft_refined` | A alone | 3 | 78.0 ± 2.0 | 36.6 | 36.6 | 44.0 | -6.0 [-10.0, -2.0] |",
        "| SFT-refined | `sft_refined` | A → B (B reads `mask`) | 3 | 79.0 ± 2.0 | 36.6 | 41.6 | 44.0 | "
        "-5.0 [-9.0, -1.0] |",
        "| SFT-critical (ground truth) | `sft_critical` | A alone | 3 | 83.0 ± 2.0 | 36.0 | 36.0 | 45.0 | "
        "-1.0 [-5.0, 3.0] |",
        "| SFT-critical (ground truth) | `sft_critical` | A → B (B reads `mask`) | 3 | 82.0 ± 2.0 | 36.0 | 41.0 | "
        "45.0 | -2.0 [-6.0, 2.0] |",
        "| GRPO without B | `no_b` | A alone | 3 | 70.0 ± 2.0 | 31.8 | 31.8 | 50.0 | -14.0 [-19.0, -9.0] |",
        "| GRPO with B | `b_mask` | A → B (B reads `mask`) | 3 | 81.0 ± 2.0 | 33.4 | 38.4 | 48.0 | "
        "-3.0 [-7.0, 1.0] |",
    ]
    # decided by each interval: below 0 is lower, straddling 0 cannot tell; no "no detectable loss" wording
    assert "**lower**: SFT-refined (A alone) -6.0 [-10.0, -2.0], SFT-refined (A → B) -5.0 [-9.0, -1.0], " \
           "GRPO without B (A alone) -14.0 [-19.0, -9.0]" in text
    assert "**cannot tell**: SFT-critical (ground truth) (A alone) -1.0 [-5.0, 3.0]" in text
    assert "detectable" not in text


def test_the_comparison_table_without_baselines_or_evaluation_says_so() -> None:
    arms_cfg = compose_config(["arms.default=b_mask", "arms.pairs={default:[b_mask,no_b]}"]).arms
    text = "\n".join(comparison_section(evaluation([agg("b_mask", "A → B", 0.7, (-0.14, -0.2, -0.1), 0.5, 40.0)]),
                                        arms_cfg))
    assert "| SFT-refined | `sft_refined` | A alone | 0 | _not evaluated_ | – | – | – | – |" in text
    assert "| GRPO without B | `no_b` | A alone | 0 | _not evaluated_ | – | – | – | – |" in text
    assert "**lower**: GRPO with B (A → B) -14.0 [-20.0, -10.0]" in text
    # the same interval from the seeds of one warm start decides nothing
    one_ws = agg("b_mask", "A → B", 0.7, (-0.14, -0.2, -0.1), 0.5, 40.0, seeds=1)
    text = "\n".join(comparison_section(evaluation([one_ws]), arms_cfg))
    assert "**cannot tell**: GRPO with B (A → B) -14.0 [-20.0, -10.0]" in text and "**lower**" not in text
    assert "1 warm start; a verdict needs 3" in text
    assert "_No evaluation results" in "\n".join(comparison_section(None, arms_cfg))


def test_the_report_carries_the_comparison() -> None:
    from hawkeye.reporting.summary import render_summary

    cfg = compose_config([])
    text = render_summary("hawkeye", {}, [], [], cfg.collapse, [], [], None, arms_cfg=cfg.arms)
    assert "## One table: Baseline, supervised baselines and GRPO (held-out)" in text
