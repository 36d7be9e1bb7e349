"""Which filo code a command runs: the import closure of its modules, read from the source (no import executed).

Every `import` and `from ... import` counts, at module level and inside functions, and a
first-level package counts whole: reaching any module of ``src/filo/<package>/`` brings in
every module of that folder (so names a package loads lazily, by string, are not missed).
The closure therefore over-approximates what one run executes and never misses a module.
The folder is also the unit DVC tracks.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable
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


@functools.cache
def direct_imports(name: str) -> frozenset[str]:
    """The filo modules module `name` imports anywhere in its source (packages of submodules included)."""
    path = module_file(name)
    if path is None:
        return frozenset()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
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
