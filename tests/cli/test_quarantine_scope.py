"""`quarantine export` reads one org's records through the reader's org scope, or every org's when told
so explicitly; a record of org B never reaches an export for org A."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from dagster_project.cli import app

runner = CliRunner()

ROWS = [
    ("a.jsonl", 1, "bad_id", "d", '{"org_id": "acme", "note": "ACME-ONLY-7f3a"}', "acme"),
    ("a.jsonl", 2, "bad_id", "d", '{"org_id": "globex", "note": "GLOBEX-ONLY-19c2"}', "globex"),
    ("a.jsonl", 3, "bad_id", "d", '{"org_id": "initech", "note": "INITECH-ONLY-c0de"}', "initech"),
    ("a.jsonl", 4, "bad_json", "d", "{NO-ORG-LINE-55aa", None),
]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    with duckdb.connect(str(home / "serving.duckdb")) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.quarantine "
            "(file varchar, line bigint, reason varchar, detail varchar, raw varchar, org_id varchar)"
        )
        con.executemany("insert into marts.quarantine values (?, ?, ?, ?, ?, ?)", ROWS)
    return home


def _export(home: Path, out: Path, *args: str):
    return runner.invoke(app, ["quarantine", "export", "--home", str(home), "--out", str(out), *args])


def test_an_export_for_one_org_holds_none_of_another_orgs_records(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "acme.jsonl"
    result = _export(home, out, "--org", "acme")
    assert result.exit_code == 0, result.output
    text = out.read_text() + out.with_name("acme.reasons.tsv").read_text()
    assert "ACME-ONLY-7f3a" in text
    for other in ("GLOBEX-ONLY-19c2", "INITECH-ONLY-c0de", "NO-ORG-LINE-55aa"):
        assert other not in text
    assert "of org acme" in result.output


def test_org_is_repeatable(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "two.jsonl"
    assert _export(home, out, "--org", "acme", "--org", "initech").exit_code == 0
    text = out.read_text()
    assert "ACME-ONLY-7f3a" in text and "INITECH-ONLY-c0de" in text and "GLOBEX-ONLY-19c2" not in text


def test_all_orgs_exports_everything_including_records_without_an_org(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "all.jsonl"
    assert _export(home, out, "--all-orgs").exit_code == 0
    assert len(out.read_text().splitlines()) == len(ROWS)


@pytest.mark.parametrize("args", [[], ["--org", "acme", "--all-orgs"]])
def test_neither_or_both_of_org_and_all_orgs_exit_2_and_write_nothing(
    home: Path, tmp_path: Path, args
) -> None:
    out = tmp_path / "q.jsonl"
    result = _export(home, out, *args)
    assert result.exit_code == 2
    assert "--org ORG (repeatable) or --all-orgs" in result.output
    assert not out.exists()


@pytest.mark.parametrize("org", ["acme' or '1'='1", "../globex", "x" * 500, ""])
def test_a_hostile_org_id_exits_2_without_a_traceback(home: Path, tmp_path: Path, org: str) -> None:
    out = tmp_path / "q.jsonl"
    result = _export(home, out, "--org", org)
    assert result.exit_code == 2, result.output
    assert "--org" in result.output and isinstance(result.exception, SystemExit)
    assert not out.exists()


def test_an_org_with_no_records_says_so(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "q.jsonl"
    result = _export(home, out, "--org", "hooli")
    assert result.exit_code == 0
    assert "no quarantined records of org hooli" in result.output and out.read_text() == ""
