"""`workstream run` and `serve` parse dbt's project again when its manifest is older than its files."""

import os
from pathlib import Path

from dagster_project.commands.dagster_home import dbt_manifest_is_current


def _project(tmp_path: Path) -> Path:
    (tmp_path / "models" / "marts").mkdir(parents=True)
    (tmp_path / "macros").mkdir()
    (tmp_path / "dbt_project.yml").write_text("name: p\n")
    (tmp_path / "models" / "marts" / "a.sql").write_text("select 1\n")
    (tmp_path / "macros" / "m.sql").write_text("{% macro m() %}1{% endmacro %}\n")
    (tmp_path / "target").mkdir()
    return tmp_path


def _age(path: Path, seconds_ago: float) -> None:
    when = path.stat().st_mtime - seconds_ago
    os.utime(path, (when, when))


def test_a_project_with_no_manifest_is_parsed(tmp_path):
    assert not dbt_manifest_is_current(_project(tmp_path))


def test_a_manifest_newer_than_every_file_is_used_as_it_is(tmp_path):
    project = _project(tmp_path)
    for f in project.rglob("*"):
        if f.is_file():
            _age(f, 60)
    (project / "target" / "manifest.json").write_text("{}")
    assert dbt_manifest_is_current(project)


def test_a_model_changed_after_the_manifest_makes_it_out_of_date(tmp_path):
    project = _project(tmp_path)
    manifest = project / "target" / "manifest.json"
    manifest.write_text("{}")
    _age(manifest, 60)
    assert not dbt_manifest_is_current(project)


def test_a_new_model_in_a_nested_folder_makes_it_out_of_date(tmp_path):
    project = _project(tmp_path)
    for f in project.rglob("*"):
        if f.is_file():
            _age(f, 120)
    manifest = project / "target" / "manifest.json"
    manifest.write_text("{}")
    _age(manifest, 60)
    assert dbt_manifest_is_current(project)
    (project / "models" / "marts" / "new").mkdir()
    (project / "models" / "marts" / "new" / "b.sql").write_text("select 2\n")
    assert not dbt_manifest_is_current(project)
