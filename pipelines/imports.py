"""Which filo code a command runs: the import closure of its modules, read from the source (no import executed).

Every `import` and `from ... import` counts, at module level and inside functions, and a
first-level package counts whole: reaching any module of ``src/filo/<package>/`` brings in
every module of that folder (so names a package loads lazily, by string, are not missed).
Only imports under ``if TYPE_CHECKING:``, which never run, are left out of a closure (the
layer graph, `package_graph`, keeps them: a type is a dependency of the design).
The closure therefore over-approximates what one run executes and never misses a module.
The folder is also the unit DVC tracks.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable, Mapping
from pathlib import Path

import filo

SOURCE_ROOT = Path(filo.__file__).resolve().parent
"""src/filo of this checkout."""
REPOSITORY_ROOT = SOURCE_ROOT.parents[1]
# filo.stages and filo.pipelines are installed from the top-level stages/ and pipelines/ folders.
_MAPPED_PACKAGES = {"filo.stages": REPOSITORY_ROOT / "stages", "filo.pipelines": REPOSITORY_ROOT / "pipelines"}


def module_file(name: str) -> Path | None:
    """The source file of filo module `name` (a package's __init__.py), or None when there is none."""
    if name != "filo" and not name.startswith("filo."):
        return None
    base, parts = SOURCE_ROOT, name.split(".")[1:]
    for package, folder in _MAPPED_PACKAGES.items():
        if name == package or name.startswith(package + "."):
            base, parts = folder, name[len(package) + 1:].split(".") if name != package else []
            break
    target = base.joinpath(*parts)
    if (target / "__init__.py").is_file():
        return target / "__init__.py"
    module = target.with_suffix(".py")
    return module if module.is_file() else None


def _resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    package = module if is_package else module.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{target}" if target else package


def _is_type_checking_block(node: ast.AST) -> bool:
    """Whether `node` is ``if TYPE_CHECKING:`` (or ``if typing.TYPE_CHECKING:``), whose body never runs."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _nodes(tree: ast.AST, type_checking: bool) -> list[ast.AST]:
    """Every node of `tree`; without `type_checking`, not those only a type checker reads (an if's else runs)."""
    found, pending = [], [tree]
    while pending:
        node = pending.pop()
        found.append(node)
        if not type_checking and _is_type_checking_block(node):
            pending.extend(node.orelse)
            continue
        pending.extend(ast.iter_child_nodes(node))
    return found


@functools.cache
def direct_imports(name: str, type_checking: bool = False) -> frozenset[str]:
    """The filo modules module `name` imports anywhere in its source (packages of submodules included).

    `type_checking`: also those imported only for a type checker (``if TYPE_CHECKING:``), which never run.
    """
    path = module_file(name)
    if path is None:
        return frozenset()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in _nodes(tree, type_checking):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_relative(name, is_package, node.level, node.module) if node.level else node.module
            if base is None:
                continue
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    modules = set()
    for candidate in found:
        parts = candidate.split(".")
        # importing a.b.c runs a/__init__ and a/b/__init__ too
        modules.update(".".join(parts[:end]) for end in range(1, len(parts) + 1))
    return frozenset(module for module in modules if module_file(module) is not None and module != name)


def _package_modules(name: str) -> set[str]:
    """Every module of the first-level filo package holding `name` (just `name` for top-level modules)."""
    parts = name.split(".")
    if len(parts) < 2 or parts[0] != "filo" or ".".join(parts[:2]) in _MAPPED_PACKAGES:
        return {name}
    folder = SOURCE_ROOT / parts[1]
    if not folder.is_dir():
        return {name}
    modules = set()
    for path in folder.rglob("*.py"):
        relative = path.relative_to(SOURCE_ROOT.parent).with_suffix("")
        parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
        modules.add(".".join(parts))
    return modules


def module_closure(roots: Iterable[str]) -> set[str]:
    """Every filo module reachable from `roots` through imports and whole packages (the roots included)."""
    seen: set[str] = set()
    pending = [root for root in roots if module_file(root) is not None]
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        pending.extend((direct_imports(module) | _package_modules(module)) - seen)
    return seen


def repository_paths(modules: Iterable[str]) -> list[str]:
    """The repository-relative paths DVC should track for `modules`: first-level packages as folders, else files."""
    paths = set()
    for module in modules:
        path = module_file(module)
        relative = path.relative_to(REPOSITORY_ROOT)
        parts = relative.parts
        if parts[:2] == ("src", "filo") and len(parts) > 3:
            paths.add("/".join(parts[:3]))
        else:
            paths.add(relative.as_posix())
    return sorted(paths)


def all_modules() -> list[str]:
    """Every filo module of this checkout (src/filo, stages/, pipelines/), by dotted name."""
    modules = set()
    roots = {"filo": SOURCE_ROOT, **_MAPPED_PACKAGES}
    for package, folder in roots.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            name = ".".join((package, *parts))
            if module_file(name) == path:  # skips files shadowed by a mapped package (none today)
                modules.add(name)
    return sorted(modules)


def package_of(module: str) -> str:
    """The first-level package a module belongs to ("filo.model.text" -> "filo.model"; "filo.io" -> "filo.io")."""
    return ".".join(module.split(".")[:2])


def package_graph() -> dict[str, dict[str, set[str]]]:
    """Package -> {imported package: the edges "module -> module" that make the dependency}, over all modules.

    Imports for a type checker only count: the layers hold for types too.
    """
    packages: dict[str, dict[str, set[str]]] = {}
    for module in all_modules():
        source = package_of(module)
        packages.setdefault(source, {})
        for target in direct_imports(module, type_checking=True):
            if package_of(target) != source:
                packages[source].setdefault(package_of(target), set()).add(f"{module} -> {target}")
    return packages


def find_cycle(edges: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One cycle of a directed graph as [a, b, ..., a], or None when it is acyclic."""
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
