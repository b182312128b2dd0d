"""An empty warehouse that dbt's unit tests can build against: `python -m tests.dbt_unit_warehouse PATH`.

dbt's unit tests mock their inputs, but the models upstream of them must exist as relations, so the
fast lane (`make test-fast`) builds them `--empty` over the raw and core tables' declared schemas.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from dagster_project.control.export import ensure_control_schema
from dagster_project.identity.store import ensure_identity_schema
from dagster_project.lifecycle.store import ensure_core_schema
from dagster_project.scoring.tables import ensure_scoring_schema
from dagster_project.warehouse.store import connect, ensure_raw_schema, write_run_clock


def main(path: Path) -> None:
    path.unlink(missing_ok=True)
    con = connect(path)
    try:
        ensure_raw_schema(con)
        ensure_core_schema(con)
        ensure_control_schema(con)
        ensure_identity_schema(con)
        ensure_scoring_schema(con)
        any_time = datetime(2026, 1, 1, tzinfo=UTC)  # the tables are empty
        write_run_clock(con, any_time, any_time)
    finally:
        con.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
