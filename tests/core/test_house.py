"""House rules a reader relies on, checked on the source (no ComfyUI needed): small files and functions, thin node
``execute()`` methods, node modules that do not import each other, the stable ComfyUI API, no ``print``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_FILE_LINES = 450  # diffsensei_core/ and nodes/
MAX_FUNCTION_LINES = 60  # everywhere but tests/ and benchmarks/
MAX_EXECUTE_LINES = 30  # a node's execute(): validate → core → output
PRODUCT_DIRS = ("diffsensei_core", "nodes")
CODE_DIRS = ("diffsensei_core", "nodes", "headless", "scripts")


def python_files(*dirs: str) -> list[Path]:
    return sorted(p for d in dirs for p in (ROOT / d).rglob("*.py") if "node_modules" not in p.parts)


def functions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def length(node: ast.AST) -> int:
    """Lines from the def (decorators excluded) to the last line of the body."""
    return node.end_lineno - node.lineno + 1


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_the_rules_see_the_code():
    assert len(python_files(*PRODUCT_DIRS)) > 40
    assert len(python_files("nodes")) > 10


@pytest.mark.parametrize("path", python_files(*PRODUCT_DIRS), ids=rel)
def test_product_files_are_small(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_FILE_LINES, f"{rel(path)} has {lines} lines (at most {MAX_FILE_LINES}): split it by topic"


@pytest.mark.parametrize("path", python_files(*CODE_DIRS), ids=rel)
def test_functions_are_short(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    long = [f"{f.name} ({length(f)} lines)" for f in functions(tree) if length(f) > MAX_FUNCTION_LINES]
    assert not long, f"{rel(path)}: functions over {MAX_FUNCTION_LINES} lines: {', '.join(long)}"


@pytest.mark.parametrize("path", python_files("nodes"), ids=rel)
def test_node_execute_is_thin(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    long = [f"{cls.name}.execute ({length(f)} lines)" for cls in ast.walk(tree) if isinstance(cls, ast.ClassDef)
            for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "execute"
            and length(f) > MAX_EXECUTE_LINES]
    assert not long, f"{rel(path)}: {', '.join(long)} (at most {MAX_EXECUTE_LINES}: move the work into helpers/core)"


def node_modules() -> list[Path]:
    return [p for p in python_files("nodes") if p.parent == ROOT / "nodes" and p.name != "__init__.py"]


@pytest.mark.parametrize("path", node_modules(), ids=rel)
def test_node_modules_do_not_import_each_other(path):
    """Shared node code lives in nodes/host/; a node module importing another one hides a dependency."""
    siblings = {p.stem for p in node_modules()}
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names = [node.module] if node.module else [a.name for a in node.names]
            bad += [n for n in names if n and n.split(".")[0] in siblings]
    assert not bad, f"{rel(path)} imports node module(s) {bad}: move what they share into nodes/host/"


@pytest.mark.parametrize("path", python_files("nodes"), ids=rel)
def test_nodes_use_the_stable_comfy_api(path):
    """``comfy_api.latest`` is unstable; ``v0_0_2`` exists in 0.3.64 and in current ComfyUI."""
    text = path.read_text(encoding="utf-8")
    assert "comfy_api.latest" not in text, f"{rel(path)} imports comfy_api.latest; import comfy_api.v0_0_2"


@pytest.mark.parametrize("path", python_files(*CODE_DIRS), ids=rel)
def test_no_print(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = [n.lineno for n in ast.walk(tree)
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"]
    assert not calls, f"{rel(path)} calls print() on line(s) {calls}: log through logging.getLogger('diffsensei')"


RAY_MODULE = ROOT / "headless" / "ray_chapter.py"


@pytest.mark.parametrize("path", python_files(*CODE_DIRS), ids=rel)
def test_only_the_ray_runner_imports_ray(path):
    """Ray is an optional extra: only headless/ray_chapter.py imports it, and only inside a function (on --ray)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)
               and any((a.name if isinstance(n, ast.Import) else n.module or "").split(".")[0] == "ray"
                       for a in n.names)]
    if path != RAY_MODULE:
        assert not imports, f"{rel(path)} imports ray on line(s) {[n.lineno for n in imports]}: go through ray_chapter"
    else:
        top = [n.lineno for n in tree.body if n in imports]
        assert not top, f"{rel(path)} imports ray at module level (line(s) {top}): import it inside ray_module()"
