"""The `evaluate` stage end to end on tiny models: files, metrics, MLflow runs."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from conftest import TESTBED_SPEC, compose_config
from hawkeye.files import write_jsonl
from hawkeye.paths import REPO_ROOT
from hawkeye.process import free_port

GOLDS = ["7", "15", "7", "4"]


def _load_pipeline():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("evaluate_pipeline", REPO_ROOT / "pipelines" / "evaluate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _write_prepared(d: Path) -> None:
    for name in ("gsm8k_test", "aime"):
        write_jsonl(d / f"{name}.jsonl", [
            {"id": f"{name}-{i}", "source": name, "question": f"What is {g} + 0?", "answer": g, "reference_cot": g}
            for i, g in enumerate(GOLDS)])


def _run(overrides: list[str], tmp_path: Path) -> Path:
    _write_prepared(tmp_path / "prepared")
    _load_pipeline().main(compose_config(overrides))
    return tmp_path / "eval"


def test_quality_only(smoke_overrides: list[str], tmp_path: Path, mlflow_uri: str) -> None:
    out = _run([*smoke_overrides, "eval.latency=false", "eval.include_b_alone=true", "eval.max_new_tokens=10"], tmp_path)
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"gsm8k_test", "aime"}
    q = metrics["gsm8k_test"]["quality"]
    assert q["n"] == 4 and 0 <= q["baseline_accuracy"] <= 1
    assert 0 < q["baseline_tokens"] <= 10 and 0 < q["hawkeye_b_tokens"] <= 8  # eval cap; smoke's B cap
    assert q["hawkeye_tokens"] == pytest.approx(q["hawkeye_a_tokens"] + q["hawkeye_b_tokens"])
    systems = metrics["gsm8k_test"]["warm_starts"]["none"]
    assert set(systems) == {"baseline", "base_a_b", "b_alone"}  # no trained A: the base rows only
    base = systems["baseline"]
    assert base["accuracy_ci_low"] <= base["accuracy"] <= base["accuracy_ci_high"]
    samples = [json.loads(x) for x in (out / "samples" / "aime.jsonl").read_text().splitlines()]
    assert [s["system"] for s in samples[:5:4]] == ["baseline", "base_a_b"] and len(samples) == 12
    assert "Accuracy (%) [95% CI]" in (out / "results.md").read_text()
    table = (out / "latency.md").read_text()  # the poster-style table, without timings when nothing was timed
    for col in ("Dataset", "Method", "Concurrency", "Time per Req (s)", "Avg TBT (s)", "Tokens", "Accuracy",
                "Compression"):
        assert col in table
    runs = mlflow.search_runs(experiment_names=["hawkeye-smoke"])
    assert len(runs) == 2 and set(runs["tags.stage"]) == {"evaluate"}
    assert set(runs["tags.dataset"]) == {"gsm8k_test", "aime"}
    assert "metrics.eval/hawkeye_accuracy" in runs.columns
    assert "metrics.eval/baseline/accuracy_ci_high" in runs.columns


def _make_arms(train_dir: Path, models_dir: Path, arms: dict[str, tuple[str, str]], seeds: tuple[int, ...]) -> None:
    """Arm folders holding a copy of the tiny base A (what training leaves, minus the training)."""
    from hawkeye.models.load import resolve_model_path
    from test_runs import make_arm

    base = Path(resolve_model_path("tiny:qwen2?seed=0", str(models_dir)))
    for arm, (leak, responder) in arms.items():
        for seed in seeds:
            make_arm(train_dir, arm, seed, leak, responder, model_from=base)


def test_arms_are_rows_with_intervals_and_seed_aggregates(smoke_overrides: list[str], tmp_path: Path,
                                                          mlflow_uri: str, tiny_models_dir: Path) -> None:
    _make_arms(tmp_path / "train", tiny_models_dir, {"b_mask": ("mask", "tiny-responder"), "no_b": ("allow", "none")},
               (1, 2))
    out = _run([*smoke_overrides, "eval.latency=false", "eval.policy_checkpoint=auto", "eval.datasets=[gsm8k_test]",
                "eval.latency_arm=b_mask"], tmp_path)
    m = json.loads((out / "metrics.json").read_text())["gsm8k_test"]
    assert list(m["warm_starts"]["none"]) == sorted(["baseline", "base_a_b", "b_mask/seed1/a", "b_mask/seed1/a_b", "b_mask/seed2/a",
                                         "b_mask/seed2/a_b", "no_b/seed1/a", "no_b/seed1/a_b", "no_b/seed2/a",
                                         "no_b/seed2/a_b"])
    trained = m["warm_starts"]["none"]["no_b/seed2/a"]
    # The arms hold the base A's weights: greedy CoTs are the base's, so nothing is compressed.
    assert trained["cot_tokens"] == m["warm_starts"]["none"]["baseline"]["cot_tokens"] and trained["compression"] == 0
    assert trained["token_delta_ci_low"] == trained["token_delta_ci_high"] == 0
    assert set(m["methods"]) == {"base A/a", "base A/a_b", "b_mask/a", "b_mask/a_b", "no_b/a", "no_b/a_b"}
    no_b = m["methods"]["no_b/a"]
    assert no_b["seeds"] == ["none/seed1", "none/seed2"] and no_b["uses_b_in_training"] is False
    assert no_b["accuracy_delta_pooled"] == 0 and no_b["compression_mean"] == 0  # the base A's own weights
    assert m["quality"]["hawkeye_accuracy"] == m["warm_starts"]["none"]["b_mask/seed1/a_b"]["accuracy"]  # the timed arm
    run = mlflow.search_runs(experiment_names=["hawkeye-smoke"]).iloc[0]
    assert run["tags.latency_system"] == "b_mask/seed1/a_b"
    assert "metrics.eval/methods/no_b/a_b/accuracy_mean" in run.index and "metrics.eval/b_mask/seed2/a/accuracy" in run.index
    assert "| no_b seed2: A → B |" in (out / "results.md").read_text()


@pytest.fixture()
def fake_url() -> Iterator[str]:
    from fake_openai import Served, fake_openai_app

    # every completion is "so \\boxed{7}", one token per chunk
    served = Served(fake_openai_app({}), free_port()).start()
    yield served.url
    served.stop()


def test_quality_through_servers_and_latency(smoke_overrides: list[str], tmp_path: Path, mlflow_uri: str,
                                             fake_url: str, tiny_models_dir: Path) -> None:
    _make_arms(tmp_path / "train", tiny_models_dir, {"b_allow": ("allow", "tiny-responder")}, (1,))
    out = _run([*smoke_overrides, "eval.quality_backend=server", f"eval.policy_url={fake_url}",
                f"eval.base_policy_url={fake_url}", f"eval.responder_url={fake_url}", "eval.datasets=[gsm8k_test]",
                "eval.concurrency=[1,3]", "eval.latency_requests=5", "eval.policy_checkpoint=auto",
                "eval.latency_arm=b_allow"], tmp_path)
    metrics = json.loads((out / "metrics.json").read_text())["gsm8k_test"]
    q = metrics["quality"]
    assert q["baseline_accuracy"] == pytest.approx(0.5) and q["hawkeye_accuracy"] == pytest.approx(0.5)
    assert q["baseline_tokens"] == 4 and q["compression"] == pytest.approx(0.0)  # same text: nothing removed; EOS not counted
    assert metrics["warm_starts"]["none"]["b_allow/seed1/a"]["accuracy"] == pytest.approx(0.5)
    lat = json.loads((out / "latency.json").read_text())
    assert lat["hardware"]["cpu_cores"] >= 1 and lat["latency_system"] == "b_allow/seed1/a_b"
    cells = lat["results"]["gsm8k_test"]["methods"]
    assert set(cells) == {"baseline_full", "cot_only", "full"} and set(cells["full"]) == {"1", "3"}
    assert cells["full"]["1"]["requests"] == 5       # latency_requests ...
    full = cells["full"]["3"]
    assert full["requests"] == 9 and full["failed"] == 0  # ... but at least 3 × concurrency
    assert full["tokens_mean"] == 4 + 4  # A's four pieces, then B's four (8 >= the smoke cap of B)
    assert full["e2e_s_mean"] > cells["cot_only"]["3"]["e2e_s_mean"] * 0.5
    for stat in ("e2e_s", "ttft_s", "tbt_s"):
        assert full[f"{stat}_p50"] <= full[f"{stat}_p90"]
    ratio = lat["results"]["gsm8k_test"]["full_over_baseline"]["3"]
    assert ratio["e2e_mean"] == pytest.approx(full["e2e_s_mean"] / cells["baseline_full"]["3"]["e2e_s_mean"])
    run = mlflow.search_runs(experiment_names=["hawkeye-smoke"]).iloc[0]
    assert run["metrics.latency/full/c3/e2e_s_mean"] > 0 and run["metrics.latency/full/c3/failed"] == 0
    assert run["metrics.latency/full_over_baseline/c3/e2e_mean"] == pytest.approx(ratio["e2e_mean"])
    full_parts = full["breakdown"]
    assert {"a_ttft", "a_decode", "a_close", "handoff", "b_ttft", "b_decode", "b_queue"} <= set(full_parts)
    assert full["cpu_s_per_request"]["client"] > 0  # the client's own CPU (the servers are given by URL)
    table = (out / "latency.md").read_text()
    assert "| gsm8k_test | Hawkeye (Full) | 3 |" in table and "| 3 | Hawkeye (Full) | 9 (0) |" in table
    # the quality outputs carry nothing timed, no hardware and no absolute path
    from hawkeye.evaluation.latency.machine import hardware

    for name in ("results.md", "metrics.json", "samples/gsm8k_test.jsonl"):
        text = (out / name).read_text()
        assert str(tmp_path) not in text and hardware()["cpu"] not in text, name
        assert not any(word in text for word in ("Time per Req", "e2e_s", "cpu_s", "wall_s", "Hardware")), name


def test_a_trained_a_server_is_never_timed_as_the_baseline(tmp_path: Path, tiny_models_dir: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """policy_url serves the timed trained A; without base_policy_url the base A gets its own server."""
    from hawkeye.selection import resolve_served
    from hawkeye.serving import endpoints
    from hawkeye.serving.servers import ServerProcess

    started: list[str] = []

    def fake_server(path: str, name: str, *args, **kwargs) -> ServerProcess:  # noqa: ANN002, ANN003
        started.append(path)
        return ServerProcess(["x", "--served-model-name", name], f"http://127.0.0.1:1/{name}", tmp_path / "log")

    monkeypatch.setattr(endpoints, "vllm_server", fake_server)
    monkeypatch.setattr(endpoints, "running", lambda servers, timeout: contextlib.nullcontext(servers))
    monkeypatch.setattr(endpoints, "served_model", lambda url: "served")
    _make_arms(tmp_path / "train", tiny_models_dir, {"b_allow": ("allow", "tiny-responder")}, (1,))
    cfg = compose_config(["experiment=smoke", f"paths.models_dir={tiny_models_dir}", f"paths.train_dir={tmp_path / 'train'}",
                          "eval.policy_checkpoint=auto", "eval.policy_url=http://127.0.0.1:9/",
                          "eval.responder_url=http://127.0.0.1:9/", "eval.latency_arm=b_allow"])
    served = resolve_served(cfg)
    urls = {"hawkeye_a": cfg.eval.policy_url, "baseline_a": None, "responder": cfg.eval.responder_url}
    with contextlib.ExitStack() as stack:
        eps = endpoints.start_endpoints(served.models, urls, cfg.rollout.vllm, "127.0.0.1", tmp_path, stack, 1.0)
    assert eps["hawkeye_a"].base_url == "http://127.0.0.1:9/"
    assert eps["baseline_a"].base_url != "http://127.0.0.1:9/" and started == [served.models["baseline_a"].path]
    assert served.run is not None and served.answer_leak == "allow"  # the timed run's own, from its config.json


def test_what_compression_removed_is_logged_per_seed_and_per_arm(smoke_overrides: list[str], tmp_path: Path,
                                                                 mlflow_uri: str, tiny_models_dir: Path) -> None:
    """On testbed rows (ground truth in `segments`) every trained A's removal measures reach metrics.json
    and MLflow, for each seed and as the arm's mean."""
    from hawkeye.data.sources.testbed import generate
    from hawkeye.evaluation.removal import MEASURES

    _make_arms(tmp_path / "train", tiny_models_dir, {"b_mask": ("mask", "tiny-responder")}, (1, 2))
    write_jsonl(tmp_path / "prepared" / "testbed_test.jsonl", generate("test", 4, 0, TESTBED_SPEC))
    _load_pipeline().main(compose_config([*smoke_overrides, "eval.latency=false", "eval.policy_checkpoint=auto",
                                          "eval.datasets=[testbed_test]", "eval.latency_arm=b_mask"]))
    m = json.loads((tmp_path / "eval" / "metrics.json").read_text())["testbed_test"]
    row = m["warm_starts"]["none"]["b_mask/seed2/a"]
    assert all(f"removal_{k}" in row for k in MEASURES)
    # the tiny random A states no critical step, so "kept steps correct" (and, with no base
    # waste, "waste left") is undefined (not logged)
    defined = [k for k in MEASURES if row[f"removal_{k}"] is not None and not math.isnan(row[f"removal_{k}"])]
    assert {"steps_kept", "leaves_last", "no_steps", "other_share"} <= set(defined)
    assert row["removal_no_steps"] == 1.0 and row["removal_other_share"] == 1.0  # its text fits no template
    results = (tmp_path / "eval" / "results.md").read_text()
    per_arm = results.split("What compression removed, per arm")[1]
    assert "| Arm | " in per_arm and "| No step at all (%) | Sentences fitting no template (%) |" in per_arm
    assert "| b_mask | " in per_arm
    run = mlflow.search_runs(experiment_names=["hawkeye-smoke"]).iloc[0]
    for k in defined:
        assert f"metrics.eval/b_mask/seed2/a/removal_{k}" in run.index
        assert f"metrics.eval/methods/b_mask/a/removal_{k}_mean" in run.index
