"""The curate stage: Model A's own CoTs (`cot_orig`), their refinements, and the length stats.

Input:  ${paths.prepared_dir}/${data.train_split}.jsonl and, when set, ${data.val_split}.jsonl
Output: ${paths.curated_dir}/train.jsonl and val.jsonl (prepared fields + the fields below),
        ${paths.curated_dir}/metrics.json and lengths.png (original vs refined CoT lengths).

The test split is never read here: nothing about it (not even A's c_orig on it) may shape a setting
before the final evaluation, which reads the prepared test split itself.

- cot_orig: the policy's greedy CoT for `reasoning_messages(q)`, capped at rollout.max_new_tokens
  (the same cap as training rollouts), so len(c_orig) and len(c) are measured alike.
- cot_orig_tokens: its length in policy tokens, EOS excluded; cot_refined_tokens: the refined
  text re-encoded by the same tokenizer.
- orig_correct: answers.exact_match(cot_orig, answer).
- refine_rejected: the LLM refinement failed its check and the rules output was kept.
- flags: "empty_generation", "truncated" (hit the token cap), "unparseable_gold",
  and for a
  rejected LLM rewrite "refine_<reason>" (refine_empty/longer/lost_answer/lost_numbers/lost_critical).

The curated row is `hawkeye.data.schema.CuratedRow`: validated before it is written, and read back
through the same schema by training.

Bad input policy. Rejected with DataError (file:line) before any model loads: anything the
prepared-row schema refuses (`hawkeye.data.schema.read_rows`: malformed JSON, a missing id/question/
answer, a duplicate id, a gold answer that is empty once normalised, ...) and, curate's own rule,
a gold without a number in a GSM8K/AIME split.
Kept and flagged: a gold answer math-verify cannot parse ("unparseable_gold": EM then falls
back to string equality), and an empty generation ("empty_generation": refined text is empty).

Ground truth (testbed rows, which carry labelled `segments`). No critical value may disappear: every
number of a critical sentence of cot_orig (labelled by `testbed_reading`) and the answer it states
must appear in cot_refined, and every number of a critical segment and the gold answer in the
refinement of `reference_cot`. A refinement that drops one is refused with a DataError naming the
file and row (a broken rule, never a data problem to skip), before anything is written; an LLM rewrite
that drops one is rejected ("refine_lost_critical") and the rules output kept. metrics.json scores the
refinements against the planted waste twice (`waste`): on the reference CoTs, refined as c_orig is
(reference_cot_waste_precision/recall, reference_cot_mean_tokens/_mean_refined_tokens), and on A's own
c_orig (cot_orig_waste_precision/recall; its token means are mean_cot_orig_tokens/mean_cot_refined_tokens).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from math_verify import parse

from hawkeye.answers import canonical_answer, exact_match, extract_answer
from hawkeye.cot import cot_length, cot_stop_token_ids
from hawkeye.curation import waste
from hawkeye.curation.llm_refine import llm_refine
from hawkeye.curation.rules import numbers, refine_with_rules
from hawkeye.data.schema import (
    CRITICAL_TOKENS,
    CuratedRow,
    Row,
    make_curated_row,
    read_rows,
    validate_curated_rows,
)
from hawkeye.data.sources.testbed_reading import as_segments, critical_tokens
from hawkeye.errors import DataError
from hawkeye.files import atomic_open, write_json, write_jsonl
from hawkeye.generation import GenerationBackend, SamplingParams, make_backend
from hawkeye.paths import resolve
from hawkeye.prompts import reasoning_messages, render
from hawkeye.tracking import names

# What curate writes, by split ("val" only with a validation split); "test" is what earlier versions
# wrote from the test split, removed so that no stale file looks current.
OUTPUTS = ("train", "val")
RETIRED = ("test",)


def input_paths(cfg: Any) -> dict[str, Path]:
    """The prepared files curate reads, by split: train, and validation when `data.val_split` is set."""
    prepared = resolve(cfg.paths.prepared_dir)
    paths = {"train": prepared / f"{cfg.data.train_split}.jsonl"}
    if cfg.data.get("val_split"):
        paths["val"] = prepared / f"{cfg.data.val_split}.jsonl"
    return paths


def output_dir(cfg: Any) -> Path:
    return resolve(cfg.paths.curated_dir)


NUMERIC_SPLITS = ("gsm", "aime")  # splits whose gold answers are numbers


def load_split(path: Path, max_rows: int = 0) -> list[Row]:
    """Validate every row of `path` (DataError naming file:line), then keep the first `max_rows`.

    The prepared-row schema (`data.schema.read_rows`) plus curate's own rule: a GSM8K/AIME split
    needs a numeric gold (math-verify parses "twelve" as symbols: the row could never score, silently)."""

    def numeric_gold(row: Row) -> str | None:
        if any(ch.isdigit() for ch in row["answer"]):
            return None
        return f"gold answer {row['answer']!r} is not a number, but {path.stem} needs one"

    rows = read_rows(path, check=numeric_gold if path.stem.startswith(NUMERIC_SPLITS) else None)
    return rows[:max_rows] if max_rows else rows


def load_inputs(cfg: Any) -> dict[str, list[Row]]:
    """Every split of `input_paths`, fully validated. Call before loading any model."""
    limits = {"train": cfg.curate.max_train_rows, "val": cfg.curate.max_val_rows}
    return {split: load_split(path, limits[split]) for split, path in input_paths(cfg).items()}


def gold_parses(answer: str) -> bool:
    """math-verify turns the gold into a math object (not only its raw string)."""
    try:
        # math-verify's SIGALRM timeout works on the main thread only.
        timeout = 5 if threading.current_thread() is threading.main_thread() else None
        parsed = parse(f"${canonical_answer(answer)}$", parsing_timeout=timeout)
        return any(not isinstance(x, str) for x in parsed)
    except Exception:  # noqa: BLE001 - a parser crash means "cannot parse", nothing more
        return False


def token_counter(tok: Any) -> Callable[[str], int]:
    """len(text) in `tok` tokens, special tokens excluded (0 for "")."""
    return lambda text: len(tok(text, add_special_tokens=False)["input_ids"]) if text else 0


def orig_critical_values(row: Row, cot: str) -> set[str]:
    """What any refinement of A's `cot` must keep, where ground truth exists (a row with `segments`):
    the numbers of its critical sentences and of the answer it states. Empty elsewhere."""
    if not row.get("segments") or not cot.strip():
        return set()
    return waste.critical_values(as_segments(cot), extract_answer(cot, fallback_last_number=True))


def refine(
    cots: list[str], questions: list[str], teacher: GenerationBackend | None, cfg: Any,
    length: Callable[[str], int], required: list[set[str]],
) -> list[tuple[str, str | None]]:
    """(refined text, rejection reason or None) per CoT: the rules, then (curate=llm) the teacher's
    rewrite of the rules output, kept only if it passes `check_refinement` (and keeps `required`)."""
    threshold = float(cfg.curate.near_duplicate_threshold)
    rules = [refine_with_rules(c, threshold, q) if c.strip() else "" for c, q in zip(cots, questions, strict=True)]
    if teacher is None:
        return [(text, None) for text in rules]
    return llm_refine(teacher, questions, rules, int(cfg.curate.teacher_max_new_tokens), int(cfg.seed),
                      length=length, required=required)


def curate_rows(
    rows: list[Row], policy: GenerationBackend, teacher: GenerationBackend | None, cfg: Any
) -> list[CuratedRow]:
    """Generate cot_orig for every row (one batched call), then refine it."""
    tok = policy.tokenizer
    n_tokens = token_counter(tok)

    # Line 4 of Algorithm 1 before training: c_orig <- ModelA(q), greedy, same prompt, cap and
    # end of c (a reasoning model's think span: hawkeye.cot) as the training rollouts.
    prompts = [render(tok, reasoning_messages(r["question"])) for r in rows]
    greedy = SamplingParams(max_new_tokens=int(cfg.rollout.max_new_tokens), temperature=0.0, seed=int(cfg.seed),
                            stop_token_ids=cot_stop_token_ids(cfg.policy, tok))
    gens = policy.generate(prompts, greedy)

    cots = [g.text for g in gens]
    required = [orig_critical_values(r, c) for r, c in zip(rows, cots, strict=True)]
    results = refine(cots, [r["question"] for r in rows], teacher, cfg, n_tokens, required)

    out = []
    for row, gen, cot, (ref, reason) in zip(rows, gens, cots, results, strict=True):
        orig_tokens = cot_length(gen)  # len(c_orig), counted as training counts len(c)
        ref_tokens = orig_tokens if ref == cot else n_tokens(ref)
        if ref_tokens > orig_tokens:  # never "refine" into something longer
            ref, ref_tokens = cot, orig_tokens
        flags = []
        if not cot.strip():
            flags.append("empty_generation")
        if gen.finish_reason == "length":
            flags.append("truncated")
        if not gold_parses(str(row["answer"])):
            flags.append("unparseable_gold")
        if reason is not None:
            flags.append(f"refine_{reason}")  # why the LLM rewrite was rejected
        out.append(
            make_curated_row(
                row,
                cot_orig=cot,
                cot_orig_tokens=orig_tokens,
                orig_correct=bool(exact_match(cot, str(row["answer"]))),
                cot_refined=ref,
                cot_refined_tokens=ref_tokens,
                refine_rejected=reason is not None,
                flags=flags,
                cot_critical_tokens=critical_tokens(row, tok) if row.get("segments") else None,
            )
        )
    return out


def summarize(rows: list[dict[str, Any]], prefix: str = "") -> dict[str, float]:
    n = len(rows)
    orig = sum(r["cot_orig_tokens"] for r in rows)
    ref = sum(r["cot_refined_tokens"] for r in rows)
    return {
        f"{prefix}rows": n,
        f"{prefix}mean_cot_orig_tokens": orig / n if n else 0.0,
        f"{prefix}mean_cot_refined_tokens": ref / n if n else 0.0,
        # 1 - refined/orig over token totals: the share of A's CoT tokens the refinement removes.
        f"{prefix}compression_ratio": 1 - ref / orig if orig else 0.0,
        f"{prefix}orig_correct_accuracy": sum(r["orig_correct"] for r in rows) / n if n else 0.0,
        f"{prefix}refine_rejected_fraction": sum(r["refine_rejected"] for r in rows) / n if n else 0.0,
        f"{prefix}empty_generation_fraction": sum("empty_generation" in r["flags"] for r in rows) / n if n else 0.0,
        f"{prefix}truncated_fraction": sum("truncated" in r["flags"] for r in rows) / n if n else 0.0,
    }


def critical_share(rows: list[dict[str, Any]]) -> dict[str, float]:
    """The critical steps' share of A's c_orig, over token totals (rows with ground truth only): the
    testbed's known critical share, from which its default α is set."""
    known = [r for r in rows if r.get(CRITICAL_TOKENS) is not None and r["cot_orig_tokens"] > 0]
    if not known:
        return {}
    critical, orig = sum(r[CRITICAL_TOKENS] for r in known), sum(r["cot_orig_tokens"] for r in known)
    return {"mean_cot_critical_tokens": critical / len(known), "critical_share": critical / orig}


def refine_references(rows: list[Row], teacher: GenerationBackend | None, cfg: Any,
                      length: Callable[[str], int]) -> list[str | None]:
    """Per row, the refinement of its reference CoT, made as c_orig's is (rules, then the teacher),
    where the row has labelled `segments` to score it against; None elsewhere."""
    labelled = [r for r in rows if r.get("segments")]
    required = [waste.critical_values(r["segments"], r["answer"]) for r in labelled]
    results = iter(refine([r["reference_cot"] for r in labelled], [r["question"] for r in labelled],
                          teacher, cfg, length, required))
    return [next(results)[0] if r.get("segments") else None for r in rows]


def refuse_lost_critical(path: Path, what: str, checks: list[tuple[str, set[str], str]]) -> None:
    """DataError naming `path`:line and the row id at the first of `checks` (row id, the values its
    refinement must keep, the refinement; one per row of `path`, in order) whose refinement of
    `what` drops one of those values."""
    for line, (row_id, required, refined) in enumerate(checks, 1):
        if lost := sorted(required - numbers(refined), key=float):
            raise DataError(f"{path}:{line}: row {row_id!r}: the refinement of {what} drops the critical "
                            f"value(s) {', '.join(lost)}: {refined!r}")


def waste_metrics(rows: list[Row], curated: list[CuratedRow], references: list[str | None], tok: Any) -> dict[str, float]:
    """Precision/recall of the refinements' removals against the planted waste (testbed rows only),
    token by token in Model A tokens: on the labelled reference CoTs, and on A's own c_orig labelled
    by `testbed_reading` (its answer and unlabelled sentences are not waste)."""
    labelled = [i for i, r in enumerate(rows) if r.get("segments")]
    if not labelled:
        return {}
    length = token_counter(tok)
    segments = {i: as_segments(curated[i]["cot_orig"]) for i in labelled}
    ref = sum((waste.score(rows[i]["segments"], references[i], tok) for i in labelled), waste.WasteScore())
    orig = sum((waste.score(segments[i], curated[i]["cot_refined"], tok) for i in labelled), waste.WasteScore())
    n = len(labelled)
    ref_tokens = sum(len(waste.labelled_tokens(rows[i]["segments"], tok)[0]) for i in labelled)
    orig_tokens = sum(len(waste.labelled_tokens(segments[i], tok)[0]) for i in labelled)
    return {
        "waste_rows": float(n),
        "reference_cot_waste_precision": ref.precision,
        "reference_cot_waste_recall": ref.recall,
        "reference_cot_waste_fraction": ref.waste / max(1, ref_tokens),
        "reference_cot_mean_tokens": sum(length(rows[i]["reference_cot"]) for i in labelled) / n,
        "reference_cot_mean_refined_tokens": sum(length(references[i]) for i in labelled) / n,
        "cot_orig_waste_precision": orig.precision,
        "cot_orig_waste_recall": orig.recall,
        "cot_orig_waste_fraction": orig.waste / max(1, orig_tokens),
    }


def plot_lengths(rows: list[dict[str, Any]], path: Path) -> Path:
    """Histogram of original vs refined CoT lengths (tokens), written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    orig = [r["cot_orig_tokens"] for r in rows]
    ref = [r["cot_refined_tokens"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = max(5, min(30, len(rows)))
    top = max(orig + ref + [1])
    ax.hist(orig, bins=bins, range=(0, top), alpha=0.6, label=f"original (mean {sum(orig) / max(len(orig), 1):.0f})")
    ax.hist(ref, bins=bins, range=(0, top), alpha=0.6, label=f"refined (mean {sum(ref) / max(len(ref), 1):.0f})")
    ax.set_xlabel("CoT length (Model A tokens)")
    ax.set_ylabel("rows")
    ax.set_title("Curated CoT lengths")
    ax.legend()
    fig.tight_layout()
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=100)
    plt.close(fig)
    return path


def make_teacher(cfg: Any, policy: GenerationBackend) -> GenerationBackend | None:
    """None for method=rules; the policy backend itself when curate.teacher is null."""
    if cfg.curate.method != "llm":
        return None
    if cfg.curate.teacher is None:
        return policy
    teacher_cfg = {"name": "teacher", "name_or_path": cfg.curate.teacher, "dtype": cfg.policy.dtype,
                   "trust_remote_code": bool(cfg.policy.get("trust_remote_code", False))}
    return make_backend(teacher_cfg, cfg.rollout, cfg.paths.models_dir, int(cfg.seed))


def run(cfg: Any, splits: dict[str, list[Row]]) -> dict[str, float]:
    """Curate validated `splits` (from `load_inputs`), write the outputs, log to the active MLflow run."""
    import mlflow

    start = time.perf_counter()
    policy = make_backend(cfg.policy, cfg.rollout, cfg.paths.models_dir, int(cfg.seed))
    teacher = make_teacher(cfg, policy)
    tok = policy.tokenizer
    rows = [r for split_rows in splits.values() for r in split_rows]
    try:
        # One batched generation over every split, then split back.
        curated = curate_rows(rows, policy, teacher, cfg)
        references = refine_references(rows, teacher, cfg, token_counter(tok))
    finally:
        if teacher is not None and teacher is not policy:
            teacher.close()
        policy.close()
    out, refined_references, start_row = {}, {}, 0
    for split, split_rows in splits.items():
        end = start_row + len(split_rows)
        out[split], refined_references[split] = curated[start_row:end], references[start_row:end]
        start_row = end

    # No critical value may disappear: checked on every split before anything is written.
    out_dir = output_dir(cfg)
    for split, path in input_paths(cfg).items():
        refuse_lost_critical(path, "reference_cot", [  # a row without segments has nothing to check
            (r["id"], waste.critical_values(r["segments"], r["answer"]) if r.get("segments") else set(), ref or "")
            for r, ref in zip(splits[split], refined_references[split], strict=True)])
    for split, split_rows in out.items():
        refuse_lost_critical(out_dir / f"{split}.jsonl", "cot_orig", [
            (r["id"], orig_critical_values(r, r["cot_orig"]), r["cot_refined"]) for r in split_rows])
    for split, split_rows in out.items():
        path = out_dir / f"{split}.jsonl"
        validate_curated_rows(split_rows, path)  # the schema training reads with: never write what it refuses
        write_jsonl(path, split_rows)
    for stale in (*OUTPUTS, *RETIRED):
        if stale not in out:
            (out_dir / f"{stale}.jsonl").unlink(missing_ok=True)
    metrics = summarize(curated)
    for split, split_rows in out.items():
        metrics.update(summarize(split_rows, f"{split}_"))
    metrics.update(waste_metrics(rows, curated, references, tok))
    metrics.update(critical_share(out["train"]))
    write_json(out_dir / "metrics.json", metrics)  # no wall time: a reproduction writes the same file
    figure = plot_lengths(curated, out_dir / "lengths.png")

    mlflow.log_metrics(names.stage_metrics(names.CURATE, {**metrics, "wall_time_s": time.perf_counter() - start}))
    mlflow.log_artifact(str(figure))
    n_samples = int(cfg.tracking.get("log_samples", 8))
    mlflow.log_dict({"samples": curated[:n_samples]}, "samples.json")
    return metrics
