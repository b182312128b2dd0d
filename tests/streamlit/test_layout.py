"""House rule of the dashboard: pages are layout only; every question to the snapshot is asked in lib/queries.

A page file (streamlit_app/app.py and everything under streamlit_app/app_pages/) may neither hold SQL nor
reach the snapshot itself: no DuckDB, no `lib.db` (its errors are re-exported by `lib.queries.snapshot`).
Checked from the source, like tests/unit/test_package_layout.py.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "streamlit_app"
PAGE_FILES = sorted([APP / "app.py", *(APP / "app_pages").glob("*.py")])
# Modules a page must not import: the database driver and the one module that opens the snapshot.
FORBIDDEN_MODULES = ("duckdb", "streamlit_app.lib.db")
# SQL as the queries write it: keywords in capitals (page text says "from" and "select" in lower case).
SQL_KEYWORDS = re.compile(r"\b(SELECT|FROM|JOIN|WHERE|GROUP BY|ORDER BY|UNION)\b")


def _imported_modules(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _strings(tree: ast.AST) -> list[str]:
    """Every string literal, f-string parts included."""
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def page_violations(path: Path) -> list[str]:
    """What in this file breaks the rule: forbidden imports and string literals that read as SQL."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = [
        f"imports {name}"
        for name in _imported_modules(tree)
        if any(name == m or name.startswith(f"{m}.") for m in FORBIDDEN_MODULES)
    ]
    found += [
        f"SQL in a string: {' '.join(text.split())[:60]!r}"
        for text in _strings(tree)
        if ast.get_docstring(tree) != text and SQL_KEYWORDS.search(text)
    ]
    return found


def test_there_are_page_files_to_check() -> None:
    assert APP / "app.py" in PAGE_FILES
    assert len(PAGE_FILES) > 5


@pytest.mark.parametrize("path", PAGE_FILES, ids=lambda p: str(p.relative_to(APP)))
def test_a_page_holds_no_sql_and_does_not_open_the_snapshot(path: Path) -> None:
    assert page_violations(path) == [], f"{path.relative_to(ROOT)} must ask lib/queries instead"


def test_the_rule_sees_a_query_written_in_a_page(tmp_path: Path) -> None:
    page = tmp_path / "page.py"
    page.write_text(
        "from streamlit_app.lib import db\n"
        "import duckdb as d\n"
        "from streamlit_app.lib.db import fetch\n"
        "rows = db.fetch(path, f'''SELECT org_id FROM marts.events WHERE org_id = ?''', [org])\n"
    )
    found = page_violations(page)
    assert "imports streamlit_app.lib.db" in found
    assert "imports duckdb" in found
    assert "imports streamlit_app.lib.db.fetch" in found
    assert any(v.startswith("SQL in a string: 'SELECT org_id FROM marts.events") for v in found)


def test_the_rule_lets_page_text_through(tmp_path: Path) -> None:
    page = tmp_path / "page.py"
    page.write_text(
        '"""A page docstring may name SELECT and FROM when it explains where data comes from."""\n'
        "from streamlit_app.lib.queries import today as queries\n"
        "st.caption('Pick an owner from the list; select a tier to narrow the table.')\n"
    )
    assert page_violations(page) == []
