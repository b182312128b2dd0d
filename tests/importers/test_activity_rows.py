"""Each activity row (a Salesforce task or event, a HubSpot engagement) that cannot become a note is
skipped with the first thing it lacks, in the same order for both CRMs; of two rows of one record the
older is skipped and the newer one judged further."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dagster_project.importers.run import run_import

NOW = datetime(2026, 11, 20, tzinfo=UTC)
PAST, LATER, FUTURE = "2026-03-01T10:00:00Z", "2026-04-01T10:00:00Z", "2027-01-01T10:00:00Z"
# (id, time, text): one row per reason, then a record seen twice.
ROWS = [
    ("", PAST, "call about renewal"),
    ("a2", "not a date", "call about renewal"),
    ("a3", PAST, ""),
    ("a4", FUTURE, "call about renewal"),
    ("a5", PAST, "first version"),
    ("a5", LATER, "second version"),
]
SHAPES = {
    "salesforce": ("Task.csv", ("Id", "ActivityDateTime", "Subject"), "no Id"),
    "hubspot": (
        "engagement_note.csv",
        ("engagement_id", "property_hs_timestamp", "property_hs_note_body"),
        "no id",
    ),
}


def _outcomes(report: Path, file_name: str) -> list[tuple[str, str, str, str]]:
    with report.open(newline="", encoding="utf-8") as handle:
        return [
            (r["row"], r["source_id"], r["outcome"], r["reason"])
            for r in csv.DictReader(handle)
            if r["file"] == file_name
        ]


@pytest.mark.parametrize("vendor", sorted(SHAPES))
def test_an_activity_row_is_skipped_for_the_first_thing_it_lacks_and_a_record_keeps_its_newest_row(
    tmp_path, vendor
):
    file_name, columns, no_id = SHAPES[vendor]
    export = tmp_path / "export"
    export.mkdir()
    with (export / file_name).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(ROWS)
    report = tmp_path / "report.csv"
    run_import(vendor, export, "acme", tmp_path / "inbox", now=NOW, report=report)
    assert _outcomes(report, file_name) == [
        ("1", "", "skipped", no_id),
        ("2", "a2", "skipped", "no readable date"),
        ("3", "a3", "skipped", "no text"),
        ("4", "a4", "skipped", "dated after the import's clock"),
        ("5", "a5", "skipped", "a newer row of the same record is kept"),
        # The newer row is the one judged further: here it is about nothing the export holds.
        ("6", "a5", "skipped", "what it is about is not in the export"),
    ]
