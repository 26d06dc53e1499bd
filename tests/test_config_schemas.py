"""Every config value has one home, the YAML in conf/; the schemas hold types and checks. And the
aggregator that gathers the schemas sits above the packages that define them."""

from __future__ import annotations

import ast
import dataclasses
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import compose_config
from hawkeye.config import GROUP_SCHEMAS, validate
from hawkeye.data.config import DataConfig
from hawkeye.data.sources.testbed import TestbedSpec
from hawkeye.errors import ConfigError
from hawkeye.paths import CONF_DIR, REPO_ROOT


def _nested_schemas(schema: type) -> Iterator[tuple[str, type]]:
    """(field name, dataclass type) of each field of `schema` that is itself a schema."""
    for name, hint in typing.get_type_hints(schema).items():
        if dataclasses.is_dataclass(hint):
            yield name, hint


def _all_schemas() -> set[type]:
    """Every schema dataclass, nested ones and bases included."""
    seen: set[type] = set()
    todo = list(GROUP_SCHEMAS.values())
    while todo:
        schema = todo.pop()
        if schema in seen:
            continue
        seen.add(schema)
        todo += [t for _, t in _nested_schemas(schema)]
        todo += [b for b in schema.__mro__[1:] if dataclasses.is_dataclass(b)]
    return seen


def _is_optional_key(schema: type, f: dataclasses.Field) -> bool:
    """An optional key: `X | None = None` (left out of the YAML where it does not apply)."""
    hint = typing.get_type_hints(schema)[f.name]
    return f.default is None and isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)


def _yaml_nodes() -> Iterator[tuple[str, type, dict[str, Any]]]:
    """(file, schema, node) of every mapping conf/ gives a schema: each group option file, and each
    group key that conf/config.yaml or a preset sets."""
    for path in sorted(CONF_DIR.rglob("*.yaml")):
        text = yaml.safe_load(path.read_text()) or {}
        group = path.parent.name
        if group in GROUP_SCHEMAS:
            yield str(path), GROUP_SCHEMAS[group], {k: v for k, v in text.items() if k != "defaults"}
        elif path.parent == CONF_DIR or group == "experiment":
            for key, node in text.items():
                if key in GROUP_SCHEMAS and isinstance(node, dict):
                    yield f"{path}:{key}", GROUP_SCHEMAS[key], node


def _written_defaults(where: str, schema: type, node: dict[str, Any]) -> Iterator[str]:
    """The keys of `node` that repeat a default of `schema` (recursing into nested schemas)."""
    nested = dict(_nested_schemas(schema))
    for f in dataclasses.fields(schema):
        if f.name in nested and isinstance(node.get(f.name), dict):
            yield from _written_defaults(f"{where}.{f.name}", nested[f.name], node[f.name])
        elif f.name in node and f.default is not dataclasses.MISSING and node[f.name] == f.default:
            yield f"{where}.{f.name}"


def test_no_schema_field_holds_a_value() -> None:
    """A schema default is a second copy of the YAML's value, and copies drift: no field has one,
    except an optional key (None: not this kind of thing)."""
    schemas = _all_schemas()
    assert len(schemas) >= len(set(GROUP_SCHEMAS.values())) + 6  # nested and base schemas are walked too
    valued = [f"{s.__qualname__}.{f.name}" for s in schemas for f in dataclasses.fields(s)
              if (f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING)
              and not _is_optional_key(s, f)]
    assert valued == [], f"schema fields with a value of their own (the YAML holds values): {valued}"


def test_no_yaml_repeats_an_optional_keys_default() -> None:
    repeated = [key for where, schema, node in _yaml_nodes() for key in _written_defaults(where, schema, node)]
    assert repeated == [], f"YAML keys that repeat the schema's default (leave them out): {repeated}"


def test_the_testbed_generators_keys_are_declared_once() -> None:
    """The data group's generator keys are TestbedSpec's fields, inherited, not redeclared."""
    own = set(DataConfig.__dict__.get("__annotations__", {}))
    spec_keys = {f.name for f in dataclasses.fields(TestbedSpec)}
    assert spec_keys <= {f.name for f in dataclasses.fields(DataConfig)}
    assert not own & spec_keys, f"DataConfig redeclares the generator's keys {sorted(own & spec_keys)}"


@pytest.mark.parametrize("overrides", [
    [], ["experiment=testbed_quick"], ["experiment=smoke"], ["experiment=packaged"], ["experiment=paper_gsm8k"],
    ["experiment=real"],
    ["responder=none"], ["data=gsm8k"], ["curate=llm"], ["rollout=vllm"], ["arms=probes"],
    ["policy=qwen_coder_0_5b", "responder=smollm2_135m"], ["policy=r1_distill_qwen_7b", "responder=qwen2_5_0_5b"],
    ["trainer=gpu"], ["trainer=ddp", "grpo.questions_per_step=8"], ["trainer=fsdp", "grpo.questions_per_step=8"],
])
def test_every_option_composes_a_config_that_validates(overrides: list[str]) -> None:
    """With no schema defaults to fall back on, every group option and preset must give every key."""
    validate(compose_config(overrides))


def test_a_key_the_yaml_leaves_out_fails_naming_it() -> None:
    with pytest.raises(ConfigError, match="'eval.margin'"):
        validate(compose_config(["~eval.margin"]))
    with pytest.raises(ConfigError, match="'warmstart.b.lr'"):
        validate(compose_config(["~warmstart.b.lr"]))


# ---- layering: the aggregator sits above what it gathers ----------------------------------------

SRC = REPO_ROOT / "src"
ABOVE = {"hawkeye.config", "hawkeye.runtime"}  # gathers every group's schema; runs it at every entry point


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """module -> the hawkeye modules it imports anywhere in its body (imports inside functions too)."""
    modules = {_module(p): p for p in (SRC / "hawkeye").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                deps |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
        graph[name] = deps & modules.keys()
    return graph


def _reaches(graph: dict[str, set[str]], start: str, targets: set[str]) -> list[str]:
    """The import chain from `start` to one of `targets` ([] if none)."""
    paths, seen = [[start]], {start}
    while paths:
        path = paths.pop(0)
        for dep in sorted(graph.get(path[-1], ())):
            if dep in targets:
                return [*path, dep]
            if dep not in seen:
                seen.add(dep)
                paths.append([*path, dep])
    return []


def test_no_package_whose_schema_is_gathered_imports_the_aggregator() -> None:
    """Imports point down the stack: the packages below the aggregator never import it (entry
    points, `__main__` modules, sit on top and may)."""
    modules = {s.__module__ for s in GROUP_SCHEMAS.values()} - ABOVE  # `paths` is the aggregator's own
    packages = {m.removesuffix(".config") for m in modules}
    assert {"hawkeye.generation", "hawkeye.training", "hawkeye.collapse"} <= packages
    graph = _import_graph()
    below = [m for m in graph if any(m == p or m.startswith(p + ".") for p in packages) and not m.endswith("__main__")]
    chains = [" -> ".join(chain) for m in sorted(below) if (chain := _reaches(graph, m, ABOVE))]
    assert chains == [], "modules below the aggregator import it:\n" + "\n".join(chains)
