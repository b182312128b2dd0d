"""An inbox file's name is a name: every reader opens exactly that file, whatever characters it holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagster_project.ingestion.ingest import ingest_paths
from tests.events_factory import event, write_csv, write_jsonl, write_parquet

SUFFIXES = {"jsonl": ".jsonl", "jsonl.gz": ".jsonl.gz", "csv": ".csv", "parquet": ".parquet"}

# (odd stem, a neighbour's stem the odd one matches when read as a glob pattern, or None)
ODD_STEMS = [
    ("g[1]", "g1"),
    ("a*b", "aXb"),
    ("a?b", "aQb"),
    ("**", "x"),
    ("x{a,b}", "xa"),
    ("[!z]", "y"),
    ("back\\slash[1]", "back\\slash1"),
    ("with space", None),
    ("quo\"te's", None),
    ("new\nline", None),
    ("tab\tand\rcr", None),
    ("ünïcødé-😀-日本", None),
    ("%20$HOME~", None),
]


def _write(path: Path, fmt: str, records: list[dict]) -> Path:
    if fmt in ("jsonl", "jsonl.gz"):
        return write_jsonl(path, records, gz=fmt == "jsonl.gz")
    if fmt == "csv":
        return write_csv(path, records)
    return write_parquet(path, records)


@pytest.mark.parametrize("fmt", list(SUFFIXES))
@pytest.mark.parametrize(("stem", "neighbour"), ODD_STEMS, ids=[repr(s) for s, _ in ODD_STEMS])
def test_a_file_whose_name_looks_like_a_pattern_is_read_as_itself(
    tmp_path, warehouse, now, fmt, stem, neighbour
):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    stems = [stem] if neighbour is None else [stem, neighbour]
    expected = {}
    for n, name in enumerate(stems):
        records = [event(f"{n}-{i}", entity_id=f"sig-{n}-{i}") for i in range(3)]
        path = _write(inbox / f"{name}{SUFFIXES[fmt]}", fmt, records)
        expected[path.name] = sorted(r["event_id"] for r in records)

    report = ingest_paths(warehouse, sorted(inbox.iterdir()), now=now)

    assert {f.file: (f.lines, f.accepted, f.duplicates, f.quarantined) for f in report.files} == {
        name: (3, 3, 0, 0) for name in expected
    }
    stored = warehouse.execute(
        "select source_file, list(event_id order by event_id) from raw.events group by all"
    ).fetchall()
    assert dict(stored) == expected
