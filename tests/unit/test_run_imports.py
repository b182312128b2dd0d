"""What a pipeline run's process loads before its first step: every `workstream run` (and every test that
shells out to one) is a fresh Python that imports the whole Dagster definitions, so a heavy library that
only some runs need is imported where it is used, not with the definitions."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Libraries a run on a small home never calls: scikit-learn (and SciPy under it) only fits a model for an
# org with enough closed pursuits; the MCP SDK only for a home that declares an enrichment server.
LOADED_WHEN_USED = ("sklearn", "scipy", "mcp")


@pytest.fixture(scope="module")
def modules_after_loading_the_definitions() -> set[str]:
    code = (
        "import json, sys\n"
        "import dagster_project.commands.run, dagster_project.definitions\n"
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("library", LOADED_WHEN_USED)
def test_loading_the_pipeline_definitions_does_not_import_a_library_only_some_runs_use(
    modules_after_loading_the_definitions: set[str], library: str
) -> None:
    assert library not in modules_after_loading_the_definitions


def test_the_definitions_still_load_the_libraries_every_run_uses(
    modules_after_loading_the_definitions: set[str],
) -> None:
    # The check above means something only if the import really ran the definitions.
    assert {"dagster", "dagster_dbt", "duckdb", "polars"} <= modules_after_loading_the_definitions
