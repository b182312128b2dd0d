"""The publish: one copy of what dbt built into `marts`, plus the snapshot's own identity."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb

from dagster_project.serving.publish import publish_snapshot
from dagster_project.settings import HomePaths
from dagster_project.warehouse.store import connect, ensure_raw_schema

AS_OF = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 27, 17, 1, tzinfo=UTC)


def test_the_snapshot_holds_what_dbt_built_and_its_identity_and_never_reads_the_control_store(tmp_path):
    paths = HomePaths(tmp_path / "home")
    paths.ensure()
    con = connect(paths.warehouse)
    try:
        ensure_raw_schema(con)
        con.execute("create schema marts")
        con.execute("create table marts.win_loss as select 'acme' as org_id, 3::bigint as pursuits")
        con.execute("create view marts.alerts as select 'acme' as org_id, 'a1' as alert_id")
        result = publish_snapshot(con, paths, built_at=AS_OF, published_at=NOW)
    finally:
        con.close()
    with duckdb.connect(str(paths.serving), read_only=True) as snap:
        tables = snap.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
        ).fetchall()
        alerts = snap.execute("select org_id, alert_id from marts.alerts").fetchall()
    assert [t for (t,) in tables] == ["alerts", "snapshot_info", "win_loss"]
    assert sorted(result.tables) == ["alerts", "win_loss"]
    assert alerts == [("acme", "a1")]  # a dbt view is served as the rows it held at publish
    assert not paths.control.exists()
