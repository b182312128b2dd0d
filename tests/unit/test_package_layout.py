"""House rules for the code's layout, checked from the source (docs/architecture.md explains the rooms).

Each rule here is one a reader of the code relies on: where Dagster wiring lives, that packages depend on
each other in one direction, that no module grows past what one sitting can read, and that private
internals of Dagster, dagster-dbt and dbt stay in one isolated module.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "dagster_project"

# Entry modules only at the package root: everything else lives in a room of its own.
ROOT_MODULES = {"__init__.py", "definitions.py", "cli.py", "settings.py"}
# Modules that may import Dagster or dagster-dbt: the wiring, and the entry points that start it.
DAGSTER_ROOMS = ("defs", "commands")
DAGSTER_ENTRY = {"definitions.py", "cli.py"}
# The one module allowed to touch private internals (version-guarded, with a test per symbol).
PRIVATE_API_MODULE = "dagster_project/defs/warm_launcher.py"
PRIVATE_PREFIXES = ("dagster._", "dagster_dbt.", "dbt.", "dbt_common.", "dbt_duckdb.")
# dagster-dbt's public surface: what its top-level package exports.
PUBLIC_DAGSTER_DBT = {"dagster_dbt"}
MAX_LINES = 600


def _modules(top: Path) -> list[Path]:
    return sorted(p for p in top.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> list[str]:
    """Every module a file imports, at any depth (function-level imports count: they are still edges)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _room(path: Path) -> str:
    """The package a module belongs to (`ingestion`, `defs` …), or the root module's own name."""
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _room_of_import(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] != "dagster_project" or len(parts) < 2:
        return None
    return parts[1]


def _package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in _modules(PACKAGE):
        room = _room(path)
        if room == "__init__":
            continue
        graph[room]
        for name in _imports(path):
            target = _room_of_import(name)
            known = target and ((PACKAGE / target).is_dir() or (PACKAGE / f"{target}.py").exists())
            if known and target != room:
                graph[room].add(target)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_packages_import_each_other_in_one_direction() -> None:
    cycle = _cycle(_package_graph())
    assert cycle is None, "import cycle between packages: " + " → ".join(cycle or [])


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_only_entry_modules_sit_at_the_package_root() -> None:
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in ROOT_MODULES)
    assert loose == [], f"modules at the root of dagster_project/ that belong in a package: {loose}"


def test_dagster_is_imported_only_by_its_wiring() -> None:
    offenders = []
    for path in _modules(PACKAGE):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in DAGSTER_ROOMS or str(rel) in DAGSTER_ENTRY:
            continue
        uses = [n for n in _imports(path) if n.split(".")[0] in {"dagster", "dagster_dbt"}]
        if uses:
            offenders.append(f"{rel}: {sorted(set(uses))[0]}")
    assert offenders == [], f"Dagster outside defs/ and commands/: {offenders}"


def _private_imports(path: Path) -> list[str]:
    found = []
    for name in _imports(path):
        if name.split(".")[0] in PUBLIC_DAGSTER_DBT and name.count(".") == 1:
            # `from dagster_dbt import X`: X is the package's public export.
            continue
        if name.startswith(PRIVATE_PREFIXES) or name in {"dbt", "dbt_duckdb"}:
            found.append(name)
    return found


@pytest.mark.parametrize("top", ["dagster_project", "streamlit_app", "benchmarks"])
def test_private_internals_are_touched_in_one_module_only(top: str) -> None:
    offenders = {
        str(p.relative_to(ROOT)): sorted(set(found))
        for p in _modules(ROOT / top)
        if (found := _private_imports(p)) and str(p.relative_to(ROOT)) != PRIVATE_API_MODULE
    }
    assert offenders == {}, f"private internals outside {PRIVATE_API_MODULE}: {offenders}"


def test_the_private_import_check_sees_private_names(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text(
        "from dagster._core.launcher import RunLauncher\n"
        "from dagster_dbt.core.dbt_cli_invocation import DbtCliInvocation\n"
        "from dagster_dbt import DbtCliResource\n"
        "import dagster as dg\n"
    )
    found = _private_imports(sample)
    assert "dagster._core.launcher" in found
    assert "dagster_dbt.core.dbt_cli_invocation" in found
    assert not any(n.startswith("dagster_dbt.DbtCliResource") for n in found)


@pytest.mark.parametrize("top", ["dagster_project", "streamlit_app"])
def test_no_module_is_longer_than_one_sitting(top: str) -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in _modules(ROOT / top)
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}, f"modules over {MAX_LINES} lines: {long}"


def _underscore_imports_across_packages(path: Path, room: str) -> list[str]:
    """`from dagster_project.<other package>… import _name`: another package's private name."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            target = _room_of_import(node.module)
            if target is not None and target != room:
                found += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    return found


def test_no_package_imports_another_packages_private_names() -> None:
    offenders = {
        str(p.relative_to(ROOT)): found
        for p in _modules(PACKAGE)
        if (found := _underscore_imports_across_packages(p, _room(p)))
    }
    assert offenders == {}, f"private names imported from another package (make them public): {offenders}"
