"""The report: arm curves first → last, the collapse verdict for every outcome, the Pareto of every
finished MLflow train run, the evaluation tables, and the figures. Synthetic runs: no models."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import pytest

from conftest import compose_config
from hawkeye.collapse import window
from hawkeye.paths import REPO_ROOT
from hawkeye.reporting.curves import read_curve, summarize_arms, summarize_run
from hawkeye.reporting.verdict import claim_sentence, per_arm_lines
from hawkeye.runs import discover_arm_runs
from hawkeye.tracking.names import train_metric
from test_runs import make_arm

ORIG = 60.0  # len(c_orig) of the synthetic runs
ALPHA = 0.3
CRIT = 24.0  # their critical content (ground truth), in A's tokens
ROLLOUTS = 16  # per step: the k rule's n (k = 4 meets its SE bound at the default 0.2 margin)


def rule(window_steps: int = 5) -> dict:
    return {"steps_share": 0.5, "margin": 0.2, "window_steps": window_steps}


def curve(length_from: float, length_to: float, em_from: float, em_to: float, share_from: float = 0.0,
          share_to: float = 0.0, steps: int = 20, linear: bool = False, rollouts: int = ROLLOUTS) -> list[dict]:
    """Per-step CoT length (relative to c_orig), EM and collapsed share: linear, or reaching the end
    values at 60% of the run and staying there (as a collapse does)."""
    out = []
    for s in range(steps):
        t = s / (steps - 1) if linear else min(1.0, s / (0.6 * (steps - 1)))
        out.append({"step": s, "cot_tokens_mean": ORIG * (length_from + t * (length_to - length_from)),
                    "em": em_from + t * (em_to - em_from), "orig_tokens_mean": ORIG, "critical_tokens_mean": CRIT,
                    "collapsed_share": share_from + t * (share_to - share_from), "rollouts": rollouts})
    return out


def collapsing(length_to: float = 0.05, em_to: float = 0.1, **kw: Any) -> list[dict]:
    """A no-B collapse: short, wrong, and most rollouts collapsed on their question by the end."""
    return curve(1.0, length_to, 0.8, em_to, share_from=0.05, share_to=0.8, **kw)


def write_arm(train_dir: Path, arm: str, seed: int, rows: list[dict], responder: str = "tiny-responder",
              leak: str = "allow", as_tsv: bool = True, warm_start: int | None = None) -> Path:
    run_dir = make_arm(train_dir, arm, seed, leak, responder, **{"tracking.warm_start": warm_start})
    metrics: dict[str, Any] = {"steps": len(rows), "first": rows[0], "final": rows[-1],
                               "target_cot_tokens": ALPHA * ORIG}
    if as_tsv:  # a writer that kept the per-step rows in the TSV only (no orig_tokens_mean column)
        columns = [c for c in ("step", "cot_tokens_mean", "critical_tokens_mean", "em", "collapsed_share", "rollouts")
                   if c in rows[0]]
        lines = ["\t".join([*columns, "reward_mean", "penalty"])]
        lines += ["\t".join([*(f"{r[c]:g}" for c in columns), "0", "0"]) for r in rows]
        (run_dir / "collapse_curve.tsv").write_text("\n".join(lines) + "\n")
    else:
        metrics["curve"] = rows
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    return run_dir


def summaries(train_dir: Path, em_window: int = 5) -> list:
    return [summarize_run(r, read_curve(r), rule(em_window)) for r in discover_arm_runs(train_dir)]


def test_curve_from_tsv_and_from_metrics_rows_agree(tmp_path: Path) -> None:
    rows = curve(1.0, 0.5, 0.6, 0.6, 0.1, 0.4, steps=6, linear=True)
    write_arm(tmp_path / "a", "b_allow", 1, rows, as_tsv=True)
    write_arm(tmp_path / "b", "b_allow", 1, rows, as_tsv=False)
    (a,), (b,) = discover_arm_runs(tmp_path / "a"), discover_arm_runs(tmp_path / "b")
    ca, cb = read_curve(a), read_curve(b)
    assert ca.steps == cb.steps == list(range(6))
    assert ca.relative_length == pytest.approx(cb.relative_length)
    assert ca.collapsed_share == pytest.approx(cb.collapsed_share)
    assert ca.collapsed_share == pytest.approx([0.1, 0.16, 0.22, 0.28, 0.34, 0.4])
    assert ca.critical_tokens == cb.critical_tokens == [CRIT] * 6 and ca.rollouts == cb.rollouts == ROLLOUTS
    assert ca.orig_tokens == pytest.approx([ORIG] * 6)  # TSV: len(c_orig) = target_cot_tokens / α


def test_first_and_last_are_window_means(tmp_path: Path) -> None:
    assert (window(20, 5), window(6, 5), window(3, 5), window(1, 5)) == (5, 3, 1, 1)
    write_arm(tmp_path, "b_allow", 1, curve(1.0, 0.1, 0.9, 0.1, 0.0, 0.95, steps=20, linear=True))
    (s,) = summaries(tmp_path, em_window=5)
    step = 0.9 / 19  # the length falls by this much per step
    assert s.k == 5
    assert s.length_first == pytest.approx(1.0 - 2 * step) and s.length_last == pytest.approx(0.1 + 2 * step)
    assert s.em_first == pytest.approx(0.9 - 2 * 0.8 / 19)
    assert s.collapsed_share_first == pytest.approx(2 * 0.05) and s.collapsed_share_last == pytest.approx(0.95 - 2 * 0.05)


@pytest.mark.parametrize(("share_to", "collapsed"), [
    (0.35, True),    # first k -> last k steps: the collapsed share rose 25 points, above the 20-point margin
    (0.25, False),   # 16.5 points: below it
])
def test_collapse_is_the_rise_of_the_collapsed_share(tmp_path: Path, share_to: float, collapsed: bool) -> None:
    """Length and EM alone decide nothing: the same short, wrong curve collapses or not by its share."""
    write_arm(tmp_path, "no_b", 1, curve(1.0, 0.73 * CRIT / ORIG, 0.9, 0.17, 0.05, share_to), responder="none")
    (s,) = summaries(tmp_path)
    assert s.judged and s.collapsed is collapsed


def test_k_follows_the_standard_error_rule(tmp_path: Path) -> None:
    """With one rollout per step the share is noisy: k = 50 steps (sqrt(0.5 / 50) = margin / 2), not window_steps."""
    write_arm(tmp_path, "no_b", 1, collapsing(steps=200, rollouts=1), responder="none")
    (s,) = summaries(tmp_path, em_window=5)
    assert s.k == 50 and s.verdict.se == pytest.approx(0.1) and s.collapsed


def test_runs_without_ground_truth_are_not_judged(tmp_path: Path) -> None:
    """A curve whose steps have no collapsed share (no ground truth, or a curve written before the share
    was recorded) is not judged: never collapsed, and the verdict says so."""
    gsm = [{**r, "collapsed_share": math.nan} for r in collapsing()]
    old = [{k: v for k, v in r.items() if k not in ("collapsed_share", "rollouts")} for r in collapsing()]
    for seed, rows in ((1, gsm), (2, old)):
        write_arm(tmp_path, "no_b", seed, rows, responder="none", as_tsv=seed == 2)
        write_arm(tmp_path, "b_allow", seed, curve(1.0, 0.4, 0.8, 0.78))
    arms = summarize_arms(summaries(tmp_path))
    no_b = next(a for a in arms if a.arm == "no_b")
    assert not no_b.judged and not no_b.collapsed and [r.run.seed for r in no_b.not_judged] == [1, 2]
    assert claim_sentence(arms, PAIRS).startswith("**Setting `default`: not judged.**")
    assert "- `no_b` (trained without B): not judged" in "\n".join(per_arm_lines(arms))


def _arms(tmp_path: Path, no_b_collapses: bool, b_collapses: bool, warm_starts: tuple = (1, 2, 3)) -> list:
    """One run per warm start (seed k in warm start k): three warm starts, the fewest a verdict rests on."""
    for seed, ws in zip((1, 2, 3), warm_starts, strict=True):
        write_arm(tmp_path, "no_b", seed, collapsing() if no_b_collapses else curve(1.0, 0.6, 0.8, 0.8), responder="none",
                  warm_start=ws)
        write_arm(tmp_path, "b_allow", seed, collapsing() if b_collapses else curve(1.0, 0.4, 0.8, 0.78), warm_start=ws)
    return summarize_arms(summaries(tmp_path))


PAIRS = {"default": ["b_allow", "no_b"]}


def test_verdict_when_the_paper_claim_holds(tmp_path: Path) -> None:
    text = claim_sentence(_arms(tmp_path, no_b_collapses=True, b_collapses=False), PAIRS)
    assert text.startswith("**Setting `default`: claim (1) held.**")
    assert "Without B (`no_b`) the policy collapsed in 3 of 3 judged runs (ws1 seed 1, ws2 seed 2, ws3 seed 3)" in text
    assert "with B (`b_allow`, answer_leak=allow) in 0 of 3 judged runs." in text
    assert "without B: collapsed rollouts 18.2% → 80.0% (+61.8 points), training EM -57.7 points" in text


def test_verdict_when_no_b_does_not_collapse(tmp_path: Path) -> None:
    text = claim_sentence(_arms(tmp_path, no_b_collapses=False, b_collapses=False), PAIRS)
    assert text.startswith("**Setting `default`: claim (1) did not hold.**") and "collapsed in 0 of 3 judged runs;" in text


def test_verdict_when_a_b_arm_collapses(tmp_path: Path) -> None:
    text = claim_sentence(_arms(tmp_path, no_b_collapses=True, b_collapses=True), PAIRS)
    assert "did not hold" in text and "with B (`b_allow`, answer_leak=allow) in 3 of 3 judged runs" in text


@pytest.mark.parametrize("warm_starts", [(1, 1, 1), (1, 2, 2), (None, None, None)])
def test_runs_from_fewer_than_three_warm_starts_cannot_tell(tmp_path: Path, warm_starts: tuple) -> None:
    """Seeds of one warm start leave out the spread between warm starts: what they show is no verdict."""
    text = claim_sentence(_arms(tmp_path, no_b_collapses=True, b_collapses=False, warm_starts=warm_starts), PAIRS)
    n = len(set(warm_starts))
    assert text.startswith(f"**Setting `default`: claim (1): cannot tell ({n} warm start")
    assert "a verdict needs 3, as `make replicate` runs" in text and "held" not in text


def test_verdict_per_setting_and_without_a_pair(tmp_path: Path) -> None:
    arms = _arms(tmp_path, no_b_collapses=True, b_collapses=False)
    text = claim_sentence(arms, {**PAIRS, "short": ["b_short", "no_b_short"]})  # the short pair never ran
    assert text.count("**Setting") == 1
    write_arm(tmp_path / "only_b", "b_allow", 1, curve(1.0, 0.4, 0.8, 0.8))
    assert "was not tested" in claim_sentence(summarize_arms(summaries(tmp_path / "only_b")), PAIRS)


def test_arm_mean_and_spread_over_seeds(tmp_path: Path) -> None:
    for seed, end in ((1, 0.2), (2, 0.4), (3, 0.6)):
        write_arm(tmp_path, "b_mask", seed, curve(end, end, 0.5, 0.5, steps=4), leak="mask")
    (arm,) = summarize_arms(summaries(tmp_path))
    mean, sd = arm.mean_sd("length_last")
    assert mean == pytest.approx(0.4) and sd == pytest.approx(0.2)
    assert arm.answer_leak == "mask" and [r.run.seed for r in arm.runs] == [1, 2, 3]


# --- the report stage end to end ----------------------------------------------------------------------


def _load_report_app():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("report_pipeline", REPO_ROOT / "pipelines" / "report.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _log_train_run(client: Any, exp_id: str, lam: float, alpha: float, seed: int, arm: str | None,
                   responder: str, lengths: list[float], ems: list[float], status: str = "FINISHED") -> None:
    run = client.create_run(exp_id, run_name=f"train lambda={lam} alpha={alpha}")
    rid = run.info.run_id
    for k, v in {"lambda": lam, "alpha": alpha, "seed": seed, "responder.name": responder,
                 "reward.answer_leak": "allow"}.items():
        client.log_param(rid, k, str(v))
    client.set_tag(rid, "stage", "train")
    client.set_tag(rid, "arm", arm or "none")
    client.set_tag(rid, "sweep_id", "sweep-x" if arm is None else "none")
    for step, (length, em) in enumerate(zip(lengths, ems, strict=True)):
        client.log_metric(rid, train_metric("cot_tokens_mean"), length, step=step)
        client.log_metric(rid, train_metric("em"), em, step=step)
    client.set_terminated(rid, status)


def _fake_evaluation(eval_dir: Path) -> None:
    from hawkeye.evaluation.replicated import aggregate
    from hawkeye.evaluation.run import write_outputs
    from hawkeye.evaluation.table import (
        A_ALONE,
        A_TO_B,
        SystemResult,
        poster_quality,
        score_systems,
    )

    systems = [SystemResult("baseline", "Baseline (base A alone)", A_ALONE, [True] * 8 + [False] * 2, [60] * 10),
               SystemResult("base_a_b", "Base A → B", A_TO_B, [True] * 7 + [False] * 3, [60] * 10, [5] * 10)]
    for seed in (1, 2):
        systems.append(SystemResult(f"b_allow/seed{seed}/a_b", f"b_allow seed{seed}: A → B", A_TO_B,
                                    [True] * (7 + seed) + [False] * (3 - seed), [30 + seed] * 10, [5] * 10,
                                    arm="b_allow", seed=seed, uses_b_in_training=True, answer_leak="allow"))
    table = score_systems(systems, 0.95, 500, 0)
    per_ws = {"ws1": systems, "ws2": systems}  # two warm starts that came out alike
    cell = {"requests": 30, "failed": 0, "tokens_mean": 60.0, "e2e_s_mean": 1.0, "e2e_s_p50": 0.9, "e2e_s_p90": 1.5,
            "ttft_s_p50": 0.1, "ttft_s_p90": 0.2, "tbt_s_mean": 0.01, "tbt_s_p50": 0.01, "tbt_s_p90": 0.02}
    latency = {"methods": {m: {10: dict(cell)} for m in ("baseline_full", "cot_only", "full")},
               "full_over_baseline": {10: {"e2e_mean": 0.71, "e2e_p50": 0.69}}}
    results = {"test": {"n": 10, "quality": poster_quality(table, "b_allow/seed1/a_b"),
                        "methods": aggregate(per_ws, 0.95, 500, 0),
                        "warm_starts": {ws: {"systems": table} for ws in per_ws}, "latency": latency}}
    write_outputs(eval_dir, results, {"datasets": ["test"], "confidence": 0.95, "bootstrap_resamples": 500,
                                      "models": {}})


def test_report_stage_writes_the_numbers_the_verdict_and_the_figures(smoke_overrides: list[str], tmp_path: Path,
                                                                     mlflow_uri: str) -> None:
    from mlflow import MlflowClient

    train = tmp_path / "train"
    for seed in (1, 2):
        # 64 rollouts per step: the SE rule asks for k = 1, so window_steps=1 sets it
        write_arm(train, "no_b", seed, collapsing(rollouts=64), responder="none")
        write_arm(train, "b_allow", seed, curve(1.0, 0.4, 0.8, 0.78, rollouts=64))
    _fake_evaluation(tmp_path / "eval")
    client = MlflowClient(mlflow_uri)
    exp_id = client.create_experiment("hawkeye-smoke")
    for lam in (0.001, 0.01, 0.1):          # a 3 × 2 λ × α sweep (tag sweep_id)
        for alpha in (0.3, 0.5):
            _log_train_run(client, exp_id, lam, alpha, 42, None, "tiny-responder", [60, 60 * alpha / (1 + lam)],
                           [0.8, 0.7])
    for seed in (1, 2):                     # the arms
        _log_train_run(client, exp_id, 0.001, 0.3, seed, "no_b", "none", [60, 3], [0.8, 0.1])
        _log_train_run(client, exp_id, 0.001, 0.3, seed, "b_allow", "tiny-responder", [60, 24 + seed], [0.8, 0.8])
    _log_train_run(client, exp_id, 9.0, 0.9, 1, None, "x", [1, 1], [0, 0], status="FAILED")  # never drawn

    # runs_dir in tmp_path: the report must not find the gate of a pipeline run in the checkout
    _load_report_app().main(compose_config([*smoke_overrides, "collapse.window_steps=1", "arms.default=b_allow",
                                            "arms.pairs={default:[b_allow,no_b]}", f"paths.runs_dir={tmp_path / 'runs'}"]))
    out = tmp_path / "reports"
    summary = (out / "summary.md").read_text()
    for fig in ("collapse.png", "pareto.png"):
        assert (out / fig).stat().st_size > 10_000
    assert "| no_b | no | – | 2 | 20 | 1 | 1.00 ± 0.00 → 0.05 ± 0.00 |" in summary
    assert "- `no_b` (trained without B): collapsed in 2 of 2 judged seeds (seed 1, seed 2)." in summary
    assert "**Setting `default`: claim (1): cannot tell (1 warm start; a verdict needs 3" in summary
    assert "| no_b | – | 1 | 20 | 1 | 60.0 | 24.0 | 1.00 → 0.05 | 80.0 → 10.0 | 70.0 | 5.0 → 80.0 | yes |" in summary
    assert "(k = 1)" in summary and "at most 10 points" in summary  # the k rule, with the k it gave
    # the default arm against the target: A + B is 36.5 tokens against 60, 39.2% fewer, below 45% on every
    # draw, but two warm starts are too few for a verdict
    assert ("- **test: target cannot tell (2 warm starts; a verdict needs 3, as `make replicate` runs).** `b_allow` "
            "A → B over 2 warm starts × 2 seeds: A + B tokens 39.2% fewer") in summary
    assert "_No gate results (run the gate stage)._" in summary
    assert "10 finished train runs, 8 distinct (λ, α, arm) points" in summary
    assert "| 0.1 | 0.5 | B (allow) | 1 | 1 | 27.3 | 70.0 |" in summary    # a sweep point: 60·0.5/1.1
    assert "| 0.001 | 0.3 | b_allow | 2 | 1 | 25.5 | 80.0 |" in summary    # the arm: mean of two seeds
    assert "| b_allow seed2: A → B | 90.0 [70.0, 100.0] | 10.0 [0.0, 30.0] |" in summary  # paired, per warm start
    assert "| b_allow | yes | A → B | 4 | 85.0 [" in summary  # nested over 2 warm starts x 2 seeds
    assert summary.index("| Baseline (base A alone)") < summary.index("| Base A → B")  # table order kept
    report_run = MlflowClient(mlflow_uri).search_runs([exp_id], "tags.stage = 'report'")[0]
    assert report_run.data.metrics["arm/no_b/collapsed_runs"] == 2
    assert not math.isnan(report_run.data.metrics["arm/b_allow/length_last_mean"])


def test_report_without_arms_or_evaluation_says_so(smoke_overrides: list[str], tmp_path: Path, mlflow_uri: str) -> None:
    _load_report_app().main(compose_config(smoke_overrides))
    summary = (tmp_path / "reports" / "summary.md").read_text()
    assert "_No arm runs" in summary and "was not tested" in summary and "_No evaluation results" in summary
    assert (tmp_path / "reports" / "pareto.png").is_file()


def test_the_target_line_with_one_seed_has_no_spread() -> None:
    """One seed (the CI-size pipeline) gives no sample sd: the line says the figures without one."""
    from hawkeye.evaluation.table import A_TO_B
    from hawkeye.reporting.target import target_lines

    wss = ["ws1", "ws2", "ws3"]
    row = {"arm": "b_mask", "reader": A_TO_B, "seeds": [f"{ws}/seed1" for ws in wss], "warm_starts": wss,
           "compression_mean": 0.5, "compression_ab_mean": 0.48, "compression_ab_ci_low": 0.46,
           "compression_ab_ci_high": 0.5, "accuracy_delta_pooled": -0.01, "accuracy_delta_pooled_ci_low": -0.025,
           "accuracy_delta_pooled_ci_high": 0.03}
    (line, _) = target_lines({"results": {"test": {"methods": [row]}}}, "b_mask", 0.03)
    assert "**test: target met.**" in line and "over 3 warm starts × 1 seed:" in line
    row["accuracy_delta_pooled_ci_low"] = -0.05  # the point estimate is within 3 points, the bound is not
    (line, _) = target_lines({"results": {"test": {"methods": [row]}}}, "b_mask", 0.03)
    assert "**test: target cannot tell.**" in line
    # the same intervals from one warm start (the quick default) decide nothing
    row.update(accuracy_delta_pooled_ci_low=-0.025, seeds=["ws1/seed1"], warm_starts=["ws1"])
    (line, _) = target_lines({"results": {"test": {"methods": [row]}}}, "b_mask", 0.03)
    assert "**test: target cannot tell (1 warm start; a verdict needs 3" in line
