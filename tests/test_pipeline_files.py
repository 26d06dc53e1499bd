"""The DVC pipeline is wired to files that exist, and params.yaml matches conf/."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import yaml

from hawkeye.paths import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "scripts"))
from compose_params import composed  # noqa: E402


def test_params_yaml_is_conf_composed() -> None:
    """`dvc repro` reads params.yaml: it must be what conf/ composes to (run `make params`)."""
    assert (REPO_ROOT / "params.yaml").read_text() == composed([])


def test_stage_commands_and_code_deps_exist() -> None:
    dvc = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())
    for name, stage in dvc["stages"].items():
        body = stage.get("do", stage)
        script = next(tok for tok in body["cmd"].split() if tok.endswith(".py"))
        assert (REPO_ROOT / script).is_file(), f"stage {name}: {script} missing"
        for dep in body.get("deps", []):
            if dep.startswith(("src/", "pipelines/")):
                assert (REPO_ROOT / dep).exists(), f"stage {name}: dep {dep} missing"


def _imports_reached(script: Path) -> tuple[set[Path], dict[Path, set[Path]]]:
    """(every repo file `script` imports, transitively; the entry points that those files start as
    subprocesses: a `*.py` string constant naming a file under src/ or pipelines/, by file)."""
    roots = [REPO_ROOT / "src", REPO_ROOT / "pipelines", REPO_ROOT]
    seen: set[Path] = set()
    launches: dict[Path, set[Path]] = {}
    todo = [script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.endswith(".py"):
                launches.setdefault(path, set()).update(
                    f for f in (REPO_ROOT / "src" / node.value, REPO_ROOT / "pipelines" / node.value) if f.is_file())
            for name in names:
                rel = Path(*name.split("."))
                for root in roots:
                    for f in (root / rel.with_suffix(".py"), root / rel / "__init__.py"):
                        if f.is_file():
                            todo.append(f)
    return seen, launches


# The one subprocess launch inside the library: the train stage runs src/train.py once per arm x seed.
# The import walk sees the constant from every stage (the arms schema is imported everywhere), so
# launches are checked against this table instead: a new one fails the test until it is listed here.
LAUNCHES = {"src/hawkeye/training/arms.py": ("src/train.py", "train")}


def test_each_stage_depends_on_every_file_its_command_runs() -> None:
    """DVC must rerun a stage when any code it really runs changes: every local file that the stage's
    script imports, transitively, lies under one of its deps, and so does every entry point it launches."""
    dvc = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())
    for name, stage in dvc["stages"].items():
        body = stage.get("do", stage)
        deps = [REPO_ROOT / (d if isinstance(d, str) else next(iter(d))) for d in body.get("deps", [])]
        script = REPO_ROOT / next(tok for tok in body["cmd"].split() if tok.endswith(".py"))
        reached, launches = _imports_reached(script)
        assert len(reached) > 5, f"stage {name}: the import walk found only {sorted(map(str, reached))}"
        found = {str(f.relative_to(REPO_ROOT)): {str(t.relative_to(REPO_ROOT)) for t in ts}
                 for f, ts in launches.items() if ts}
        assert found == {f: {t} for f, (t, _) in LAUNCHES.items() if REPO_ROOT / f in reached}, found
        reached |= {REPO_ROOT / t for f, (t, launcher) in LAUNCHES.items() if launcher == name}
        missing = sorted(str(f.relative_to(REPO_ROOT)) for f in reached
                         if not any(f == d or d in f.parents for d in deps))
        assert not missing, f"stage {name} runs {missing} but dvc.yaml does not list them (or a folder above) in deps"


def test_each_data_dep_is_an_upstream_output() -> None:
    """A stage's data inputs come from an earlier stage's outs, so `dvc repro` orders and reruns them."""
    dvc = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())
    produced: set[str] = set()
    for name, stage in dvc["stages"].items():
        for dep in stage.get("deps", []):
            if not dep.startswith(("src/", "pipelines/")):
                assert any(dep == o or dep.startswith(o.rstrip("/") + "/") or o.startswith(dep.rstrip("/") + "/")
                           for o in produced), f"stage {name}: dep {dep} is no earlier stage's output"
        for out in [*stage.get("outs", []), *stage.get("metrics", []), *stage.get("plots", [])]:
            produced.add(out if isinstance(out, str) else next(iter(out)))


def test_dvc_hydra_composition_enabled() -> None:
    assert "enabled = True" in (REPO_ROOT / ".dvc" / "config").read_text()


def test_dvc_understands_the_pipeline() -> None:
    out = subprocess.run(
        [str(Path(sys.executable).parent / "dvc"), "dag", "--md"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    # Whole node names ("train" must not pass on "train_no_b"); a foreach stage is "name@key".
    nodes = {name.split("@")[0] for name in re.findall(r'node\d+\["([^"]+)"\]', out.stdout)}
    assert nodes == set(yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"])
    for stage in ("prepare", "warmstart", "curate", "train", "evaluate", "report"):
        assert stage in nodes, f"stage {stage} missing from `dvc dag`: {sorted(nodes)}"


def test_dvc_hashes_code_without_bytecode_caches() -> None:
    """`src/hawkeye` is a DVC dependency: its hash must not depend on which modules were imported
    (the __pycache__ folders a run leaves), or a clone never matches dvc.lock."""
    out = subprocess.run(
        [str(Path(sys.executable).parent / "dvc"), "check-ignore", "src/hawkeye/__pycache__/x.cpython-311.pyc",
         "src/hawkeye/training/__pycache__/module.cpython-311.pyc"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0 and len(out.stdout.split()) == 2, out.stdout + out.stderr


def test_dvc_does_not_hash_what_differs_on_every_machine() -> None:
    """The train stage's output holds, beside its results, what differs from run to run and is no
    result: wall times, logs, MLflow run ids with the resume checkpoints. DVC ignores exactly those, so
    a reproduction's dvc.lock matches the committed one where the results do."""
    volatile = ["runs/train/timings.json", "runs/train/b_mask/seed1/train.log",
                "runs/train/b_mask/seed1/checkpoints/last.ckpt", "runs/train/b_mask/seed1/checkpoints/mlflow_run.json",
                "runs/baselines/timings.json", "runs/baselines/sft_refined/seed1/checkpoints/last.ckpt"]
    results = ["runs/train/b_mask/seed1/config.json", "runs/train/b_mask/seed1/metrics.json",
               "runs/train/b_mask/seed1/final/model.safetensors", "runs/train/b_mask/seed1/collapse_curve.tsv",
               "runs/baselines/sft_refined/seed1/config.json", "runs/baselines/sft_refined/seed1/inputs.json",
               "runs/baselines/sft_refined/seed1/final/model.safetensors"]
    dvc = str(Path(sys.executable).parent / "dvc")
    ignored = subprocess.run([dvc, "check-ignore", *volatile, *results], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=120).stdout.split()
    assert sorted(ignored) == sorted(volatile)


def test_the_replicated_design_is_the_default_over_three_warm_starts() -> None:
    """`make replicate` changes the warm starts and nothing else, so its result is the default's, replicated."""
    default = yaml.safe_load(composed([]))
    replicated = yaml.safe_load(composed(["experiment=testbed_replicated"]))
    assert default["warmstart"].pop("seeds") == [1] and replicated["warmstart"].pop("seeds") == [1, 2, 3]
    assert replicated == default
    second = yaml.safe_load(composed(["experiment=testbed_replicated", "warmstart.seeds=[4,5,6]"]))
    assert second["warmstart"]["seeds"] == [4, 5, 6]
