"""The bundled sample inbox ingests exactly as its manifest says (what a newcomer sees first)."""

from __future__ import annotations

import orjson

from dagster_project.ingestion.ingest import ingest_paths
from dagster_project.ingestion.readers import list_inbox
from dagster_project.settings import PROJECT_ROOT

SAMPLE = PROJECT_ROOT / "data" / "sample"


def test_sample_matches_its_manifest(warehouse, now):
    manifest = orjson.loads((SAMPLE / ".manifest.json").read_bytes())
    report = ingest_paths(warehouse, list_inbox(SAMPLE, settle_seconds=0), now=now)
    got = {f.file: (f.lines, f.accepted, f.duplicates, f.quarantined) for f in report.files}
    want = {
        f["name"]: (f["lines"], f["accepted"], f["duplicates"], f["quarantined"]) for f in manifest["files"]
    }
    assert got == want
    reasons = dict(warehouse.execute("select reason, count(*) from raw.quarantine group by 1").fetchall())
    assert reasons == {k: v for k, v in manifest["bad_lines"].items() if v}
