"""The package layout holds: verification is pure, and nothing imports in a circle.

`gateway/verification/` takes bytes and dicts and returns results; the store, Flask and the
platform (services, routes, worker, container) are not its business, so that a check can be run
from the worker, a route, a CLI or an evaluation script alike. Imports are read from the source
(an AST walk), including imports inside functions, so a lazy import cannot hide a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parent.parent / "gateway"
FORBIDDEN_IN_VERIFICATION = (
    "flask",
    "werkzeug",
    "gateway.services",
    "gateway.routes",
    "gateway.worker",
    "gateway.container",
    "gateway.auth",
    "gateway.schemas",
)


def module_name(path: Path) -> str:
    """``gateway/worker/tasks.py`` -> ``gateway.worker.tasks`` (a package is its ``__init__``)."""
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, absolute, wherever the import statement stands."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = (
        module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    )
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found.add(prefix)
            # `from gateway.services import crypto` imports the module gateway.services.crypto.
            found.update(f"{prefix}.{alias.name}" for alias in node.names)
    return found


def gateway_modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE_ROOT.rglob("*.py")}


def test_module_walk_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    """The walk itself: an import inside a function body counts."""
    source = PACKAGE_ROOT / "verification" / "__init__.py"
    assert source.exists()
    lazy = "def f():\n    from gateway.services import crypto\n"
    sample = PACKAGE_ROOT / "verification" / "_layout_probe.py"
    try:
        sample.write_text(lazy)
        assert "gateway.services.crypto" in imported_modules(sample)
    finally:
        sample.unlink()


@pytest.mark.parametrize(
    "module",
    sorted(name for name in gateway_modules() if name.startswith("gateway.verification")),
)
def test_verification_imports_no_store_flask_or_platform(module: str) -> None:
    path = gateway_modules()[module]
    offending = sorted(
        name
        for name in imported_modules(path)
        for forbidden in FORBIDDEN_IN_VERIFICATION
        if name == forbidden or name.startswith(forbidden + ".")
    )
    assert offending == [], f"{module} imports {offending}"


def test_gateway_has_no_import_cycle() -> None:
    """Function-level imports count too: a lazy import that closes a circle is still a circle."""
    modules = gateway_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        targets: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                # `from package import submodule` depends on the submodule, not on what the
                # package's __init__ defines; `from module import name` depends on the module.
                candidates = {
                    f"{node.module}.{alias.name}"
                    if f"{node.module}.{alias.name}" in modules
                    else node.module
                    for alias in node.names
                }
            elif isinstance(node, ast.Import):
                candidates = {alias.name for alias in node.names}
            else:
                continue
            targets.update(c for c in candidates if c in modules and c != name)
        graph[name] = targets

    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)
