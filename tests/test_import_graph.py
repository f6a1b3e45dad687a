"""The package's modules import one way: no cycle, counting imports inside functions and TYPE_CHECKING blocks.

The graph is built from the source with ``ast``, so an import that only runs
later (inside a function) or only for the type checker counts as much as one
at the top: either is a place where two modules need each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import conditional_api

PACKAGE = Path(conditional_api.__file__).parent
NAME = "conditional_api"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for path in PACKAGE.rglob("*.py")
        if "migrations" not in path.relative_to(PACKAGE).parts
    }


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    if level == 0:
        return name or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([name] if name else [])])


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the package modules it imports, anywhere in its source."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, is_package, node.level, node.module)
                # ``from . import cache`` imports the module ``cache``; ``from .x import y``, the module x.
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names
                ]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target.startswith(NAME) and target != module:
                    graph[module].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as the path around it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_package_has_no_import_cycle():
    graph = import_graph(_modules())
    # The package root only re-exports: nothing inside imports it.
    graph[NAME] = set()
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


@pytest.mark.parametrize(
    "sources, cycle",
    [
        ({"a": "from . import b", "b": "def f():\n    from .a import x"}, True),
        ({"a": "from .b import y", "b": "if TYPE_CHECKING:\n    from .a import x"}, True),
        ({"a": "from . import b", "b": "import os"}, False),
        ({"a": "import conditional_api.b", "b": "from .c import z", "c": "from .a import q"}, True),
    ],
)
def test_the_graph_sees_imports_anywhere(tmp_path, monkeypatch, sources, cycle):
    package = tmp_path / NAME
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, source in sources.items():
        (package / f"{name}.py").write_text(source + "\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["PACKAGE"]), "PACKAGE", package)
    graph = import_graph(_modules())
    graph[NAME] = set()
    assert (find_cycle(graph) is not None) is cycle


@pytest.mark.parametrize(
    "module, must_not_import",
    [
        # Value types are a leaf.
        ("conditional_api.validators", {f"{NAME}.{m}" for m in ("conf", "models", "changes", "cache", "flow")}),
        # The data layer knows nothing of requests.
        ("conditional_api.changes", {f"{NAME}.{m}" for m in ("cache", "models", "flow", "strategies", "conf")}),
        ("conditional_api.models", {f"{NAME}.{m}" for m in ("cache", "flow", "strategies", "hooks")}),
        ("conditional_api.dependencies", {f"{NAME}.{m}" for m in ("models", "changes", "cache", "hooks")}),
        ("conditional_api.tables", {f"{NAME}.{m}" for m in ("models", "changes", "cache", "flow", "strategies")}),
        ("conditional_api.counting", {f"{NAME}.{m}" for m in ("cache", "flow", "strategies", "hooks", "tables")}),
        # The flow is framework-free and adapter-free.
        ("conditional_api.flow", {f"{NAME}.{m}" for m in ("drf", "decorators", "strategies", "models")}),
        ("conditional_api.strategies", {f"{NAME}.{m}" for m in ("flow", "drf", "decorators")}),
    ],
)
def test_layers_point_down(module, must_not_import):
    graph = import_graph(_modules())
    assert not graph[module] & must_not_import


#: Each framework, and the adapter modules that alone may import it.
ADAPTERS = {"rest_framework": {f"{NAME}.drf", f"{NAME}.drf_fields"}, "ninja": {f"{NAME}.ninja"}}


@pytest.mark.parametrize("framework", ADAPTERS)
def test_only_its_adapter_imports_a_framework(framework):
    for module, path in _modules().items():
        if module in ADAPTERS[framework]:
            continue
        imported = {
            alias.name if isinstance(node, ast.Import) else node.module or ""
            for node in ast.walk(ast.parse(path.read_text()))
            # Absolute imports only: ``from .ninja import x`` is the package's own module.
            if isinstance(node, ast.Import) or (isinstance(node, ast.ImportFrom) and node.level == 0)
            for alias in node.names
        }
        assert not any(name == framework or name.startswith(f"{framework}.") for name in imported), module
