"""The shape of the code: small modules, short functions, no import cycles in the packages
(the CloudFormation generators, declarative resource lists, are not held to these)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("s3common", "s3grouper", "s3bundler", "s3restore", "s3jobs")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def modules(packages=PACKAGES) -> dict[str, Path]:
    found = {}
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[".".join(path.relative_to(ROOT).with_suffix("").parts)] = path
    found["submitmanifest"] = ROOT / "submitmanifest.py"
    return found


@pytest.mark.parametrize("package", [*PACKAGES, "bench"])
def test_no_module_is_over_the_limit(package):
    long = {
        str(p.relative_to(ROOT)): n
        for p in (ROOT / package).rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_is_over_the_limit():
    long = {}
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long[f"{name}.{node.name}"] = length
    assert long == {}


def test_the_packages_import_graph_has_no_cycle():
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                deps.add(node.module)
                deps.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        graph[name] = {d for d in deps if d in known and d != name}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for dep in graph[node]:
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif not state.get(dep):
                visit(dep, stack)
        stack.pop()
        state[node] = 2

    for node in graph:
        if not state.get(node):
            visit(node, [])
    assert cycles == []
