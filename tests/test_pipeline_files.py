"""The DVC pipeline is wired to files that exist, and params.yaml matches conf/."""

from __future__ import annotations

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
