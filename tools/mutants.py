"""Mutation check: plant plausible bugs one at a time and see whether the tests that guard them fail.

Each mutant is one textual edit of one source file (the old text must occur exactly once, so a
refactor that moves the code makes this script fail loudly instead of testing nothing). The
repository's files (tracked and untracked-but-not-ignored) are copied once into a scratch folder;
for each mutant the edit is applied there, the relevant tests run against that copy, and the file
is restored. A mutant is CAUGHT when those tests fail, SURVIVED when they pass.

    OMP_NUM_THREADS=1 python tools/mutants.py                 # all mutants (~10-20 min on 2 busy cores)
    python tools/mutants.py --only adv_batch_mean,mask_first  # some of them
    python tools/mutants.py --list

Not a CI test: it runs the oracle and table tests about twenty times.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

ORACLE = "tests/test_grpo_step_oracle.py"
ORACLE_1 = f"{ORACLE}::test_one_training_step_matches_the_oracle"
ORACLE_2 = f"{ORACLE}::test_two_iterations_clip_like_trl"
ADV_LOSS = "tests/test_advantages_loss.py"
REWARD = "tests/test_reward.py"
MASK = "tests/test_answer_mask.py"
ANSWERS = "tests/test_answers.py"
CURATE_FLAGS = "tests/test_curate_stage.py::test_empty_generation_and_truncation_are_flagged"
COLLAPSE_RUN = "tests/test_train.py::test_collapse_is_detected_and_stops_a_real_run"
COLLAPSE_UNIT = "tests/test_train.py::test_collapse_detector_applies_the_one_definition"
COLLAPSE_SAMPLE = "tests/test_train.py::test_a_rollout_collapses_by_the_em_the_reward_used"
COLLAPSE = "tests/test_collapse.py"
REPORT = "tests/test_report.py"
ORDER = "tests/test_seeding_and_order.py"
VIEWS = "tests/test_testbed.py::test_b_views_follow_one_rule"
SYSTEMS = "tests/test_runs.py::test_systems_read_each_arm_the_way_it_trained"
REMOVAL = "tests/test_removal.py"
NESTED = "tests/test_nested.py"
SPLITS = "tests/test_data_prepare.py::test_testbed_splits_share_no_signature_and_each_has_one_op_questions"
SIGNATURE_CHECK = ("tests/test_data_prepare.py::test_a_shared_signature_is_refused_naming_both_rows",
                   "tests/test_data_prepare.py::test_prepare_refuses_generated_splits_that_share_a_signature")
PARTITION = "tests/test_testbed.py::test_the_partition_follows_the_seeded_signature_in_fixed_shares"


@dataclass(frozen=True)
class Mutant:
    name: str
    area: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]
    why: str


MUTANTS = [
    # ---- reward
    Mutant("penalty_alpha_len_c", "reward", "src/hawkeye/reward/reward.py",
           "excess = max(0.0, cot_tokens - alpha * orig_tokens)", "excess = max(0.0, cot_tokens - alpha * cot_tokens)",
           (REWARD, ORACLE_1), "the length target is α·len(c), not α·len(c_orig)"),
    Mutant("penalty_not_squared", "reward", "src/hawkeye/reward/reward.py",
           "return lam * excess**2", "return lam * excess", (REWARD, ORACLE_1), "a linear penalty"),
    Mutant("em_from_the_cot", "reward", "src/hawkeye/reward/reward.py",
           "em = exact_match(answer_text, gold)", "em = exact_match(cot or answer_text, gold)",
           (REWARD, ORACLE_1), "EM read from A's CoT (the paper code's leak), not from B's answer"),
    # ---- advantages
    Mutant("adv_batch_mean", "advantages", "src/hawkeye/training/advantages.py",
           "mean = grouped.mean(dim=1).repeat_interleave(group_size)", "mean = rewards.mean().expand_as(rewards)",
           (ADV_LOSS, ORACLE_1), "the batch mean instead of the group mean"),
    Mutant("adv_biased_std", "advantages", "src/hawkeye/training/advantages.py",
           "group_std = grouped.std(dim=1).repeat_interleave(group_size)",
           "group_std = grouped.std(dim=1, unbiased=False).repeat_interleave(group_size)",
           (ADV_LOSS, ORACLE_1), "the biased std (TRL uses the unbiased one)"),
    Mutant("adv_interleaved_groups", "advantages", "src/hawkeye/training/advantages.py",
           "grouped = rewards.view(-1, group_size)", "grouped = rewards.view(group_size, -1).t()",
           (ADV_LOSS, ORACLE_1), "groups read as [q0, q1, ..] x G instead of q0 x G, q1 x G, .."),
    # ---- loss
    Mutant("loss_max_not_min", "loss", "src/hawkeye/training/loss.py",
           "per_token_loss = -torch.min(ratio * adv, clipped_ratio * adv)",
           "per_token_loss = -torch.max(ratio * adv, clipped_ratio * adv)",
           (ADV_LOSS, ORACLE_2), "the optimistic instead of the pessimistic bound"),
    Mutant("clip_count_wrong_side", "loss", "src/hawkeye/training/loss.py",
           "clipped = ((ratio < 1 - epsilon_low) & (adv < 0))", "clipped = ((ratio < 1 - epsilon_low) & (adv > 0))",
           (ADV_LOSS, ORACLE_2), "the clip fraction counts low ratios of positive advantages"),
    Mutant("dapo_per_micro_batch", "loss", "src/hawkeye/training/loss.py",
           "total = mask.sum() if num_tokens is None else torch.as_tensor(num_tokens, dtype=logps.dtype)",
           "total = mask.sum()", (ADV_LOSS, ORACLE_2), "dapo normalised per micro-batch, not per step"),
    # ---- the module's step
    Mutant("step_orig_is_len_c", "step", "src/hawkeye/training/module.py",
           'compute_reward(ans, r["answer"], c, n, int(r["cot_orig_tokens"]), self.cfg.reward,',
           'compute_reward(ans, r["answer"], c, n, n, self.cfg.reward,',
           (ORACLE_1,), "the step passes len(c) where len(c_orig) belongs (training_step's reward)"),
    Mutant("step_rows_interleaved", "step", "src/hawkeye/training/module.py",
           "rows_g = [r for r in rows for _ in range(G)]", "rows_g = [r for _ in range(G) for r in rows]",
           (ORACLE_1,), "samples matched to the wrong question (gold, len(c_orig))"),
    Mutant("step_no_temperature", "step", "src/hawkeye/training/module.py",
           "logps = torch.log_softmax(logits.float() / temperature, dim=-1)",
           "logps = torch.log_softmax(logits.float(), dim=-1)",
           (ORACLE_1,), "log-probs of the unscaled logits, not of the sampling distribution"),
    Mutant("step_old_is_current", "step", "src/hawkeye/training/module.py",
           "logps.detach() if old_logps is None else old_logps[sl]", "logps.detach()",
           (ORACLE_2,), "π_old recomputed every pass: the ratio is always 1, nothing is clipped"),
    Mutant("step_mask_drops_eos", "step", "src/hawkeye/training/module.py",
           "cmask.append([1] * len(c) + [0] * (T - len(c)))",
           "cmask.append([1] * (len(c) - 1) + [0] * (T - len(c) + 1))",
           (ORACLE_1,), "the EOS token gets no gradient, so the policy cannot learn to stop"),
    Mutant("step_mu_one_pass", "step", "src/hawkeye/training/module.py",
           "for _ in range(mu):", "for _ in range(1):", (ORACLE_2,), "num_iterations ignored"),
    # ---- len(c)
    Mutant("len_counts_eos", "length", "src/hawkeye/cot.py",
           'return n - 1 if gen.finish_reason == "stop" and n > 0 else n', "return n",
           (ORACLE_1, CURATE_FLAGS), "len(c) counts the EOS token"),
    Mutant("len_minus_one_always", "length", "src/hawkeye/cot.py",
           'return n - 1 if gen.finish_reason == "stop" and n > 0 else n', "return max(n - 1, 0)",
           (ORACLE_1, CURATE_FLAGS), "a CoT cut at the cap loses its last real token"),
    # ---- the answer mask
    Mutant("mask_inside_numbers", "mask", "src/hawkeye/responder/reads.py",
           r'r"(?<![\w.,/^])(?:(?<![\w)\]}])-)?', r'r"(?:(?<![\w)\]}])-)?', (MASK,),
           "18 masked inside 118, 18.5 and 1/18"),
    Mutant("mask_first_only", "mask", "src/hawkeye/responder/reads.py",
           "return _NUMBER.sub(replace, cot)", "return _NUMBER.sub(replace, cot, count=1)", (MASK,),
           "only the first occurrence masked"),
    Mutant("mask_by_string", "mask", "src/hawkeye/responder/reads.py",
           "_value(m.group(0)) != value", "m.group(0) != str(value)", (MASK,),
           "matched as written, not by value (1,800 / 1800.0 leak)"),
    Mutant("mask_first_stated_answer", "mask", "src/hawkeye/answers.py",
           "        return stated[-1]", "        return stated[0]", (MASK, ANSWERS),
           "A's answer taken from its first statement, not its last"),
    Mutant("responder_ignores_mode", "mask", "src/hawkeye/responder/model.py",
           "responder_prompt(q, c, self.answer_leak)", 'responder_prompt(q, c, "allow")', (MASK, REWARD),
           "training's B reads the raw CoT whatever answer_leak says"),
    Mutant("mask_keeps_last_computed", "mask", "src/hawkeye/responder/reads.py",
           "return [r for r in (answer, computed) if r is not None]", "return [r for r in (answer,) if r is not None]",
           (MASK,), "B reads A's last '= y' when A states no answer (or boxes another number)"),
    Mutant("b_view_no_recompute", "mask", "src/hawkeye/warmstart/examples.py",
           'first_to_write = shown - 1 if rule == "mask" and seen != cot else shown', "first_to_write = shown",
           (VIEWS,), "B's masked views skip the step whose result is hidden: B is never taught to redo it"),
    Mutant("eval_b_reads_raw", "mask", "src/hawkeye/evaluation/quality.py",
           "built = [responder_prompt(q, c, answer_leak)", 'built = [responder_prompt(q, c, "allow")',
           (SYSTEMS,), "evaluation's B reads the raw CoT whatever the arm trained with"),
    # ---- seeding and sampling, data order, distributed sharding
    Mutant("seed_same_every_step", "seeding", "src/hawkeye/seeding.py",
           "return seed + (step * world_size + rank) * SEED_STRIDE", "return seed + rank * SEED_STRIDE",
           (ORDER,), "every step samples with the same seeds"),
    Mutant("seed_ranks_collide", "seeding", "src/hawkeye/seeding.py",
           "return seed + (step * world_size + rank) * SEED_STRIDE", "return seed + step * SEED_STRIDE",
           (ORDER,), "every rank samples with the same seeds (identical rollouts on all GPUs)"),
    Mutant("hf_unseeded", "seeding", "src/hawkeye/generation/hf.py",
           "torch.manual_seed(params.seed)", "torch.seed()", (ORDER,),
           "HF sampling ignores the call's seed: runs and resumes are not reproducible"),
    Mutant("order_same_each_epoch", "data order", "src/hawkeye/training/data.py",
           "np.random.default_rng(seed + epoch)", "np.random.default_rng(seed)", (ORDER,),
           "every epoch visits the questions in the same order"),
    Mutant("order_ignores_seed", "data order", "src/hawkeye/training/data.py",
           "np.random.default_rng(seed + epoch)", "np.random.default_rng(epoch)", (ORDER,),
           "the question order does not depend on the run's seed (seeds are not independent)"),
    Mutant("shard_same_for_all_ranks", "sharding", "src/hawkeye/training/data.py",
           "return items[rank * per_rank : (rank + 1) * per_rank]", "return items[:per_rank]", (ORDER,),
           "every rank trains on the first share of the step's questions"),
    # ---- the testbed's splits: disjoint by arithmetic signature
    Mutant("signature_check_off", "splits", "src/hawkeye/data/prepare.py",
           'sig = r.get("signature")', 'sig = r.get("id")', SIGNATURE_CHECK,
           "prepare compares row ids, not signatures: a test row repeating a training row's arithmetic passes"),
    Mutant("partition_ignores_signature", "splits", "src/hawkeye/data/sources/testbed.py",
           'f"{self.signature_seed}:{signature}"', 'f"{self.signature_seed}:"', (PARTITION, SPLITS),
           "the partition hashes the seed alone: every signature lands in one split"),
    Mutant("split_keeps_any_signature", "splits", "src/hawkeye/data/prepare.py",
           "keep=lambda sig: partition.part(sig) == part)", "keep=None)", (SPLITS,),
           "each split's generator keeps problems whose signature another split owns"),
    # ---- collapse: the per-question rule, the k rule, the detector (in a real run too)
    Mutant("collapse_never_stops", "collapse", "src/hawkeye/training/callbacks.py",
           "        if self.stop:\n            trainer.should_stop = True", "        pass",
           (COLLAPSE_RUN,), "trainer.stop_on_collapse=true does not stop the run"),
    Mutant("collapse_wrong_side", "collapse", "src/hawkeye/collapse.py",
           "return self.share_last - self.share_first", "return self.share_first - self.share_last",
           (COLLAPSE_RUN, COLLAPSE_UNIT, COLLAPSE, REPORT), "collapse means the collapsed share fell"),
    Mutant("collapse_ignores_em", "collapse", "src/hawkeye/training/module.py",
           "collapsed_on(gen.text, row, bool(scored.em), rule)", "collapsed_on(gen.text, row, False, rule)",
           (COLLAPSE_SAMPLE,), "training flags a rollout whatever the EM the reward used (B's right answer ignored)"),
    Mutant("collapse_per_question_ignores_answer", "collapse", "src/hawkeye/collapse.py",
           "return float(few and not correct)", "return float(few)",
           (COLLAPSE,), "a short CoT whose answer is right counted as collapse (compression is not collapse)"),
    Mutant("collapse_window_ignores_se", "collapse", "src/hawkeye/collapse.py",
           "least if rollouts is None else max(least, se_steps(rollouts, float(rule[\"margin\"])))", "least",
           (COLLAPSE, REPORT), "k ignores the standard-error rule: windows too short to tell the margin from noise"),
    # ---- what compression removed, against the ground truth
    Mutant("kept_correct_ignores_running_value", "removal", "src/hawkeye/data/sources/testbed_reading.py",
           "return (stated.x, stated.op, stated.k, stated.y) == (reference.x, reference.op, reference.k, reference.y)",
           "return (stated.op, stated.k) == (reference.op, reference.k) and "
           "eval(f'{stated.x} {stated.op} {stated.k}') == stated.y",
           (REMOVAL,), "an equation that holds as written counts as right though it starts from a wrong total"),
    Mutant("kept_correct_ignores_operand", "removal", "src/hawkeye/data/sources/testbed_reading.py",
           "return (stated.x, stated.op, stated.k, stated.y) == (reference.x, reference.op, reference.k, reference.y)",
           "return (stated.op, stated.k, stated.y) == (reference.op, reference.k, reference.y)",
           (REMOVAL,), "a step with the true result from a wrong operand counts as right"),
    Mutant("kept_correct_over_all_steps", "removal", "src/hawkeye/evaluation/removal.py",
           '"kept_correct": sum(k.n_correct for k in kept) / n_kept if n_kept',
           '"kept_correct": sum(k.n_correct for k in kept) / n_steps if n_steps',
           (REMOVAL,), "kept steps correct divided by all the questions' steps, not by the stated ones"),
    Mutant("steps_kept_fraction_wrong", "removal", "src/hawkeye/evaluation/removal.py",
           '"steps_kept": n_kept / n_steps if n_steps', '"steps_kept": n_kept / n_kept if n_kept',
           (REMOVAL,), "steps kept divided by the kept steps instead of the questions' steps"),
    Mutant("other_share_counts_answer", "removal", "src/hawkeye/data/sources/testbed_reading.py",
           'sum(s.kind != "answer" for s in sentences)', "len(sentences)",
           (REMOVAL,), "the answer sentence counted among the sentences other_share divides by"),
    Mutant("removal_per_arm_not_shown", "removal", "src/hawkeye/evaluation/markdown.py",
           'if removal := arms_removal_table(r["methods"]):', 'if removal := "":',
           (REMOVAL,), "results.md and the report show no per-arm table of what compression removed"),
    # ---- nested intervals and the decisions read from them
    Mutant("nested_warm_starts_fixed", "nested", "src/hawkeye/evaluation/nested.py",
           "if levels >= 3 else np.tile(np.arange(n_w)", "if levels >= 4 else np.tile(np.arange(n_w)", (NESTED,),
           "the warm starts are never resampled: the interval holds the warm-started models fixed"),
    Mutant("nested_seeds_fixed", "nested", "src/hawkeye/evaluation/nested.py",
           "if levels >= 2 else \\", "if levels >= 4 else \\", (NESTED,),
           "the seeds within a warm start are never resampled"),
    Mutant("nested_questions_fixed", "nested", "src/hawkeye/evaluation/nested.py",
           "if levels >= 1 else np.tile(np.arange(n_q)", "if levels >= 4 else np.tile(np.arange(n_q)", (NESTED,),
           "the questions are never resampled"),
    Mutant("paired_to_first_warm_start", "nested", "src/hawkeye/evaluation/replicated.py",
           "base_correct = np.asarray([base[ws].correct for ws in wss], dtype=float)[:, None, :]",
           "base_correct = np.asarray([base[wss[0]].correct for ws in wss], dtype=float)[:, None, :]", (NESTED,),
           "an arm is paired with another warm start's base A"),
    Mutant("within_by_the_point", "decisions", "src/hawkeye/reporting/decide.py",
           "return at_least(low, high, -margin)", "return at_least((low + high) / 2, (low + high) / 2, -margin)",
           (NESTED,), "\"within 3 points\" judged on the point estimate, not the interval's lower bound"),
    Mutant("difference_without_interval", "decisions", "src/hawkeye/reporting/decide.py",
           "    if low > 0:\n        return \"higher\"", "    if high > 0:\n        return \"higher\"", (NESTED,),
           "a difference called though its interval contains 0"),
    Mutant("verdict_from_one_warm_start", "decisions", "src/hawkeye/reporting/decide.py",
           "return answer if n_warm_starts >= MIN_WARM_STARTS else CANNOT_TELL", "return answer",
           (NESTED, "tests/test_report.py", "tests/test_baselines.py"),
           "a verdict drawn from the seeds of fewer than three warm starts"),
]


def project_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout.split("\n")
    return [f for f in out if f and (REPO / f).is_file()]


def copy_project(dest: Path) -> None:
    for f in project_files():
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / f, dest / f)


def run_tests(root: Path, tests: tuple[str, ...], timeout: int) -> tuple[int, float, str]:
    env = {**os.environ, "PYTHONPATH": str(root / "src"), "OMP_NUM_THREADS": "1", "HAWKEYE_ROOT": str(root)}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:warnings",
                               *tests], cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return 124, time.perf_counter() - t0, "timeout"
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    failed = [ln for ln in lines if ln.startswith(("FAILED", "ERROR"))]
    return proc.returncode, time.perf_counter() - t0, (failed or lines or [proc.stderr[-200:]])[-1][:160]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated mutant names")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per mutant's test run")
    ap.add_argument("--skip-baseline", action="store_true", help="do not first check that the tests pass unmutated")
    a = ap.parse_args()
    if a.list:
        for m in MUTANTS:
            print(f"{m.name:26s} {m.area:10s} {m.why}")
        return 0
    chosen = [m for m in MUTANTS if not a.only or m.name in a.only.split(",")]
    unknown = set(filter(None, a.only.split(","))) - {m.name for m in MUTANTS}
    if unknown:
        sys.exit(f"unknown mutants: {sorted(unknown)} (see --list)")

    with tempfile.TemporaryDirectory(prefix="hawkeye-mutants-") as tmp:
        root = Path(tmp)
        copy_project(root)
        for m in chosen:  # every planted edit must apply to today's code, exactly once
            n = (root / m.file).read_text().count(m.old)
            if n != 1:
                sys.exit(f"mutant {m.name}: expected the text once in {m.file}, found it {n} times: {m.old!r}")
        if not a.skip_baseline:
            tests = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
            rc, secs, tail = run_tests(root, tests, a.timeout)
            print(f"baseline (no mutant): rc={rc} in {secs:.0f}s: {tail}", flush=True)
            if rc != 0:
                sys.exit("the tests fail without any mutant: fix them first")

        results = []
        for m in chosen:
            path = root / m.file
            original = path.read_text()
            path.write_text(original.replace(m.old, m.new))
            try:
                rc, secs, tail = run_tests(root, m.tests, a.timeout)
            finally:
                path.write_text(original)
            verdict = "caught" if rc != 0 else "SURVIVED"
            results.append((m, verdict, secs))
            print(f"{m.name:26s} {m.area:10s} {verdict:9s} {secs:5.0f}s  {tail}", flush=True)

    print("\n| mutant | area | planted bug | result |\n|---|---|---|---|")
    for m, verdict, _ in results:
        print(f"| {m.name} | {m.area} | {m.why} | {verdict} |")
    survived = [m.name for m, v, _ in results if v != "caught"]
    print(f"\n{len(results) - len(survived)}/{len(results)} caught" + (f"; survived: {survived}" if survived else ""))
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
