"""House rule: the published snapshot is opened by `dagster_project/serving/reader.py` only.

Readers (the API, the dashboard, alerting, the quarantine export) go through the reader, so every one
of them gets its retries, typed errors, UTC and scopes, and none reads a stale file from DuckDB's
per-path instance cache. Checked from the source, like the rules in test_package_layout.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
READER = "dagster_project/serving/reader.py"
# The modules that read the snapshot: each must do it through the reader.
READER_MODULES = (
    "dagster_project/api",
    "streamlit_app",
    "dagster_project/sla",
    "dagster_project/ingestion/quarantine.py",
)
# Modules still allowed to open the snapshot themselves: none.
KNOWN_DIRECT: set[str] = set()
SNAPSHOT_WORDS = ("serving", "snapshot")


def _modules() -> list[Path]:
    found: list[Path] = []
    for top in READER_MODULES:
        path = ROOT / top
        found.extend([path] if path.is_file() else sorted(path.rglob("*.py")))
    return [p for p in found if "__pycache__" not in p.parts]


def _connect_names(tree: ast.AST) -> set[str]:
    """Local names bound to a DuckDB connect: `duckdb.connect`, or `connect` imported from duckdb or from
    the warehouse store (the writers' connect)."""
    names = {"duckdb.connect"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in {"duckdb", "dagster_project.warehouse.store"}:
            names.update(alias.asname or alias.name for alias in node.names if alias.name == "connect")
        if isinstance(node, ast.Import):
            names.update(
                f"{alias.asname}.connect" for alias in node.names if alias.name == "duckdb" and alias.asname
            )
    return names


def direct_snapshot_opens(source: str) -> list[str]:
    """Each call that opens a DuckDB file that looks like the snapshot (an argument naming `serving` or
    `snapshot`, or a read-only open) and each SQL text that attaches a file, as `line: code`."""
    tree = ast.parse(source)
    connects = _connect_names(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func) in connects:
            args = " ".join(ast.unparse(a) for a in node.args).lower()
            read_only = any(
                k.arg == "read_only" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
                for k in node.keywords
            )
            if "warehouse" in args:
                continue  # the pipeline's own store (the alert step reads the build it just made)
            if read_only or any(word in args for word in SNAPSHOT_WORDS):
                found.append(f"{node.lineno}: {ast.unparse(node)}")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.lstrip().lower().startswith("attach ")
        ):
            found.append(f"{node.lineno}: {node.value[:60]!r}")
    return found


def test_only_the_reader_opens_the_snapshot() -> None:
    offenders = {
        rel: found
        for path in _modules()
        if (rel := str(path.relative_to(ROOT))) not in KNOWN_DIRECT
        and (found := direct_snapshot_opens(path.read_text()))
    }
    assert offenders == {}, f"open the snapshot through {READER}: {offenders}"


def test_the_known_direct_readers_still_need_their_place_on_the_list() -> None:
    stale = sorted(rel for rel in KNOWN_DIRECT if not direct_snapshot_opens((ROOT / rel).read_text()))
    assert stale == [], f"on the reader now: remove from KNOWN_DIRECT {stale}"


def test_only_the_reader_names_the_attached_catalog() -> None:
    from dagster_project.serving.reader import CATALOG

    offenders = [
        str(p.relative_to(ROOT))
        for top in ("dagster_project", "streamlit_app")
        for p in sorted((ROOT / top).rglob("*.py"))
        if str(p.relative_to(ROOT)) != READER and CATALOG in p.read_text()
    ]
    assert offenders == [], f"read `marts.<table>` through the reader instead: {offenders}"


@pytest.mark.parametrize(
    "source",
    [
        "import duckdb\ncon = duckdb.connect(str(paths.serving), read_only=True)\n",
        "import duckdb\ncon = duckdb.connect(str(snapshot))\n",
        "import duckdb as ddb\ncon = ddb.connect(path, read_only=True)\n",
        "from dagster_project.warehouse.store import connect\ncon = connect(serving)\n",
        "import duckdb\ncon = duckdb.connect(':memory:')\ncon.execute(\"attach 'x.duckdb' as snap (read_only)\")\n",
    ],
)
def test_the_check_sees_a_direct_open(source: str) -> None:
    assert direct_snapshot_opens(source)


def test_the_check_lets_writers_of_other_files_and_memory_databases_be() -> None:
    source = "import duckdb\na = duckdb.connect(str(tmp))\nb = duckdb.connect(':memory:')\n"
    assert direct_snapshot_opens(source) == []
