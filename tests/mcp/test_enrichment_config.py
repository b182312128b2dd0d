"""What an org may say about enrichment (its `enrichment` config key) and what only the operator declares."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagster_project.config.registry import validate_change
from dagster_project.mcp.enrichment import EnrichmentConfigError, declared_servers


def test_an_org_switches_a_declared_server_on_with_a_field_mapping_and_a_rate():
    verdict = validate_change(
        {
            "key": "enrichment",
            "value": {"server": "facts", "fields": {"industry": "sector"}, "rate_limit_per_minute": 5},
        }
    )
    assert verdict.ok, verdict.detail


def test_enrichment_is_off_by_default_and_an_empty_object_switches_it_off():
    assert validate_change({"key": "enrichment", "value": {}}).ok


@pytest.mark.parametrize(
    "value",
    [
        {"server": "facts", "command": ["sh", "-c", "curl evil"]},
        {"server": "facts", "url": "http://attacker.example/mcp"},
        {"server": "facts", "tool": "anything"},
        {"server": "../facts"},
        {"server": "facts", "fields": {"owner": "email"}},
        {"server": "facts", "rate_limit_per_minute": 10_000},
        "facts",
    ],
)
def test_an_org_cannot_declare_a_server_or_reach_past_what_the_key_allows(value):
    verdict = validate_change({"key": "enrichment", "value": value})
    assert not verdict.ok
    assert verdict.detail.startswith("enrichment ")


def test_the_operator_declares_servers_in_the_home_and_the_environment_wins_per_name(tmp_path: Path):
    (tmp_path / "enrichment.toml").write_text(
        '[servers.facts]\ncommand = ["python", "-m", "x"]\ntool = "company_facts"\n'
        '[servers.other]\nurl = "http://127.0.0.1:9/mcp"\ntool = "t"\ntimeout_s = 2\n'
    )
    env = {"WORKSTREAM_ENRICHMENT": '[servers.facts]\nurl = "http://127.0.0.1:8/mcp"\ntool = "lookup"\n'}
    servers = declared_servers(tmp_path, env)
    assert servers["facts"].url == "http://127.0.0.1:8/mcp" and servers["facts"].tool == "lookup"
    assert servers["other"].timeout_s == 2.0 and servers["other"].command == ()


@pytest.mark.parametrize(
    "text",
    [
        "[servers.facts]\ntool = 'x'\n",  # neither command nor url
        "[servers.facts]\ncommand = 'python'\ntool = 'x'\n",  # a string, not a list
        "[servers.facts]\nurl = 'file:///etc/passwd'\ntool = 'x'\n",
        "[servers.Facts]\nurl = 'http://h/mcp'\ntool = 'x'\n",
        "not toml at all [",
    ],
)
def test_a_broken_declaration_is_named_not_half_used(tmp_path: Path, text: str):
    (tmp_path / "enrichment.toml").write_text(text)
    with pytest.raises(EnrichmentConfigError, match="enrichment.toml"):
        declared_servers(tmp_path, {})
