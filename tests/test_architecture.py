"""The layout keeps its promises: short modules and functions, no import circles, a pure core.

These walk the source with :mod:`ast` (nothing is imported), so they also see imports made inside
functions. Imports under ``if TYPE_CHECKING:`` are not counted: they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

PKG = Path(__file__).resolve().parents[1] / "geo_app"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST):  # noqa: ANN202
    """Every Import/ImportFrom node that can run (TYPE_CHECKING blocks skipped)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _known(name: str) -> str | None:
    """The geo_app module that ``name`` denotes (a dotted name may end in a class or function)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> set[str]:
    """Modules of geo_app that one import statement loads (submodule imports name the submodule only)."""
    if isinstance(node, ast.Import):
        return {m for a in node.names if (m := _known(a.name)) and a.name.startswith("geo_app")}
    if node.level:
        base = module.split(".")
        if MODULES[module].name != "__init__.py":
            base.pop()
        base = base[: len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    if not source.startswith("geo_app"):
        return set()
    subs = {f"{source}.{a.name}" for a in node.names if f"{source}.{a.name}" in MODULES}
    if subs and len(subs) == len(node.names):
        return subs  # `from pkg import sub` loads pkg too, but pkg is the importer's own ancestor or a facade
    return subs | ({m} if (m := _known(source)) else set())


def import_graph() -> dict[str, set[str]]:
    """Module → the geo_app modules it imports."""
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        deps: set[str] = set()
        for node in _import_nodes(tree):
            deps |= _targets(name, node)
        deps.discard(name)
        graph[name] = deps
    return graph


def test_no_module_over_limit() -> None:
    long = {name: n for name, p in MODULES.items()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_function_over_limit() -> None:
    long = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name} ({n} lines)")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (each is an import circle)."""
    names = sorted(graph)
    index = {n: i for i, n in enumerate(names)}
    rows = [index[a] for a in names for _ in graph[a]]
    cols = [index[b] for a in names for b in graph[a]]
    adj = csr_matrix(([1] * len(rows), (rows, cols)), shape=(len(names), len(names)))
    _, labels = connected_components(adj, directed=True, connection="strong")
    groups: dict[int, list[str]] = {}
    for name, label in zip(names, labels, strict=True):
        groups.setdefault(int(label), []).append(name)
    return [g for g in groups.values() if len(g) > 1]


def test_no_import_circles() -> None:
    found = circles(import_graph())
    assert not found, f"import circles: {found}"


def test_the_walker_sees_imports_and_circles() -> None:
    """Guards against a walker that sees nothing: real edges are found and a made-up circle is caught."""
    graph = import_graph()
    assert "geo_app.errors" in graph["geo_app.validate"]
    assert any(d.startswith("geo_app.network") for d in graph["geo_app.analysis.surface"])
    fake = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(fake) == [["a", "b", "c"]]


@pytest.mark.parametrize("folder", ["analysis", "network"])
def test_core_imports_no_web_and_no_storage(folder: str) -> None:
    bad = []
    for name, path in MODULES.items():
        if not name.startswith(f"geo_app.{folder}"):
            continue
        for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            hits = [m for m in mods if m.split(".")[0] in ("flask", "werkzeug", "flask_login", "flask_wtf")]
            hits += [t for t in _targets(name, node) if t.startswith(("geo_app.storage", "geo_app.web"))]
            if hits:
                bad.append(f"{name}: {hits}")
    assert not bad, bad


def test_core_runs_without_flask() -> None:
    """Importing the engine and the analysis loads no Flask at all (checked in a fresh interpreter)."""
    import subprocess
    import sys

    code = ("import sys, geo_app.network.graph, geo_app.analysis.surface, geo_app.analysis.isochrones, "
            "geo_app.analysis.accessibility; print(sorted(m for m in sys.modules if m.split('.')[0] == 'flask'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    from geo_app import create_app  # the public entry point still works

    assert callable(create_app)
