"""Which third-party distributions an image's entry points import when they start.

The repository's packages are installed into the images with --no-deps and declare few
dependencies (the podlab package runs in the hub, in user servers and on laptops, each needing
a different part), so `pip check` cannot tell whether the hub image has what
jupyterhub_config.py imports. This follows the imports that run at start (module level and
class bodies; not function bodies, which import lazily, nor `if TYPE_CHECKING:` blocks) from
the entry points through the repository's own modules, and names the distributions of the
third-party modules reached, as the development environment maps them.
"""

from __future__ import annotations

import ast
import importlib.metadata
import sys
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path

from packaging.utils import canonicalize_name

from podlab.localstack.paths import REPO_ROOT

SOURCE_ROOTS = {
    "podlab": REPO_ROOT / "hub" / "src",
    "podlab_mlflow": REPO_ROOT / "mlflow-server" / "src",
    "envlogger": REPO_ROOT / "envlogger" / "src",
}


def _module_file(module: str) -> Path | None:
    root = SOURCE_ROOTS.get(module.split(".")[0])
    if root is None:
        return None
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _eager_nodes(body: Iterable[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements that run at import time (recursing into if/try/with/class, not defs)."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if isinstance(node, ast.If):
            test = ast.unparse(node.test)
            if "TYPE_CHECKING" not in test:
                yield from _eager_nodes(node.body)
            yield from _eager_nodes(node.orelse)
            continue
        if isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _eager_nodes(block)
            for handler in node.handlers:
                yield from _eager_nodes(handler.body)
            continue
        if isinstance(node, (ast.With, ast.ClassDef)):
            yield from _eager_nodes(node.body)
            continue
        yield node


def _imports(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _eager_nodes(tree.body):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def _in_try_import_error(path: Path) -> set[str]:
    """Modules imported inside `try: ... except ImportError` at module level (optional)."""
    tree = ast.parse(path.read_text(), str(path))
    optional: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            "ImportError" in ast.unparse(h.type or ast.Name("BaseException")) for h in node.handlers
        ):
            for inner in node.body:
                if isinstance(inner, ast.Import):
                    optional.update(alias.name for alias in inner.names)
                elif isinstance(inner, ast.ImportFrom) and inner.module and not inner.level:
                    optional.add(inner.module)
    return optional


def third_party_modules(entry_points: Iterable[Path | str]) -> set[str]:
    """Top-level names of the third-party modules imported at start from these entry points
    (files, or dotted names of the repository's modules)."""
    queue: list[tuple[Path, str]] = []
    for entry in entry_points:
        if isinstance(entry, Path):
            queue.append((entry, "__entry__"))
        else:
            path = _module_file(entry)
            assert path is not None, f"no module {entry} in this repository"
            queue.append((path, entry))
    seen: set[Path] = set()
    third: set[str] = set()
    while queue:
        path, module = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        optional = _in_try_import_error(path)
        for name in _imports(path, module):
            top = name.split(".")[0]
            if top in SOURCE_ROOTS:
                # `from podlab.x import y`: x's module, and y's if it is a module too.
                parts = name.split(".")
                for depth in range(1, len(parts) + 1):
                    dotted = ".".join(parts[:depth])
                    found = _module_file(dotted)
                    if found is not None:
                        queue.append((found, dotted))
            elif top and top not in sys.stdlib_module_names and top not in optional:
                third.add(top)
    return third


@cache
def _module_to_distributions() -> dict[str, list[str]]:
    return {k: list(v) for k, v in importlib.metadata.packages_distributions().items()}


def distributions(modules: Iterable[str]) -> dict[str, set[str]]:
    """module -> canonical names of the distributions providing it (empty: unknown here)."""
    mapping = _module_to_distributions()
    return {m: {str(canonicalize_name(d)) for d in mapping.get(m, [])} for m in modules}


def every_third_party_import(root: Path) -> set[str]:
    """Top-level third-party modules imported anywhere below `root`, lazily imported ones
    included: a package must declare all of them, not only what runs at start."""
    found: set[str] = set()
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in SOURCE_ROOTS:
                    found.add(top)
    return found
