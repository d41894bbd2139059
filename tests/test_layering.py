"""The layering of DESIGN section 3, pinned by parsing every module's imports.

* ``io`` and ``plotting`` read results; they never import the code that
  produces them (``marrowsim.simulation``), the package root or the CLI, at
  any level (a function-level import counts too).
* ``mechanisms`` import only ``marrowsim.mechanisms*``, ``marrowsim.parameters*``
  and ``marrowsim.errors``.
* No module imports the package root (``__version__`` is in ``_version``).
* No import cycle among marrowsim modules at module level. The graph has an
  edge for each import executed when a module is loaded: imports inside
  functions are not edges (they run later, when the importer is complete),
  and neither are those under ``if TYPE_CHECKING:`` (they never run). The
  implicit import of a module's parent packages is not an edge either: Python
  initialises a package before its submodules, so ``engine/__init__``
  importing ``engine.codegen`` is not a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "marrowsim"


def _module_name(path: Path) -> str:
    parts = ("marrowsim", *path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}
PACKAGES = {_module_name(p) for p in MODULES.values() if p.name == "__init__.py"}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(node: ast.Import | ast.ImportFrom, module: str) -> list[str]:
    """marrowsim modules an import statement loads (``from pkg import sub``
    loads ``pkg.sub`` when that is a module)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module if module in PACKAGES else module.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{base}" if base else package
        names = [base]
        names += [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES]
    return [n for n in names if n == "marrowsim" or n.startswith("marrowsim.")]


def imports(module: str, *, module_level: bool) -> set[str]:
    """marrowsim modules that ``module`` imports: anywhere in it, or only those
    run when it is loaded (not in functions, not under ``if TYPE_CHECKING``)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    if not module_level:
        nodes = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
        return {t for n in nodes for t in _targets(n, module)}
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.update(_targets(node, module))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return  # runs later (decorators and defaults aside, which import nothing here)
        elif isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
        else:
            for child in ast.iter_child_nodes(node):
                visit(child)

    visit(tree)
    return found


def test_modules_are_found():
    assert {"marrowsim", "marrowsim.simulation", "marrowsim.result", "marrowsim.io.results"} <= set(
        MODULES
    )
    assert "marrowsim.simulation" in imports("marrowsim.cli", module_level=False)


@pytest.mark.parametrize(
    "module", [m for m in MODULES if m.startswith(("marrowsim.io.", "marrowsim.plotting"))]
)
def test_io_and_plotting_do_not_import_producers(module):
    forbidden = {"marrowsim", "marrowsim.simulation", "marrowsim.cli"}
    assert imports(module, module_level=False) & forbidden == set()


@pytest.mark.parametrize("module", [m for m in MODULES if m.startswith("marrowsim.mechanisms")])
def test_mechanisms_import_only_biology(module):
    # clinic.definitions: the criteria and event names a mechanism shares with
    # the clinic that reads its events (a leaf module of constants); libm: the
    # C library's exp and log over arrays (a leaf module of numerics)
    allowed = (
        "marrowsim.mechanisms",
        "marrowsim.parameters",
        "marrowsim.errors",
        "marrowsim.clinic.definitions",
        "marrowsim.libm",
    )
    stray = {
        m
        for m in imports(module, module_level=False)
        if not any(m == a or m.startswith(a + ".") for a in allowed)
    }
    assert stray == set()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_the_package_root(module):
    assert "marrowsim" not in imports(module, module_level=False)


def test_result_imports_nothing_that_simulates():
    producers = {"marrowsim.simulation", "marrowsim.engine", "marrowsim.model", "marrowsim.cohort"}
    assert imports("marrowsim.result", module_level=False) & producers == set()


def test_no_import_cycles_at_module_level():
    graph = {m: imports(m, module_level=True) & set(MODULES) for m in MODULES}
    state: dict[str, int] = {}  # 1 on the path, 2 done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycle = [*path[path.index(target) :], target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
