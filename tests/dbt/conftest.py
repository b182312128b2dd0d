"""The dbt test files share dbt's partial parse within a session (see `test_dbt_project.run_dbt`)."""

from __future__ import annotations

import pytest

from tests.shared_homes import built_once


@pytest.fixture(scope="session", autouse=True)
def _dbt_parse_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A full parse of the project is a dbt command's dearest fixed cost: the session's workers keep
    the latest partial parse per vars in one folder, and a command with the same vars starts from it."""
    import test_dbt_project

    test_dbt_project.PARSE_CACHE = built_once(tmp_path_factory, "dbt-parse", lambda folder: None)
