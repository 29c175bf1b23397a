"""The rooms of docs/architecture.md, checked: who may import whom, and that only a kind's own modules
name it. Reads the source with ``ast``; imports under ``if TYPE_CHECKING:`` are type hints, not uses."""

import ast
from pathlib import Path

import pytest

from changeflow.kinds import KINDS

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {  # import name prefix -> folder
    "changeflow.flows": ROOT / "flows",
    "changeflow.tasks": ROOT / "tasks",
    "changeflow": ROOT / "changeflow",
}
ALLOWED = {  # room -> changeflow rooms it may import
    "domain": {"domain", "exceptions"},
    "kinds": {"domain", "exceptions", "kinds", "ports"},
    "services": {"domain", "kinds", "ports", "exceptions", "settings", "services", "signing"},
    "adapters": {"domain", "ports", "settings", "exceptions", "adapters", "signing"},
    "bootstrap": {"adapters", "ports", "settings", "exceptions", "domain", "signing"},
    "ports": {"domain"},
    "signing": {"exceptions"},
    "settings": {"domain", "exceptions", "kinds", "settings", "examples", "signing"},
    "tasks": {"bootstrap", "services", "kinds", "domain", "adapters", "settings", "exceptions", "ports", "tasks", "signing"},
    "flows": {"bootstrap", "services", "kinds", "domain", "adapters", "settings", "exceptions", "ports", "tasks", "flows", "signing"},
}
DOMAIN_THIRD_PARTY = {"numpy", "scipy", "ml_dtypes", "pydantic", "google", "tritonclient"}  # scipy.stats for the judge; protobuf model configs; no clients, no I/O


def modules():
    for prefix, folder in SOURCES.items():
        for path in sorted(folder.rglob("*.py")):
            relative = path.relative_to(folder).with_suffix("")
            if prefix == "changeflow" and relative.parts[0] in ("flows", "tasks", "examples"):
                continue
            yield prefix + "." + ".".join(relative.parts), path


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def runtime_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    typing_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
                   for node in ast.walk(block)}
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


CHECKED = [(m, p) for m, p in modules() if room(m) in ALLOWED]


@pytest.mark.parametrize("module, path", CHECKED, ids=[m for m, _ in CHECKED])
def test_each_room_imports_only_the_rooms_below_it(module, path):
    mine = room(module)
    wrong = []
    for imported in runtime_imports(path):
        top = imported.split(".")[0]
        if top == "changeflow":
            if imported == "changeflow" or room(imported) not in ALLOWED[mine]:
                wrong.append(imported)
        elif mine == "domain" and top not in DOMAIN_THIRD_PARTY and top not in _stdlib():
            wrong.append(imported)
    assert not wrong, f"{module} ({mine}) must not import {wrong}"


def _stdlib() -> set[str]:
    import sys

    return set(sys.stdlib_module_names) | {"__future__"}


def test_only_a_kinds_own_modules_name_it():
    """Nothing outside kinds/<kind>.py, flows/<kind>.py and tasks/<kind>.py branches on a kind by name."""
    offenders = []
    for module, path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in KINDS and path.stem != node.value:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} names {node.value!r}")
    assert not offenders, offenders


def test_no_module_is_over_300_lines():
    long = {str(p.relative_to(ROOT)): n for _, p in modules() if (n := len(p.read_text().splitlines())) > 300}
    assert not long, long


def test_no_tensor_name_of_the_sample_models_is_written_in_the_product():
    """Requests come from golden sets bound to a model's config: no input or output name is hard-coded."""
    from changeflow.domain.golden import signature
    from changeflow.domain.model_config import parse_config

    names = set()
    for config in (ROOT / "examples" / "model_repository").glob("*/config.pbtxt"):
        sig = signature(parse_config(config.read_text()))
        names |= {t.name for t in sig.inputs + sig.outputs}
    assert {"INPUT", "IMAGE", "TEXT", "AMOUNT", "SIGNALS", "LABEL", "PROBS", "RISK"} <= names
    found = [f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}" for _, path in modules()
             for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Constant) and node.value in names]
    assert not found, found
