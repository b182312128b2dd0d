"""An org-scoped reader of a real published snapshot sees no other org's rows, in any mart."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagster_project.serving import reader
from dagster_project.serving.reader import OrgScope
from tests.shared_homes import sample_home

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def serving(tmp_path_factory) -> Path:
    """The bundled sample (two orgs) run through the pipeline once: a snapshot as publish writes it
    (the session's shared sample home, tests/shared_homes.py; these tests only read it)."""
    return sample_home(tmp_path_factory) / "serving.duckdb"


def _org_tables(path: Path) -> list[str]:
    """Every relation of the published file's `marts` with an `org_id` column, as the file lists them."""
    frame = reader.fetch(
        path,
        "select distinct table_name from duckdb_columns() "
        "where database_name = ? and schema_name = 'marts' and column_name = 'org_id' order by 1",
        [reader.CATALOG],
        scope=reader.SYSTEM,
    )
    return frame["table_name"].to_list()


def _orgs(path: Path) -> list[str]:
    return reader.fetch(path, "select distinct org_id from marts.events order by 1", scope=reader.SYSTEM)[
        "org_id"
    ].to_list()


def _leaks(path: Path, org: str, tables: list[str]) -> dict[str, int]:
    """Per table, the rows of other orgs (or of none) that an `OrgScope([org])` reader can see."""
    found: dict[str, int] = {}
    with reader.connect(path, scope=OrgScope([org])) as con:
        for table in tables:
            n = con.execute(
                f'select count(*) from marts."{table}" where org_id is distinct from ?', [org]
            ).fetchone()[0]
            if n:
                found[table] = n
    return found


def test_the_snapshot_has_several_orgs_and_many_org_tables(serving: Path) -> None:
    tables = _org_tables(serving)
    assert len(_orgs(serving)) >= 2
    assert {"events", "memory_cards", "today_panel", "quarantine", "sla_clocks"} <= set(tables)


def test_an_org_scope_sees_none_of_another_orgs_rows_in_any_mart(serving: Path) -> None:
    tables = _org_tables(serving)
    for org in _orgs(serving):
        assert _leaks(serving, org, tables) == {}, org


def test_an_org_scope_sees_every_row_of_its_own_org(serving: Path) -> None:
    tables = _org_tables(serving)
    for org in _orgs(serving):
        with (
            reader.connect(serving, scope=OrgScope([org])) as scoped,
            reader.connect(serving, scope=reader.SYSTEM) as system,
        ):
            for table in tables:
                mine = scoped.execute(f'select count(*) from marts."{table}"').fetchone()[0]
                theirs = system.execute(
                    f'select count(*) from marts."{table}" where org_id = ?', [org]
                ).fetchone()[0]
                assert mine == theirs, (org, table)


def test_the_leak_check_finds_rows_when_the_scope_filter_is_removed(
    serving: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unfiltered(table: str, *, has_org: bool, scope: OrgScope) -> str:
        return f'select * from {reader.CATALOG}.marts."{table}"'

    monkeypatch.setattr(reader, "_scoped_view", unfiltered)
    org = _orgs(serving)[0]
    assert _leaks(serving, org, _org_tables(serving))
