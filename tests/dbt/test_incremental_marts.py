"""Incremental marts (dbt/macros/incremental.sql): a build takes in only the clusters the apply wrote."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from test_dbt_project import AS_OF, make_warehouse, run_dbt

# The kept marts and their upstream views: `dbt run` of these alone, no data tests.
SELECT = ["--select", "+signals", "+transitions"]


def _owners(warehouse: Path) -> dict[str, set[str]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute("select org_id, owner from marts.signals").fetchall()
    owners: dict[str, set[str]] = {}
    for org, owner in rows:
        owners.setdefault(org, set()).add(owner)
    return owners


def _transition_orgs(warehouse: Path) -> set[str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {org for (org,) in con.execute("select distinct org_id from marts.transitions").fetchall()}


def _write_core(warehouse: Path, *sql: str) -> None:
    with duckdb.connect(str(warehouse)) as con:
        for statement in sql:
            con.execute(statement)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("incremental")
    warehouse = make_warehouse(root / "warehouse.duckdb")
    run_dbt(["run", *SELECT], warehouse=warehouse, target=root / "target", as_of=AS_OF)
    return warehouse, root / "target"


def test_a_build_rewrites_the_clusters_the_apply_recorded_and_leaves_the_others(built) -> None:
    warehouse, target = built
    orgs = _transition_orgs(warehouse)
    assert orgs == {"acme", "globex"}  # the fixture folds one cluster per org: `<org>:all`
    # Both orgs' core rows change, but only acme's cluster is recorded as written by the apply; globex's
    # transitions are deleted without a record (the apply never does that: it shows what a build reads).
    _write_core(
        warehouse,
        "update core.signals set owner = 'acme-new' where org_id = 'acme'",
        "update core.signals set owner = 'globex-new' where org_id = 'globex'",
        "delete from core.transitions where org_id = 'acme'",
        "delete from core.transitions where org_id = 'globex'",
        "insert into core.cluster_changes values ('acme', 'acme:all', 1)",
    )
    run_dbt(["run", *SELECT], warehouse=warehouse, target=target, as_of=AS_OF)
    owners = _owners(warehouse)
    assert owners["acme"] == {"acme-new"}
    assert "globex-new" not in owners["globex"]
    # acme's emptied cluster left the mart; globex's rows are kept until its cluster is written.
    assert _transition_orgs(warehouse) == {"globex"}

    # Nothing written since: a second build changes nothing.
    run_dbt(["run", *SELECT], warehouse=warehouse, target=target, as_of=AS_OF)
    assert _owners(warehouse) == owners

    # A full refresh reads every cluster from the core tables again.
    run_dbt(["run", "--full-refresh", *SELECT], warehouse=warehouse, target=target, as_of=AS_OF)
    assert _owners(warehouse) == {"acme": {"acme-new"}, "globex": {"globex-new"}}
    assert _transition_orgs(warehouse) == set()
