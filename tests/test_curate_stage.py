"""The curate stage end to end on tiny models, its handling of bad input, and that it never reads the
test split (it curates train and validation only)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import mlflow
import pytest
from omegaconf import DictConfig

from conftest import TESTBED_SPEC, compose_config
from hawkeye.curation import curate
from hawkeye.errors import DataError
from hawkeye.generation.base import Generation
from hawkeye.models.load import load_tokenizer, resolve_model_path
from hawkeye.paths import REPO_ROOT
from hawkeye.runtime import start
from hawkeye.tracking.mlflow_run import stage_run

CURATED_FIELDS = {"cot_orig", "cot_orig_tokens", "orig_correct", "cot_refined", "cot_refined_tokens",
                  "refine_rejected", "flags"}
PREPARED_FIELDS = {"id", "source", "question", "answer", "reference_cot"}


def _row(i: int, answer: str = "7") -> dict:
    return {"id": f"q{i}", "source": "test", "question": f"Tom has {i} apples and buys 3 more. How many?",
            "answer": answer, "reference_cot": f"{i} + 3 = {i + 3}. #### {i + 3}"}


def _write(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


# experiment=smoke has no validation split; these tests give it one.
VAL = "gsm_symbolic_val"


@pytest.fixture()
def overrides(smoke_overrides: list[str]) -> list[str]:
    """experiment=smoke with a validation split (`VAL`), every output redirected into tmp_path."""
    return [*smoke_overrides, f"data.val_split={VAL}"]


@pytest.fixture()
def prepared(tmp_path: Path) -> Path:
    d = tmp_path / "prepared"
    _write(d / "gsm_symbolic_train.jsonl", [_row(i) for i in range(6)])
    _write(d / f"{VAL}.jsonl", [_row(i) for i in range(20, 23)])
    # The test split, malformed on purpose: curate must never read it (a read would raise DataError).
    _write(d / "gsm8k_test.jsonl", [_row(10), _row(10)])
    return d


def _cfg(overrides: list[str]) -> DictConfig:
    return start(compose_config(overrides))


def test_curate_smoke_writes_the_contract(prepared: Path, overrides: list[str], mlflow_uri: str) -> None:
    cfg = _cfg(overrides)
    splits = curate.load_inputs(cfg)  # the malformed test split is not read
    assert {k: len(v) for k, v in splits.items()} == {"train": 4, "val": 3}  # curate.max_train_rows=4 in smoke
    out = curate.output_dir(cfg)
    _write(out / "test.jsonl", [_row(10)])  # what an earlier curate wrote from the test split
    with stage_run(cfg, stage="curate", run_name="curate-test", data_files=curate.input_paths(cfg).values()) as run:
        metrics = curate.run(cfg, splits)

    train = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    val = [json.loads(line) for line in (out / "val.jsonl").read_text().splitlines()]
    assert [r["id"] for r in train] == ["q0", "q1", "q2", "q3"]
    assert [r["id"] for r in val] == ["q20", "q21", "q22"]
    assert sorted(p.name for p in out.glob("*.jsonl")) == ["train.jsonl", "val.jsonl"]  # no test file, not even stale
    assert not any(key.startswith("test_") for key in metrics)
    for r in train + val:
        assert set(r) == PREPARED_FIELDS | CURATED_FIELDS
        assert 0 <= r["cot_refined_tokens"] <= r["cot_orig_tokens"] <= cfg.rollout.max_new_tokens
        assert isinstance(r["orig_correct"], bool) and r["refine_rejected"] is False
        assert set(r["flags"]) <= {"empty_generation", "truncated", "unparseable_gold"}  # no refine_* (rules)
    assert metrics["rows"] == 7 and metrics["train_rows"] == 4 and metrics["val_rows"] == 3
    assert json.loads((out / "metrics.json").read_text()) == pytest.approx(metrics)
    assert (out / "lengths.png").read_bytes()[:4] == b"\x89PNG"

    logged = mlflow.get_run(run.info.run_id)
    assert logged.data.tags["stage"] == "curate"
    assert logged.data.metrics["curate/compression_ratio"] == pytest.approx(metrics["compression_ratio"])
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"lengths.png", "samples.json", "config.yaml"} <= artifacts


def test_without_a_validation_split_curate_reads_and_writes_train_only(
    prepared: Path, smoke_overrides: list[str], mlflow_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _cfg(smoke_overrides)  # experiment=smoke: data.val_split is null
    assert list(curate.input_paths(cfg)) == ["train"]
    monkeypatch.setattr(curate, "curate_rows", _echo_curate_rows)  # no model needed to see which files
    out = curate.output_dir(cfg)
    _write(out / "val.jsonl", [_row(20)])  # left by a run that had a validation split
    with stage_run(cfg, stage="curate", run_name="curate-train-only"):
        curate.run(cfg, curate.load_inputs(cfg))
    assert sorted(p.name for p in out.glob("*.jsonl")) == ["train.jsonl"]


def _echo_curate_rows(rows: list[dict], policy: object, teacher: object, cfg: DictConfig) -> list[dict]:
    """curate_rows without a model: A's c_orig is the row's reference CoT."""
    from hawkeye.data.schema import make_curated_row

    return [make_curated_row(r, cot_orig=r["reference_cot"], cot_orig_tokens=1, orig_correct=True,
                             cot_refined=r["reference_cot"], cot_refined_tokens=1, refine_rejected=False, flags=[])
            for r in rows]


def test_curate_is_deterministic(prepared: Path, smoke_overrides: list[str]) -> None:
    from hawkeye.generation import make_backend

    cfg = _cfg(smoke_overrides)
    rows = curate.load_inputs(cfg)["train"][:2]
    runs = []
    for _ in range(2):  # a fresh backend each time: greedy c_orig depends on the model and prompt only
        policy = make_backend(cfg.policy, cfg.rollout, cfg.paths.models_dir, int(cfg.seed))
        runs.append(curate.curate_rows(rows, policy, None, cfg))
    assert runs[0] == runs[1]
    assert all(r["cot_orig_tokens"] > 0 for r in runs[0])


def test_llm_refinement_counts_rejections(
    prepared: Path, overrides: list[str], mlflow_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The teacher (here the policy itself) is asked to rewrite every non-empty rules output; each
    rewrite is kept or rejected exactly as `check_refinement` says, and the rows and metrics show it."""
    from hawkeye.curation.llm_refine import check_refinement
    from hawkeye.curation.rules import refine_with_rules

    cfg = _cfg([*overrides, "curate=llm", "curate.max_train_rows=2", "curate.max_val_rows=1",
                "curate.teacher_max_new_tokens=8"])
    rewrites: dict[str, str] = {}  # rules output (quoted in the feedback prompt) -> the teacher's reply
    make_teacher = curate.make_teacher

    def recording_teacher(cfg, policy):  # noqa: ANN001, ANN202
        teacher = make_teacher(cfg, policy)
        generate = teacher.generate

        def record(prompts, params):  # noqa: ANN001, ANN202
            gens = generate(prompts, params)
            for prompt, gen in zip(prompts, gens, strict=True):
                if "Rewrite the solution" in prompt:  # the feedback prompt, not the policy's own c_orig
                    rewrites[prompt.split("Solution:\n", 1)[1].split("\n\nRewrite the solution", 1)[0]] = gen.text
            return gens

        teacher.generate = record
        return teacher

    monkeypatch.setattr(curate, "make_teacher", recording_teacher)
    with stage_run(cfg, stage="curate", run_name="curate-llm-test"):
        metrics = curate.run(cfg, curate.load_inputs(cfg))
    out = curate.output_dir(cfg)
    rows = [json.loads(line) for split in ("train", "val") for line in (out / f"{split}.jsonl").read_text().splitlines()]
    tok = load_tokenizer(resolve_model_path(cfg.policy.name_or_path, cfg.paths.models_dir))

    def length(text: str) -> int:
        return len(tok(text, add_special_tokens=False)["input_ids"]) if text else 0

    rules = [refine_with_rules(r["cot_orig"], float(cfg.curate.near_duplicate_threshold)) for r in rows]
    assert sum(bool(x.strip()) for x in rules) >= 2, "the tiny policy's CoTs should give the teacher work"
    assert set(rewrites) == {x for x in rules if x.strip()}  # one rewrite asked per non-empty rules output
    for r, rule in zip(rows, rules, strict=True):
        reasons = [f.removeprefix("refine_") for f in r["flags"] if f.startswith("refine_")]
        if not rule.strip():
            assert r["cot_refined"] == "" and not r["refine_rejected"] and not reasons
            continue
        reply = rewrites[rule].strip()
        why = check_refinement(reply, rule, length)
        assert r["refine_rejected"] == (why is not None) and reasons == ([why] if why else [])
        assert r["cot_refined"] == (rule if why else reply)
        assert r["cot_refined_tokens"] <= r["cot_orig_tokens"]
    assert metrics["refine_rejected_fraction"] == pytest.approx(sum(r["refine_rejected"] for r in rows) / len(rows))


class _FakePolicy:
    """Scripted generations around a real tokenizer (to test flags without a model)."""

    def __init__(self, tokenizer: object, gens: list[Generation]) -> None:
        self.tokenizer = tokenizer
        self.gens = gens

    def generate(self, prompts: list[str], params: object) -> list[Generation]:
        assert len(prompts) == len(self.gens)
        return self.gens

    def close(self) -> None:
        pass


def test_empty_generation_and_truncation_are_flagged(smoke_overrides: list[str], tiny_models_dir: Path) -> None:
    cfg = _cfg(smoke_overrides)
    tok = load_tokenizer(resolve_model_path("tiny:qwen2?seed=0", str(tiny_models_dir)))
    eos = tok.eos_token_id
    cot = "Okay, so 4 + 3 = 7. Hmm, 4 + 3 = 7. The answer is \\boxed{7}."
    ids = tok(cot, add_special_tokens=False)["input_ids"]
    gens = [
        Generation(text="", token_ids=[eos], finish_reason="stop"),
        Generation(text=cot, token_ids=[*ids, eos], finish_reason="stop"),
        Generation(text="4 + 3", token_ids=ids[:3], finish_reason="length"),
    ]
    rows = [_row(4), _row(4, answer="\\frac{"), _row(5)]
    rows[1]["id"], rows[2]["id"] = "b", "c"
    out = curate.curate_rows(rows, _FakePolicy(tok, gens), None, cfg)

    assert out[0]["flags"] == ["empty_generation"] and out[0]["cot_refined"] == ""
    assert out[0]["cot_orig_tokens"] == 0 and out[0]["orig_correct"] is False
    assert out[1]["flags"] == ["unparseable_gold"]
    assert out[1]["cot_orig_tokens"] == len(ids)  # EOS excluded
    assert out[1]["cot_refined"] == "4 + 3 = 7. The answer is \\boxed{7}."
    assert out[1]["cot_refined_tokens"] < out[1]["cot_orig_tokens"]
    assert out[2]["flags"] == ["truncated"] and out[2]["cot_orig_tokens"] == 3


# ---- testbed rows: ground truth ---------------------------------------------------------------------
class _ScriptedBackend:
    """A backend around a real tokenizer that answers each rendered prompt with `reply(prompt)`."""

    def __init__(self, tokenizer: object, reply: Callable[[str], str]) -> None:
        self.tokenizer = tokenizer
        self.reply = reply

    def generate(self, prompts: list[str], params: object) -> list[Generation]:
        out = []
        for prompt in prompts:
            text = self.reply(prompt)
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            out.append(Generation(text=text, token_ids=[*ids, self.tokenizer.eos_token_id], finish_reason="stop"))
        return out

    def close(self) -> None:
        pass


# A's own CoT for a testbed row: the reference as A learned to write it; one question gets a run of
# steps that reaches no stated value (A's kind of slip; numbers above max_total, so that it uses no
# value of a run before it), which no rule may cut and the c_orig score must see.
SLIP = " 40 + 50 = 90. 90 + 60 = 150."


def _own_cot(row: dict) -> str:
    return row["reference_cot"] + (SLIP if row["id"].endswith("1") else "") + f" \\boxed{{{row['answer']}}}"


@pytest.fixture()
def testbed_rows(tmp_path: Path, overrides: list[str]) -> list[dict]:
    """Testbed rows (1-4 operations) as the prepared splits; returns the ones curate reads."""
    from hawkeye.data.sources.testbed import generate

    spec = TESTBED_SPEC
    train, val = generate("testbed_train", 6, 1, spec), generate("testbed_val", 4, 2, spec)
    paths = curate.input_paths(_cfg(overrides))
    _write(paths["train"], train)
    _write(paths["val"], val)
    return train[:4] + val  # curate.max_train_rows=4 in smoke


def _script_policy(monkeypatch: pytest.MonkeyPatch, cfg: DictConfig, rows: list[dict],
                   rewrite: Callable[[str], str] | None = None) -> None:
    """curate's policy (and teacher) become a script: A writes `_own_cot(row)` for each row's question;
    a feedback prompt is answered with `rewrite(the solution it quotes)`."""
    tok = load_tokenizer(resolve_model_path(cfg.policy.name_or_path, cfg.paths.models_dir))
    by_question = {r["question"]: _own_cot(r) for r in rows}

    def reply(prompt: str) -> str:
        if "Rewrite the solution" in prompt:
            return rewrite(prompt.split("Solution:\n", 1)[1].split("\n\nRewrite the solution", 1)[0])
        return next(cot for q, cot in by_question.items() if q in prompt)

    monkeypatch.setattr(curate, "make_backend", lambda *args, **kwargs: _ScriptedBackend(tok, reply))


def test_testbed_rows_are_scored_on_the_reference_and_on_a_own_cot(
    testbed_rows: list[dict], overrides: list[str], mlflow_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hawkeye.curation import waste
    from hawkeye.data.sources.testbed import critical_cot
    from hawkeye.data.sources.testbed_reading import as_segments

    cfg, rows = _cfg(overrides), testbed_rows
    _script_policy(monkeypatch, cfg, rows)
    with stage_run(cfg, stage="curate", run_name="curate-testbed"):
        metrics = curate.run(cfg, curate.load_inputs(cfg))
    out = curate.output_dir(cfg)
    curated = [json.loads(line) for split in ("train", "val") for line in (out / f"{split}.jsonl").read_text().splitlines()]
    assert json.loads((out / "metrics.json").read_text()) == pytest.approx(metrics)
    for r in curated:  # the waste goes, the slip stays, every critical sentence and the answer stay
        assert " ".join(r["cot_refined"].split()) == critical_cot(r["segments"]) + (
            SLIP.replace(". 90", "; 90") if r["id"].endswith("1") else "") + f" \\boxed{{{r['answer']}}}"

    tok = load_tokenizer(resolve_model_path(cfg.policy.name_or_path, cfg.paths.models_dir))
    own = sum((waste.score(as_segments(r["cot_orig"]), r["cot_refined"], tok) for r in curated), waste.WasteScore())
    assert metrics["waste_rows"] == len(rows) == 8
    assert metrics["reference_cot_waste_precision"] == metrics["reference_cot_waste_recall"] == 1.0
    assert metrics["cot_orig_waste_precision"] == 1.0
    assert metrics["cot_orig_waste_recall"] == pytest.approx(own.recall)
    assert own.recall < 1.0  # the slip is waste in A's CoT, and kept
    assert metrics["reference_cot_mean_refined_tokens"] < metrics["reference_cot_mean_tokens"]
    assert metrics["mean_cot_refined_tokens"] < metrics["mean_cot_orig_tokens"]


@pytest.mark.parametrize("what", ["cot_orig", "reference_cot"])
def test_a_refinement_that_drops_a_critical_value_is_refused(
    what: str, testbed_rows: list[dict], overrides: list[str], mlflow_uri: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A planted rule that cuts the first critical step of one CoT: the stage names the file and the
    row and writes nothing."""
    from hawkeye.curation.rules import refine_with_rules

    cfg, rows = _cfg(overrides), testbed_rows
    _script_policy(monkeypatch, cfg, rows)
    victim = rows[5]  # the second row of the validation split
    target = _own_cot(victim) if what == "cot_orig" else victim["reference_cot"]
    first_step = next(s["text"] for s in victim["segments"] if s["kind"] == "critical")

    def planted(cot: str, threshold: float = 0.9, question: str = "") -> str:
        refined = refine_with_rules(cot, threshold, question)
        return refined.replace(first_step, "") if cot == target else refined

    monkeypatch.setattr(curate, "refine_with_rules", planted)
    where = curate.output_dir(cfg) / "val.jsonl" if what == "cot_orig" else curate.input_paths(cfg)["val"]
    with stage_run(cfg, stage="curate", run_name="curate-planted"), pytest.raises(
            DataError, match=rf"{re.escape(str(where))}:2: row '{victim['id']}': the refinement of {what} drops "
                             r"the critical value\(s\) \d"):
        curate.run(cfg, curate.load_inputs(cfg))
    assert not curate.output_dir(cfg).exists()


def test_llm_refinement_is_scored_and_checked_against_the_ground_truth(
    testbed_rows: list[dict], overrides: list[str], mlflow_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The teacher rewrites A's CoTs and the reference CoTs alike, and its rewrites are scored like the
    rules' (here it cuts the story words of every critical step: critical tokens, so precision falls);
    a rewrite that drops a critical value is rejected for the rules output."""
    from hawkeye.data.sources.testbed import critical_cot

    cfg, rows = _cfg([*overrides, "curate=llm"]), testbed_rows

    def start_value(row: dict) -> str:
        return re.search(r": (\d+) ", critical_cot(row["segments"]))[1]

    # a row whose start value is written once: the teacher's slip drops it from the text
    victim = next(r for r in rows if len(re.findall(rf"(?<!\d){start_value(r)}(?!\d)", critical_cot(r["segments"]))) == 1)

    def rewrite(solution: str) -> str:
        shorter = re.sub(r"(?:He|She) [^:.]*: ", "", solution)
        if solution.startswith(critical_cot(victim["segments"]).split(". ")[0]):
            return shorter.removeprefix(start_value(victim) + " ")
        return shorter

    _script_policy(monkeypatch, cfg, rows, rewrite)
    with stage_run(cfg, stage="curate", run_name="curate-llm-testbed"):
        metrics = curate.run(cfg, curate.load_inputs(cfg))
    out = curate.output_dir(cfg)
    curated = {r["id"]: r for split in ("train", "val")
               for r in map(json.loads, (out / f"{split}.jsonl").read_text().splitlines())}
    assert curated[victim["id"]]["flags"] == ["refine_lost_critical"]
    assert start_value(victim) in curated[victim["id"]]["cot_refined"]
    assert [r["id"] for r in curated.values() if r["refine_rejected"]] == [victim["id"]]
    assert metrics["reference_cot_waste_precision"] < 1.0 and metrics["cot_orig_waste_precision"] < 1.0
    assert metrics["reference_cot_waste_recall"] == 1.0


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([_row(0), {"id": "q1", "answer": "3"}], "gsm_symbolic_train.jsonl:2: missing or empty field 'question'"),
        ([_row(0), _row(1), _row(0)], "gsm_symbolic_train.jsonl:3: duplicate id 'q0' (first on line 1)"),
        ([_row(0), _row(1, answer=" $ ")], "gsm_symbolic_train.jsonl:2: gold answer ' $ ' is empty"),
        ([_row(0), "{not json"], "gsm_symbolic_train.jsonl:2: malformed JSON"),
        ([_row(0), {**_row(1), "question": 5}], "gsm_symbolic_train.jsonl:2: field 'question' must be a string"),
    ],
)
def test_bad_input_names_file_and_line(tmp_path: Path, lines: list, message: str) -> None:
    path = _write(tmp_path / "gsm_symbolic_train.jsonl", lines)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)").replace("$", r"\$")):
        curate.load_split(path)


def test_bad_row_past_max_rows_is_still_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path / "gsm_symbolic_train.jsonl", [_row(0), _row(1), _row(0)])
    with pytest.raises(DataError, match="duplicate id"):
        curate.load_split(path, max_rows=1)


def _pipeline(overrides: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "pipelines" / "curate.py"), *overrides, "hydra.run.dir=" + str(tmp_path / "hydra")],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


@pytest.mark.slow  # ~30 s: a fresh interpreter imports torch, transformers and MLflow
def test_pipeline_smoke(prepared: Path, overrides: list[str], tmp_path: Path) -> None:
    proc = _pipeline(overrides, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "curated 7 rows" in proc.stdout
    for name in ("train.jsonl", "val.jsonl", "metrics.json"):
        assert (tmp_path / "curated" / name).is_file()
    assert not (tmp_path / "curated" / "test.jsonl").exists()


def test_pipeline_rejects_bad_input_before_loading_a_model(tmp_path: Path, overrides: list[str]) -> None:
    d = tmp_path / "prepared"
    _write(d / "gsm_symbolic_train.jsonl", [_row(0)])
    _write(d / f"{VAL}.jsonl", [_row(1), _row(1)])
    # The policy path does not exist: a DataError (not a ModelError) proves the data came first.
    proc = _pipeline([*overrides, "policy.name_or_path=/nonexistent/model"], tmp_path)
    assert proc.returncode != 0
    assert f"{VAL}.jsonl:2: duplicate id 'q1'" in proc.stderr
    assert "ModelError" not in proc.stderr
    assert not (tmp_path / "curated").exists()
