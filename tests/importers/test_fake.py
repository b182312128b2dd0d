"""The CRM export generator: deterministic, both vendors, planted duplicates with their truth."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from dagster_project.importers.fake import fake_export


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("vendor", ["salesforce", "hubspot"])
def test_the_same_arguments_give_the_same_export_and_truth(vendor: str, tmp_path: Path) -> None:
    fake_export(tmp_path / "a", vendor, rows=120, seed=4)
    fake_export(tmp_path / "b", vendor, rows=120, seed=4)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    fake_export(tmp_path / "c", vendor, rows=120, seed=5)
    assert _files(tmp_path / "a") != _files(tmp_path / "c")


@pytest.mark.parametrize("vendor", ["salesforce", "hubspot"])
def test_some_people_are_planted_twice_under_another_spelling(vendor: str, tmp_path: Path) -> None:
    truth = fake_export(tmp_path / "x", vendor, rows=300, seed=4)
    twice = [p for p in truth.people if len(p["ids"]) > 1]
    assert twice and len(twice) < len(truth.people)
    written = orjson.loads((tmp_path / "x" / ".truth.json").read_bytes())
    assert written["people"] == truth.people


def test_a_newer_export_changes_only_what_its_truth_says_changed(tmp_path: Path) -> None:
    old = fake_export(tmp_path / "v1", "salesforce", rows=200, seed=4)
    new = fake_export(tmp_path / "v2", "salesforce", rows=200, seed=4, version=2)
    assert new.changed and not old.changed
    unchanged = [d for d in old.deals if d not in new.changed]
    assert unchanged and all(old.deals[d] == new.deals[d] for d in unchanged)
    assert old.people == new.people
