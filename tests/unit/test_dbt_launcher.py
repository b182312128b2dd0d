"""`workstream-dbt` moves into the profile's folder before it becomes dbt: the profile folder it hands on
must still name the same folder from there."""

from __future__ import annotations

import os

from dagster_project.warehouse.dbt_launcher import in_profiles_dir


def test_a_relative_profile_folder_is_handed_to_dbt_as_an_absolute_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder, args = in_profiles_dir(["ls", "--profiles-dir", "home/dbt-profile", "--quiet"])
    assert folder == str(tmp_path / "home" / "dbt-profile")
    assert args == ["ls", "--profiles-dir", folder, "--quiet"]


def test_the_last_profile_folder_wins_as_it_does_for_dbt(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder, args = in_profiles_dir(["build", "--profiles-dir=first", "--profiles-dir", "/abs/second"])
    assert folder == "/abs/second"
    assert args == ["build", f"--profiles-dir={tmp_path / 'first'}", "--profiles-dir", "/abs/second"]


def test_without_a_profile_folder_the_arguments_pass_unchanged():
    assert in_profiles_dir(["--version"]) == (None, ["--version"])
    assert os.path.isabs(in_profiles_dir(["debug", "--profiles-dir", "."])[0])
