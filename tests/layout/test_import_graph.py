"""The package's import graph has no cycles and no module grows past ~500 lines."""

import ast
from pathlib import Path

import pytest

import latentgeo

# The imported package (the installed wheel in CI), read as source text: never python/ by path.
PKG = Path(latentgeo.__file__).resolve().parent
MAX_LINES = 550


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph():
    """{module: set of latentgeo modules it imports} over every .py file of the package (lazy
    imports inside functions included)."""
    files = {_module_name(p): p for p in PKG.rglob("*.py")}
    known = set(files) | {"latentgeo._core"}  # the compiled module imports nothing of ours
    graph = {}
    for name, path in files.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                # ``from P import x`` imports the module P.x when there is one, else a name of P.
                base = _resolve(name, path.name == "__init__.py", node)
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
                ]
            deps |= {t for t in targets if t in files and t != name}
        graph[name] = deps
    return graph


def _cycles(graph):
    """Every strongly connected component with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def _without_package_inits(graph):
    """A subpackage's ``__init__`` re-exports its private modules, and a private module may import
    a sibling subpackage's public face; the cycles that matter are between modules, so an
    ``__init__`` is replaced by the modules it re-exports."""
    inits = {m for m in graph if (PKG.parent / m.replace(".", "/") / "__init__.py").exists()}

    def expand(m, seen=()):
        if m not in inits or m in seen:
            return {m}
        out = set()
        for d in graph[m]:
            if d.startswith(m + "."):
                out |= expand(d, seen + (m,))
        return out or {m}

    return {
        m: {e for d in deps for e in expand(d)} - {m}
        for m, deps in graph.items()
        if m not in inits or m == "latentgeo"
    } | {m: set() for m in inits if m != "latentgeo"}


def test_the_walker_sees_real_edges():
    g = import_graph()
    assert "latentgeo.neighbors._knn" in g["latentgeo.hubs._scores"]
    assert "latentgeo._core" not in g  # compiled, not a .py file
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    assert _cycles(_without_package_inits(import_graph())) == []


def test_layers_point_down():
    """Capabilities build on neighbors; neighbors never imports a capability, and nothing but the
    CLI imports the CLI."""
    g = import_graph()
    for module, deps in g.items():
        if module.startswith("latentgeo.neighbors"):
            bad = [d for d in deps if d.split(".")[1:2] in (["hubs"], ["geodesics"], ["cli"])]
            assert bad == [], module
        if not module.startswith(("latentgeo.cli", "latentgeo.__main__")):
            assert not [d for d in deps if d.startswith("latentgeo.cli")], module


def _imported(nodes):
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module or ""


def test_only_scale_imports_dask():
    """dask, distributed and cloudpickle are the optional extra: only latentgeo.scale imports
    them, and the CLI (for --scheduler / --workers) only inside functions; only the CLI imports
    latentgeo.scale, also only inside functions."""
    extra = ("dask", "distributed", "cloudpickle")
    for path in PKG.rglob("*.py"):
        module = _module_name(path)
        if module.startswith("latentgeo.scale"):
            continue
        tree = ast.parse(path.read_text())
        # The CLI may import them lazily; nothing may at module level.
        nodes = tree.body if module.startswith("latentgeo.cli") else ast.walk(tree)
        assert not [n for n in _imported(nodes) if n.split(".")[0] in extra], module
    for module, deps in import_graph().items():
        if not module.startswith(("latentgeo.scale", "latentgeo.cli")):
            assert not [d for d in deps if d.startswith("latentgeo.scale")], module


@pytest.mark.parametrize("path", sorted(PKG.rglob("*.py")), ids=lambda p: str(p.relative_to(PKG)))
def test_module_size(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES
