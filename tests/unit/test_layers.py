"""The layers stay visible in the imports: nothing imports upward, and no two modules import each other.

domain (and errors, values) <- db <- services <- facade and connection <- ui and cli. Every import
counts, also one inside a function: a deferred import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "cmkit"

#: module name prefixes by layer, lowest first; a module may import its own layer and those below
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cmkit.errors", "cmkit.values", "cmkit.domain", "cmkit.demo_words"),
    ("cmkit.db",),
    ("cmkit.services",),
    (
        "cmkit.facade",
        "cmkit.connection",
        "cmkit.backup",
        "cmkit.backup_check",
        "cmkit.demo",
        "cmkit.demo_scale",
        "cmkit.runbooks",
    ),
    ("cmkit.ui", "cmkit.cli", "cmkit"),
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> int:
    best, found = -1, None
    for level, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), level
    assert found is not None, f"{module} belongs to no layer; add it to LAYERS"
    return found


def _imports(path: Path, module: str) -> set[str]:
    """The cmkit modules `path` imports (`from cmkit.x import y` counts y when it is a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("cmkit"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + [base]
                ).strip(".")
            if not base.startswith("cmkit"):
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
    return {m for m in found if m != module}


FILES = {
    _module_name(p): p
    for p in PACKAGE.rglob("*.py")
    if "migrations" not in p.parts or p.parent.name == "versions"
}
MODULES = set(FILES)
GRAPH = {m: _imports(p, m) for m, p in FILES.items()}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_higher_layer(module: str) -> None:
    upward = sorted(i for i in GRAPH[module] if i in MODULES and _layer(i) > _layer(module))
    assert not upward, f"{module} (layer {_layer(module)}) imports from higher layers: {upward}"


def test_no_import_circles() -> None:
    """Tarjan's strongly connected components of the import graph: each must be a single module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH.get(v, ()):
            if w not in MODULES or w == "cmkit":
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for module in sorted(MODULES):
        if module not in index:
            visit(module)
    assert not circles, f"import circles: {circles}"


def test_migrations_import_no_live_code_above_the_domain() -> None:
    """A migration must keep working when live code changes: it may use the domain (folding rules)
    but carries its own copies of everything else."""
    for module, path in FILES.items():
        if ".migrations.versions." not in module:
            continue
        live = sorted(i for i in GRAPH[module] if i in MODULES and _layer(i) > 0)
        assert not live, f"{path.name} imports live code: {live}"
