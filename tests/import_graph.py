"""filo's import graph read from the source files with `ast`: what each module imports, and closures.

Every ``import``/``from ... import`` statement counts wherever it stands: at module level, inside
functions (lazy imports still run when the function does) and under ``if TYPE_CHECKING``. So a
closure is the set of filo modules whose code a module can reach, which is what a DVC stage must
list as its code dependencies. Importing ``filo.a.b`` also runs ``filo/__init__.py`` and
``filo/a/__init__.py``; closures include those packages.

The ``filo.stages`` package lives in the repository's ``stages/`` folder (see ``pyproject.toml``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE_ROOTS: dict[str, Path] = {"filo": REPO / "src" / "filo", "filo.stages": REPO / "stages"}


def module_files(roots: Mapping[str, Path] = SOURCE_ROOTS) -> dict[str, Path]:
    """Every module name under the `roots` (package name -> folder) and its source file."""
    files: dict[str, Path] = {}
    for package, folder in roots.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            files[".".join((package, *parts))] = path
    return files


def _imported_names(path: Path, module: str) -> set[str]:
    """The dotted names a source file imports, anywhere in it (`from x import y` gives x and x.y)."""
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _with_parents(module: str, known: Iterable[str]) -> set[str]:
    """`module` and every package above it that is a known module (their __init__ runs on import)."""
    known = set(known)
    parts = module.split(".")
    return {".".join(parts[:end]) for end in range(1, len(parts) + 1)} & known


def import_graph(files: Mapping[str, Path] | None = None) -> dict[str, set[str]]:
    """Module -> the filo modules it imports directly (names that are not modules, e.g. functions, drop out)."""
    files = module_files() if files is None else files
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        targets: set[str] = set()
        for name in _imported_names(path, module):
            if name in files:
                targets |= _with_parents(name, files)
        graph[module] = targets - {module}
    return graph


def closure(roots: Iterable[str], graph: Mapping[str, set[str]]) -> set[str]:
    """The modules `roots` reach through imports, roots and their parent packages included."""
    seen: set[str] = set()
    pending = [parent for root in roots for parent in _with_parents(root, graph)]
    while pending:
        module = pending.pop()
        if module not in seen:
            seen.add(module)
            pending.extend(graph[module])
    return seen


def package_of(module: str, depth: int = 2) -> str:
    """The package a module belongs to at `depth` ("filo.model.text" -> "filo.model"; "filo.io" -> "filo.io")."""
    return ".".join(module.split(".")[:depth])


def package_graph(graph: Mapping[str, set[str]], depth: int = 2) -> dict[str, dict[str, set[str]]]:
    """Package -> {imported package: the module-level edges "a.b -> c.d" that make the dependency}."""
    packages: dict[str, dict[str, set[str]]] = {}
    for module, targets in graph.items():
        source = package_of(module, depth)
        packages.setdefault(source, {})
        for target in targets:
            if package_of(target, depth) != source:
                packages[source].setdefault(package_of(target, depth), set()).add(f"{module} -> {target}")
    return packages


def find_cycle(edges: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One cycle of the directed graph as [a, b, ..., a], or None when it is acyclic."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target):], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None
