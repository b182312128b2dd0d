"""docs/configuration.md is generated from the config registry and lists every key (docs cannot drift)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from dagster_project.config import doc as config_doc
from dagster_project.config import registry as config


def test_the_committed_configuration_page_equals_the_generated_one():
    committed = config_doc.DOC_PATH.read_text(encoding="utf-8")
    assert committed == config_doc.render(), (
        "docs/configuration.md is stale: run python -m dagster_project.config.doc"
    )


def test_the_configuration_page_lists_every_config_key():
    page = config_doc.DOC_PATH.read_text(encoding="utf-8")
    missing = [key for key in config.KEYS if f"| `{key}` |" not in page]
    assert not missing, f"docs/configuration.md lacks config keys: {missing}"


def test_a_new_key_without_a_meaning_stops_the_generator(monkeypatch):
    keys = dict(config.KEYS)
    keys["brand_new.key"] = config.KeySpec(1, config.KEYS["outbox.max_attempts"].check)
    monkeypatch.setattr(config, "KEYS", keys)
    with pytest.raises(KeyError, match="brand_new.key"):
        config_doc.render()


def test_the_check_mode_reports_a_stale_page(tmp_path):
    stale = tmp_path / "configuration.md"
    stale.write_text("# Configuration\n", encoding="utf-8")
    assert config_doc.main(["--check", "--out", str(stale)]) == 1
    assert config_doc.main(["--out", str(stale)]) == 0
    assert config_doc.main(["--check", "--out", str(stale)]) == 0


def test_a_keys_upper_bound_is_part_of_what_an_override_must_be(monkeypatch):
    bounded = SimpleNamespace(default=8, check=config.KEYS["outbox.max_attempts"].check, high=100)
    monkeypatch.setattr(config, "KEYS", {**config.KEYS, "outbox.max_attempts": bounded})
    row = next(line for line in config_doc.render().splitlines() if "| `outbox.max_attempts` |" in line)
    assert "at most 100" in row
