"""The dashboard's half of the org-separation guard (issue 19): three orgs, users of each role, every page.

The two-org fixture snapshot gets a third org, `initech`: a copy of every globex row with each text's
"globex" renamed, so each org has strings planted in every mart (names, notes, memory, file names, raw
records) that no other org has. Each user below signs in, and every page is rendered for every org they
may read, memory search included; the rendered output (main area, sidebar, tables) must hold no string of
an org they may not read, and must hold their own (so the check is not passing on empty pages).

A script run is the cost of an AppTest check, so the module builds the three-org home once and each
user's walk of every page happens once (the `walks` fixture); the tests read what the walks showed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import streamlit as st
from conftest import module_home, signed_in_app
from snapshot_fixture import (
    ORG_A,
    ORG_A_LIFECYCLE_ONLY,
    ORG_A_MEMORY_ONLY,
    ORG_A_ONLY,
    ORG_A_WORK_ONLY,
    ORG_B,
    ORG_B_LIFECYCLE_ONLY,
    ORG_B_MEMORY_ONLY,
    ORG_B_ONLY,
    ORG_B_WORK_ONLY,
)
from streamlit.testing.v1 import AppTest

from dagster_project.memory.search import ORG_STATS_TABLE, POSTINGS_TABLE, SEARCH_TABLE, build_index
from streamlit_app.lib import navigation

ORG_C = "initech"
RENAMES = (("globex", "initech"), ("Globex", "Initech"), ("GLOBEX", "INITECH"))
PLANTED_B = (ORG_B, *ORG_B_ONLY, *ORG_B_LIFECYCLE_ONLY, *ORG_B_WORK_ONLY, *ORG_B_MEMORY_ONLY)


def _renamed(text: str) -> str:
    for old, new in RENAMES:
        text = text.replace(old, new)
    return text


PLANTED = {
    ORG_A: (ORG_A, *ORG_A_ONLY, *ORG_A_LIFECYCLE_ONLY, *ORG_A_WORK_ONLY, *ORG_A_MEMORY_ONLY),
    # Only globex's strings that name it are its own: the copies for initech keep the others.
    ORG_B: tuple(s for s in PLANTED_B if _renamed(s) != s),
    ORG_C: tuple(_renamed(s) for s in PLANTED_B if _renamed(s) != s),
}
PAGES = [spec.path for specs in navigation.sections_for(True).values() for spec in specs]
DERIVED = {t.removeprefix("marts.") for t in (SEARCH_TABLE, POSTINGS_TABLE, ORG_STATS_TABLE)}


def add_org_copy(path: Path, source: str = ORG_B) -> None:
    """Every row of `source` in every mart with an `org_id`, again for ORG_C with its texts renamed."""
    with duckdb.connect(str(path)) as con:
        tables = con.execute(
            "select table_name from duckdb_columns() where schema_name = 'marts' and column_name = 'org_id' "
            "and table_name in (select table_name from duckdb_tables() where schema_name = 'marts')"
        ).fetchall()
        for (table,) in tables:
            if table in DERIVED:
                continue
            columns = con.execute(
                "select column_name, data_type from duckdb_columns() where schema_name = 'marts' "
                "and table_name = ? order by column_index",
                [table],
            ).fetchall()
            renames = []
            for name, kind in columns:
                if "VARCHAR" not in kind and kind != "JSON":
                    continue
                # Text nested in lists, structs or JSON is renamed through its JSON text.
                text = f'"{name}"' if kind == "VARCHAR" else f'CAST(CAST("{name}" AS JSON) AS VARCHAR)'
                for old, new in RENAMES:
                    text = f"replace({text}, '{old}', '{new}')"
                expr = text if kind == "VARCHAR" else f"CAST(CAST({text} AS JSON) AS {kind})"
                renames.append(f'{expr} AS "{name}"')
            replace = f" REPLACE ({', '.join(renames)})" if renames else ""
            con.execute(
                f'INSERT INTO marts."{table}" SELECT *{replace} FROM marts."{table}" WHERE org_id = ?',
                [source],
            )
        build_index(con)


def _rendered(at: AppTest) -> str:
    parts = [str(node.proto) for root in (at.main, at.sidebar) for node in root if hasattr(node, "proto")]
    parts.extend(df.value.to_string() for df in at.dataframe)
    return "\n".join(parts)


def _every_page(at: AppTest, org: str) -> str:
    """Everything each page shows for `org`, the memory page with a search run."""
    at.sidebar.selectbox(key="org").set_value(org).run()
    seen = []
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        if page.endswith("memory.py"):
            (search,) = [t for t in at.main.text_input if t.label == "Search memory"]
            search.input("pricing decision").run()
            assert not at.exception, [e.value for e in at.exception]
        seen.append(_rendered(at))
    return "\n".join(seen)


USERS = {
    "vera@example.test": ("viewer", (ORG_A,)),
    "gwen@example.test": ("governor", (ORG_C,)),
    "mia@example.test": ("viewer", (ORG_A, ORG_C)),
}


@pytest.fixture(scope="module")
def three_org_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The module's own home (the function-scoped fixtures are the tests'), with the three-org snapshot."""
    with module_home(tmp_path_factory, "guard", add_org_copy) as home:
        yield home


@pytest.fixture(scope="module")
def walks(three_org_home: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Per user of USERS: the org picker's options and, per org they read, everything every page showed.

    Each user walks every page of each of their orgs in one signed-in session, with clean caches."""
    seen = {}
    for email, (role, orgs) in USERS.items():
        st.cache_data.clear()
        at = signed_in_app(email, role, orgs).run()
        assert not at.exception, [e.value for e in at.exception]
        options = list(at.sidebar.selectbox(key="org").options)
        seen[email] = (options, {org: _every_page(at, org) for org in orgs})
    st.cache_data.clear()
    return seen


@pytest.mark.parametrize("email", list(USERS))
def test_every_page_shows_a_user_their_orgs_and_nothing_of_any_other(
    walks: dict[str, tuple[list[str], dict[str, str]]], email: str
) -> None:
    _, orgs = USERS[email]
    options, texts = walks[email]
    assert options == sorted(orgs)
    foreign = [s for org, strings in PLANTED.items() if org not in orgs for s in strings]
    for org in orgs:
        text = texts[org]
        leaked = sorted({s for s in foreign if s in text})
        assert not leaked, (org, leaked)
        assert [s for s in PLANTED[org] if s in text], f"{org}'s own data was not shown at all"


def test_the_third_org_really_holds_its_own_planted_strings(
    walks: dict[str, tuple[list[str], dict[str, str]]],
) -> None:
    # The guard above is only as good as the copy: initech must have rows in the marts the pages read.
    # Its governor's walk of every page shows them (an admin's walk would show the same pages).
    text = walks["gwen@example.test"][1][ORG_C]
    missing = [s for s in PLANTED[ORG_C] if s not in text]
    assert len(missing) < len(PLANTED[ORG_C]) / 2, missing


def test_an_admin_may_pick_every_org_of_the_snapshot(three_org_home: Path) -> None:
    at = signed_in_app("root@example.test", "admin").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.sidebar.selectbox(key="org").options == [ORG_A, ORG_B, ORG_C]
