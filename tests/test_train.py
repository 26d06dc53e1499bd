"""GRPO training end to end on tiny models: files, MLflow runs, frozen B, resume, sweeps, guards."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from conftest import TESTBED_SPEC, collapse_rule, compose_config
from hawkeye.errors import ConfigError
from hawkeye.files import write_jsonl
from hawkeye.paths import REPO_ROOT
from hawkeye.tracking.names import train_metric

spec = importlib.util.spec_from_file_location("train_app", REPO_ROOT / "src" / "train.py")
train_app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train_app)


def _curated(tmp_path: Path, n: int = 6, orig_tokens: int | None = None) -> None:
    rows = [
        {"id": f"q{i}", "source": "test", "question": f"Tom has {i} apples and buys {i + 2} more. How many?",
         "answer": str(2 * i + 2), "reference_cot": "", "cot_orig": "",
         "cot_orig_tokens": orig_tokens if orig_tokens is not None else 20 + i,
         "orig_correct": True, "cot_refined": "", "cot_refined_tokens": 5, "refine_rejected": False, "flags": []}
        for i in range(n)
    ]
    write_jsonl(tmp_path / "curated" / "train.jsonl", rows)


def _runs(experiment: str = "hawkeye-smoke") -> list:
    import mlflow

    return mlflow.search_runs(experiment_names=[experiment], output_format="list")


def _history(run_id: str, key: str) -> list[tuple[int, float]]:
    """The MLflow history of the training step metric `key` (logged as `train_metric(key)`)."""
    from mlflow.tracking import MlflowClient

    return sorted((m.step, m.value) for m in MlflowClient().get_metric_history(run_id, train_metric(key)))


def test_smoke_training_writes_outputs_and_keeps_b_frozen(
    tmp_path: Path, smoke_overrides: list[str], mlflow_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hawkeye.responder.model import Responder

    _curated(tmp_path)
    captured = {}
    original = Responder.from_config.__func__

    def capture(cls, cfg):  # noqa: ANN001, ANN202
        captured["b"] = original(cls, cfg)
        captured["before"] = {k: v.clone() for k, v in captured["b"].backend.model.state_dict().items()}
        return captured["b"]

    monkeypatch.setattr(Responder, "from_config", classmethod(capture))
    reward = train_app.main(compose_config(smoke_overrides))
    assert math.isfinite(reward)

    train = tmp_path / "train"
    rows = list(csv.DictReader((train / "collapse_curve.tsv").open(), delimiter="\t"))
    assert [int(r["step"]) for r in rows] == [0, 1, 2]
    summary = json.loads((train / "metrics.json").read_text())
    assert summary["first"]["step"] == 0 and summary["final"]["step"] == 2
    assert (train / "final" / "model.safetensors").is_file() and (train / "final" / "tokenizer.json").is_file()
    assert (train / "checkpoints" / "last.ckpt").exists()

    # B: frozen, unchanged, never saved in the policy checkpoint
    b = captured["b"].backend.model
    assert not any(p.requires_grad for p in b.parameters())
    assert all(torch.equal(v, captured["before"][k]) for k, v in b.state_dict().items())
    ckpt = torch.load(train / "checkpoints" / "last.ckpt", weights_only=False)
    assert all(k.startswith("policy.") for k in ckpt["state_dict"])

    (run,) = _runs()
    assert run.info.status == "FINISHED" and run.info.run_name.startswith("train lambda=0.001 alpha=0.3")
    assert [s for s, _ in _history(run.info.run_id, "cot_tokens_mean")] == [0, 1, 2]
    assert "collapse_curve.png" in {a.path for a in __import__("mlflow").MlflowClient().list_artifacts(run.info.run_id)}


def test_resume_reproduces_uninterrupted_run(tmp_path: Path, smoke_overrides: list[str], mlflow_uri: str) -> None:
    _curated(tmp_path)
    base = [o for o in smoke_overrides if not o.startswith("paths.train_dir")]
    common = [*base, "trainer.checkpoint_every_n_steps=2", "grpo.group_size=3"]
    full_dir, part_dir = tmp_path / "full", tmp_path / "part"
    train_app.main(compose_config([*common, f"paths.train_dir={full_dir}", "grpo.max_steps=4"]))
    train_app.main(compose_config([*common, f"paths.train_dir={part_dir}", "grpo.max_steps=2"]))
    train_app.main(compose_config([*common, f"paths.train_dir={part_dir}", "grpo.max_steps=4", "resume=true"]))

    runs = {Path(r.data.tags["train_dir"]).name: r for r in _runs()}
    assert len(_runs()) == 2  # the resume continued the same MLflow run
    full, part = runs["full"].info.run_id, runs["part"].info.run_id
    assert runs["part"].info.status == "FINISHED"
    for key in ("reward_mean", "loss", "cot_tokens_mean", "em", "penalty", "advantage_abs_mean"):
        h_full, h_part = _history(full, key), _history(part, key)
        assert [s for s, _ in h_part] == [0, 1, 2, 3], key  # no step logged twice
        assert [v for _, v in h_part] == pytest.approx([v for _, v in h_full], abs=1e-6), key
    assert any(v > 0 for _, v in _history(full, "advantage_abs_mean"))  # the weights really moved
    a = torch.load(full_dir / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    b = torch.load(part_dir / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_resume_is_refused_without_checkpoint_or_with_a_changed_config(
    tmp_path: Path, smoke_overrides: list[str], mlflow_uri: str
) -> None:
    _curated(tmp_path)
    with pytest.raises(ConfigError, match="no checkpoint"):
        train_app.main(compose_config([*smoke_overrides, "resume=true"]))
    train_app.main(compose_config([*smoke_overrides, "grpo.max_steps=1"]))
    with pytest.raises(ConfigError, match=r"in 1 key\(s\): lambda: 0.001 -> 0.5"):
        train_app.main(compose_config([*smoke_overrides, "resume=true", "lambda=0.5"]))


def test_sweep_creates_one_run_per_job_with_a_shared_sweep_id(
    tmp_path: Path, smoke_overrides: list[str], mlflow_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _curated(tmp_path)
    argv = ["train.py", "-m", *smoke_overrides, "grpo.max_steps=2", "lambda=0.1,1.0",
            f"hydra.sweep.dir={tmp_path / 'multirun'}"]
    monkeypatch.setattr(sys, "argv", argv)
    # As `python src/train.py`: Hydra finds ../conf next to the script file, not a package.
    monkeypatch.setattr(train_app.main.__wrapped__, "__module__", "__main__")
    monkeypatch.delenv("HAWKEYE_SWEEP_ID", raising=False)
    train_app.main()

    runs = _runs()
    assert sorted(r.info.run_name.split()[1] for r in runs) == ["lambda=0.1", "lambda=1"]
    assert all(r.info.status == "FINISHED" for r in runs)
    assert len({r.data.tags["sweep_id"] for r in runs}) == 1 and runs[0].data.tags["sweep_id"].startswith("sweep-")
    for r in runs:
        assert [s for s, _ in _history(r.info.run_id, "cot_tokens_mean")] == [0, 1]
        assert Path(r.data.tags["train_dir"]).is_relative_to(tmp_path / "multirun")
        assert (Path(r.data.tags["train_dir"]) / "final" / "model.safetensors").is_file()
    assert not (tmp_path / "train").exists()  # jobs write under their Hydra job folders


def test_non_finite_reward_stops_the_run_naming_the_step(
    tmp_path: Path, smoke_overrides: list[str], mlflow_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hawkeye.training.module as module
    from hawkeye.reward.reward import Reward
    from hawkeye.training.module import NonFiniteError

    _curated(tmp_path)
    calls = {"n": 0}

    def nan_at_step_1(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls["n"] += 1
        bad = calls["n"] > 4  # smoke: 2 questions x G=2 per step -> step 1 starts at call 5
        return Reward(em=0.0, penalty=0.0, leak=0.0, reward=float("nan") if bad else 0.0)

    monkeypatch.setattr(module, "compute_reward", nan_at_step_1)
    with pytest.raises(NonFiniteError, match="step 1"):
        train_app.main(compose_config(smoke_overrides))
    (run,) = _runs()
    assert run.info.status == "FAILED"
    assert torch.load(tmp_path / "train" / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 1


def _curated_testbed(tmp_path: Path, n: int = 6) -> list[dict]:
    """Curated rows of generated testbed questions: they carry their ground truth (`segments`)."""
    from hawkeye.data.sources.testbed import generate

    rows = [{**r, "cot_orig": r["reference_cot"], "cot_orig_tokens": 20, "orig_correct": True,
             "cot_refined": r["reference_cot"], "cot_refined_tokens": 10, "refine_rejected": False, "flags": [],
             "cot_critical_tokens": 8}
            for r in generate("train", n, seed=3, spec=TESTBED_SPEC)]
    write_jsonl(tmp_path / "curated" / "train.jsonl", rows)
    return rows


def test_collapse_is_detected_and_stops_a_real_run(tmp_path: Path, smoke_overrides: list[str], mlflow_uri: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The no-B ablation on testbed questions, with A's text scripted (tiny random models write no
    critical steps): the critical steps and the boxed answer for two steps, then wrong direct answers.
    The real reward scores them, the real per-question rule judges them, and the detector tags the run
    and (stop_on_collapse) ends it at the first step whose last window rose by the margin."""
    from dataclasses import replace

    from hawkeye.data.sources.testbed import critical_steps
    from hawkeye.training.module import GRPOModule

    rows = {r["question"]: r for r in _curated_testbed(tmp_path)}
    original = GRPOModule.sample_cots

    def scripted(self, questions, G, seed):  # noqa: ANN001, ANN202
        gens, step = original(self, questions, G, seed), self.global_step // int(self.g.num_iterations)

        def text(q: str) -> str:
            row = rows[q]
            if step < 2:
                return " ".join(critical_steps(row["segments"])) + rf" \boxed{{{row['answer']}}}"
            return rf"\boxed{{{int(row['answer']) + 1}}}"

        return [replace(g, text=text(q)) for g, q in zip(gens, [q for q in questions for _ in range(G)], strict=True)]

    monkeypatch.setattr(GRPOModule, "sample_cots", scripted)
    max_steps = 6
    # n = 4 x 2 = 8 rollouts per step and a 0.5 margin: k = 1 meets the SE rule (sqrt(0.5/8) = 0.25 = margin/2)
    train_app.main(compose_config([*smoke_overrides, "responder=none", "grpo.group_size=4", f"grpo.max_steps={max_steps}",
                                   "trainer.stop_on_collapse=true", "collapse.window_steps=1", "collapse.margin=0.5",
                                   "trainer.checkpoint_every_n_steps=100"]))
    (run,) = _runs()
    assert run.info.status == "FINISHED"
    assert run.data.tags["collapse"] == "true" and run.data.tags["collapse_step"] == "2"
    curve = list(csv.DictReader((tmp_path / "train" / "collapse_curve.tsv").open(), delimiter="\t"))
    assert [int(r["step"]) for r in curve] == [0, 1, 2]  # stopped there, before max_steps
    assert [float(r["collapsed_share"]) for r in curve] == [0.0, 0.0, 1.0]
    assert [float(r["em"]) for r in curve] == [1.0, 1.0, 0.0] and {r["rollouts"] for r in curve} == {"8"}
    assert [s for s, _ in _history(run.info.run_id, "collapsed_share")] == [0, 1, 2]


def _detector_run(det, shares: list[float], rollouts: int = 16):  # noqa: ANN001, ANN202
    """Feed the detector one step at a time; return the trainer, the MLflow tags and the first step it stopped at."""
    tags = {}
    logger = SimpleNamespace(experiment=SimpleNamespace(set_tag=lambda rid, k, v: tags.__setitem__(k, v)), run_id="r")
    trainer = SimpleNamespace(logger=logger, should_stop=False)
    stopped = None
    for step, share in enumerate(shares):
        module = SimpleNamespace(step_metrics={"step": step, "collapsed_share": share, "rollouts": rollouts})
        det.on_train_batch_end(trainer, module, None, None, step)
        if trainer.should_stop and stopped is None:
            stopped = step
    return trainer, tags, stopped


def test_collapse_detector_applies_the_one_definition() -> None:
    from hawkeye.training.callbacks import CollapseDetector

    # n = 16 rollouts, margin 0.5: the SE rule asks for k = 1; window_steps = 1
    det = CollapseDetector(collapse_rule(margin=0.5, window_steps=1), stop=True)
    # step 1: no rise; step 2: +0.4 < 0.5; step 3: first 0.1 -> last 0.7 (k = 1), +0.6
    trainer, tags, stopped = _detector_run(det, [0.1, 0.1, 0.5, 0.7])
    assert det.collapsed_at == 3 and stopped == 3 and tags == {"collapse": "true", "collapse_step": "3"}


def test_collapse_detector_waits_for_whole_windows_and_never_judges_nan() -> None:
    from hawkeye.training.callbacks import CollapseDetector

    # window_steps = 3: nothing is judged before 6 steps, though the verdict on the 4 steps so far
    # (k = 2: 0 -> 0.5) would fire at step 3
    det = CollapseDetector(collapse_rule(margin=0.5, window_steps=3), stop=True)
    _, _, stopped = _detector_run(det, [0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    assert stopped == 5 and det.collapsed_at == 5
    det = CollapseDetector(collapse_rule(margin=0.5, window_steps=1), stop=True)
    trainer, tags, _ = _detector_run(det, [math.nan, math.nan, math.nan])  # no ground truth: not judged
    assert det.collapsed_at is None and not trainer.should_stop and not tags


def test_a_rollout_collapses_by_the_em_the_reward_used() -> None:
    """The per-sample collapse flag reads A's CoT with the reward's EM (B's answer with B): a CoT with no
    steps whose scored answer was right is compression; rows without ground truth are NaN."""
    from hawkeye.data.sources.testbed import generate
    from hawkeye.generation.base import Generation
    from hawkeye.reward.reward import Reward
    from hawkeye.training.module import Rollouts, step_summary

    rule = collapse_rule()
    row = {**generate("train", 1, seed=0, spec=TESTBED_SPEC)[0], "cot_orig_tokens": 20, "cot_critical_tokens": 8}
    gsm = {"question": "Tom has 3 apples. How many?", "answer": "3", "cot_orig_tokens": 20}
    short = Generation(text="The answer is below.", token_ids=[1, 2])  # A states no step; B answers
    right, wrong = Reward(em=1.0, penalty=0.0, leak=0.0, reward=1.0), Reward(em=0.0, penalty=0.0, leak=0.0, reward=0.0)

    def rollouts(*samples: tuple[Reward, dict]) -> Rollouts:
        return Rollouts.of([s for s, _ in samples], [2] * len(samples), [r for _, r in samples],
                           [short] * len(samples), rule)

    assert rollouts((right, row), (wrong, row)).collapsed.tolist() == [0.0, 1.0]
    unjudged = rollouts((wrong, gsm))
    assert math.isnan(unjudged.collapsed[0]) and math.isnan(unjudged.critical_tokens[0])

    def summary(r: Rollouts) -> dict[str, float]:
        n = len(r.reward)
        return step_summary(0, r, torch.zeros(n), torch.zeros(1), {"clip_fraction": 0.0, "kl": 0.0, "loss": 0.0},
                            0.0, {})

    m = summary(rollouts((right, row), *[(wrong, row)] * 3))
    assert m["collapsed_share"] == 0.75 and m["rollouts"] == 4 and m["critical_tokens_mean"] == 8
    assert math.isnan(summary(rollouts((wrong, row), (wrong, gsm)))["collapsed_share"])
