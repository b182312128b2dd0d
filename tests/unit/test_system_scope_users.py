"""House rule: the reader's system scope (every org) is used only where a read needs every org.

Every snapshot read names its scope, and `SYSTEM` / `SystemScope()` reads every org's rows, so each
place that uses it is listed here with the reason it needs every org; a new use anywhere else fails
until it is listed (or, better, reads through an `OrgScope`). Checked from the source, like the rules
in test_package_layout.py and test_snapshot_readers.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
READER = "dagster_project/serving/reader.py"
# The product code that may read the snapshot (tests are free to read as any scope).
CHECKED = ("dagster_project", "streamlit_app", "benchmarks")
SYSTEM_NAMES = frozenset({"SYSTEM", "SystemScope"})

# (module, function using the system scope) -> why that read needs every org.
SYSTEM_SCOPE_USERS: dict[tuple[str, str], str] = {
    (
        "dagster_project/sla/alerts.py",
        "snapshot_times",
    ): "alerting: whether the published snapshot is fresh enough to alert from, across all orgs",
    (
        "dagster_project/sla/alerts.py",
        "read_clocks",
    ): "the breach sensor: every org's SLA clocks between runs, to alert each org's owners",
    (
        "dagster_project/sla/pending.py",
        "pending_from_snapshot",
    ): "the breach sensor: which of every org's published SLA clocks still need an alert, between runs",
    (
        "dagster_project/api/store.py",
        "SnapshotStore._open",
    ): "the API's shared open: /health, the list of orgs a file holds and the etag preload; "
    "org routes read through OrgScope([org])",
    (
        "dagster_project/commands/quarantine.py",
        "_scope",
    ): "`quarantine export --all-orgs`: an operator asks for every org explicitly",
    (
        "dagster_project/commands/users.py",
        "_snapshot_orgs",
    ): "`users demo`: the operator creates a viewer for every org the snapshot holds",
    (
        "dagster_project/mcp/server.py",
        "Snapshot.known_orgs",
    ): "the MCP server's list of orgs a file holds (an admin token reads them all); tools read through "
    "OrgScope([org])",
    (
        "dagster_project/mcp/server.py",
        "Snapshot.changed_uris",
    ): "MCP change notifications: the etags of the cards this process served, across the orgs it served",
    (
        "dagster_project/mcp/enrichment.py",
        "enrich",
    ): "enrichment, run by the pipeline: which orgs opted in and their new signals, one plan per org",
    (
        "streamlit_app/lib/db.py",
        "snapshot_info",
    ): "the dashboard's snapshot info row (marts.snapshot_info), which holds no org's data",
    (
        "streamlit_app/lib/db.py",
        "org_ids",
    ): "the dashboard's org list for an admin, who may read every org (others read through their scope)",
    (
        "streamlit_app/lib/db.py",
        "fetch_unattributed",
    ): "records whose org could not be read: no OrgScope can name them (the queries name no other org)",
}


def _imported_system_names(tree: ast.AST) -> set[str]:
    """Local names bound to the system scope by `from dagster_project.serving.reader import ...`."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "dagster_project.serving.reader":
            names.update(alias.asname or alias.name for alias in node.names if alias.name in SYSTEM_NAMES)
    return names


def system_scope_uses(source: str) -> list[tuple[str, int]]:
    """Each use of the system scope as (enclosing function's qualified name or `<module>`, line):
    `reader.SYSTEM`, `reader.SystemScope(...)`, and the names imported from the reader."""
    tree = ast.parse(source)
    local = _imported_system_names(tree) | SYSTEM_NAMES
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, where: list[str]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                visit(child, [*where, child.name])
                continue
            if (isinstance(child, ast.Attribute) and child.attr in SYSTEM_NAMES) or (
                isinstance(child, ast.Name) and child.id in local
            ):
                found.append((".".join(where) or "<module>", child.lineno))
            visit(child, where)

    visit(tree, [])
    return found


def _uses() -> dict[tuple[str, str], list[int]]:
    uses: dict[tuple[str, str], list[int]] = {}
    for top in CHECKED:
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = str(path.relative_to(ROOT))
            if rel == READER or "__pycache__" in path.parts:
                continue
            for where, line in system_scope_uses(path.read_text()):
                uses.setdefault((rel, where), []).append(line)
    return uses


def test_the_system_scope_is_used_only_where_a_read_needs_every_org() -> None:
    unlisted = {f"{rel}::{where}": lines for (rel, where), lines in _uses().items()}
    for rel, where in SYSTEM_SCOPE_USERS:
        unlisted.pop(f"{rel}::{where}", None)
    assert unlisted == {}, (
        "read org data through OrgScope([...]); if this read truly needs every org, list it with the "
        f"reason in SYSTEM_SCOPE_USERS: {unlisted}"
    )


def test_every_listed_system_scope_user_still_uses_it() -> None:
    stale = sorted(f"{rel}::{where}" for rel, where in SYSTEM_SCOPE_USERS if (rel, where) not in _uses())
    assert stale == [], f"no longer reads every org: remove from SYSTEM_SCOPE_USERS {stale}"


@pytest.mark.parametrize(
    "source",
    [
        "from dagster_project.serving import reader\ndef f(p):\n    return reader.fetch(p, 'q', scope=reader.SYSTEM)\n",
        "from dagster_project.serving.reader import SYSTEM as everyone\ndef f(p):\n    return connect(p, scope=everyone)\n",
        "from dagster_project.serving import reader\ndef f(p):\n    return reader.run(p, w, scope=reader.SystemScope())\n",
        "from dagster_project.serving.reader import SystemScope\nclass C:\n    def f(self):\n        return SystemScope()\n",
        "from dagster_project.serving.reader import SYSTEM\nDEFAULT = SYSTEM\n",
    ],
    ids=["attribute", "aliased-import", "constructed", "in-a-method", "module-level"],
)
def test_the_check_sees_a_use_of_the_system_scope(source: str) -> None:
    assert system_scope_uses(source)


def test_the_check_names_the_function_that_uses_the_system_scope() -> None:
    source = "from dagster_project.serving import reader\nclass Store:\n    def open(self):\n        return reader.SYSTEM\n"
    assert system_scope_uses(source) == [("Store.open", 4)]


def test_the_check_lets_org_scoped_reads_be() -> None:
    source = (
        "from dagster_project.serving import reader\n"
        "from dagster_project.serving.reader import OrgScope\n"
        "def f(p, org):\n    return reader.fetch(p, 'q', scope=OrgScope([org]))\n"
    )
    assert system_scope_uses(source) == []
