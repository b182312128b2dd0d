"""`workstream api`: this machine only by default, built-in tokens only unless OIDC is configured."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from dagster_project.cli import app as cli
from tests.api.test_api import publish


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """What `uvicorn.run` was asked to serve, instead of serving it."""
    import uvicorn

    calls: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append({"app": app, **kwargs}))
    return calls


def test_the_api_binds_this_machine_only_and_starts_without_oidc(tmp_path: Path, served):
    publish(tmp_path)
    result = CliRunner().invoke(cli, ["api", "--home", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (call,) = served
    assert call["host"] == "127.0.0.1"
    assert call["app"].state.authenticator.oidc is None
    assert "built-in tokens only" in result.output and "TLS" not in result.output


def test_the_api_binds_another_interface_only_when_told(tmp_path: Path, served):
    publish(tmp_path)
    result = CliRunner().invoke(cli, ["api", "--home", str(tmp_path), "--host", "0.0.0.0", "--port", "9001"])
    assert result.exit_code == 0, result.output
    assert served[0]["host"] == "0.0.0.0" and served[0]["port"] == 9001
    assert "clear text unless a TLS proxy" in " ".join(result.output.split())


def test_oidc_is_on_with_issuer_audience_and_key_set_together(tmp_path: Path, served):
    publish(tmp_path)
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    base = ["api", "--home", str(tmp_path)]
    partial = CliRunner().invoke(cli, [*base, "--oidc-issuer", "https://login.example.test"])
    assert partial.exit_code == 2 and "--oidc-audience" in partial.output and not served
    full = CliRunner().invoke(
        cli,
        [*base, "--oidc-issuer", "https://login.example.test", "--oidc-audience", "api",
         "--oidc-jwks", str(jwks), "--oidc-org-claim", "orgs"],
    )  # fmt: skip
    assert full.exit_code == 0, full.output
    oidc = served[0]["app"].state.authenticator.oidc
    assert oidc.settings.issuer == "https://login.example.test" and oidc.settings.org_claim == "orgs"
    assert "OIDC (https://login.example.test)" in full.output


def test_a_token_from_workstream_users_reads_its_org_until_it_is_revoked(tmp_path: Path, monkeypatch):
    from fastapi.testclient import TestClient

    from dagster_project.api import create_app
    from dagster_project.settings import ENV_NOW
    from tests.api.access_helpers import CLOCK, NOW, bearer
    from tests.api.test_api import A, B

    monkeypatch.setenv(ENV_NOW, NOW.isoformat())
    publish(tmp_path)
    home = ["--home", str(tmp_path)]
    added = CliRunner().invoke(
        cli, ["users", "add", *home, "--email", "ana@example.com", "--role", "viewer", "--org", A]
    )
    assert added.exit_code == 0, added.output
    token = added.stdout.strip().splitlines()[-1]
    with TestClient(create_app(tmp_path, clock=CLOCK)) as client:
        assert client.get(f"/orgs/{A}/today", headers=bearer(token)).status_code == 200
        assert client.get(f"/orgs/{B}/today", headers=bearer(token)).status_code == 404
        revoked = CliRunner().invoke(cli, ["users", "revoke", *home, "--email", "ana@example.com"])
        assert revoked.exit_code == 0, revoked.output
        assert client.get(f"/orgs/{A}/today", headers=bearer(token)).status_code == 401
