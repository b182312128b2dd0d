"""The README's config-key table lists every key the registry knows (docs cannot drift silently)."""

from __future__ import annotations

from dagster_project.lifecycle import config
from dagster_project.settings import PROJECT_ROOT


def test_readme_lists_every_config_key():
    readme = (PROJECT_ROOT / "README.md").read_text()
    missing = [key for key in config.KEYS if f"`{key}`" not in readme]
    assert not missing, f"README lacks config keys: {missing}"
