"""Schemathesis against the API's own OpenAPI document, with a valid token: bounded, no 5xx, and the
answers match what the document declares (status codes, content types, bodies)."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dagster_project.api import create_app
from tests.api.access_helpers import CLOCK, bearer, token_for
from tests.api.test_api import A, publish

# The token's org and a card in it (tests/api/test_api.py's snapshot).
OWN = {"org_id": A, "entity_type": "client", "entity_id": "cl1"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Per operation; three operations keep the whole module well under a minute.
MAX_EXAMPLES = 40


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, str]:
    home: Path = tmp_path_factory.mktemp("fuzz")
    publish(home)
    token = token_for(home, "viewer@example.com", "viewer", [A])
    app = create_app(home, clock=CLOCK)
    with TestClient(app):  # runs the lifespan once, as a server would
        yield app, token


def _operations(app) -> list:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


# Schemathesis's own pytest loader does not run under this pytest, so each operation's strategy is
# driven by Hypothesis here, bounded by `max_examples` and derandomized (the same cases every run).
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    database=None,
)


def test_the_api_never_fails_and_keeps_to_its_document(served):
    app, token = served
    operations = _operations(app)
    assert {op.path for op in operations} >= {"/health", "/orgs/{org_id}/today"}
    statuses: dict[str, set[int]] = {}
    for operation in operations:
        # A generated org id is hardly ever the token's org (that is the documented 404): a third of the
        # cases read the token's own org (and a card it has), so the 200 answers meet the document too;
        # a third are negative (values the document rules out).
        names = {p.name for p in operation.path_parameters}
        own = {k: v for k, v in OWN.items() if k in names}

        @FUZZ
        @given(
            case=st.one_of(
                operation.as_strategy(),
                operation.as_strategy(path_parameters=own) if own else operation.as_strategy(),
                operation.as_strategy(GenerationMode.NEGATIVE),
            )
        )
        def check(case) -> None:
            response = case.call_and_validate(headers=bearer(token), checks=CHECKS)
            statuses.setdefault(case.path, set()).add(response.status_code)

        check()
    # The fuzzing reached the data, not only the doors: every org route answered a 200 and a 4xx.
    org_routes = {path: codes for path, codes in statuses.items() if path.startswith("/orgs/")}
    assert len(org_routes) == len(operations) - 1, statuses
    assert all(200 in codes and any(400 <= c < 500 for c in codes) for codes in org_routes.values()), statuses


def test_without_a_token_every_org_route_is_401(served):
    app, _token = served
    for operation in _operations(app):

        @settings(FUZZ, max_examples=10)
        @given(case=operation.as_strategy())
        def check(case) -> None:
            response = case.call()
            expected = (200, 503) if case.path == "/health" else (401,)
            assert response.status_code in expected, (case.path, response.status_code)

        check()
