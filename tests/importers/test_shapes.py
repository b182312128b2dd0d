"""The importers read every shape an export comes in: the Fivetran seeds (real column sets), Salesforce's
own API-named files, a sync tool's Parquet tables; every row gets exactly one outcome."""

from __future__ import annotations

import csv
import os
import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from dagster_project.importers.run import ImportRefused, run_import
from dagster_project.importers.tables import as_time, snake, table_key

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "crm"
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _rows_per_file(folder: Path) -> Counter:
    counts: Counter = Counter()
    for path in folder.iterdir():
        if path.suffix == ".csv":
            with path.open(newline="", encoding="utf-8-sig") as handle:
                counts[path.name] = sum(1 for _ in csv.reader(handle)) - 1
    return counts


def _report(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _events(paths: list[Path]) -> list[dict]:
    return [orjson.loads(line) for p in paths for line in p.read_bytes().splitlines()]


@pytest.mark.parametrize("vendor", ["salesforce", "hubspot"])
def test_every_row_of_every_seed_file_gets_exactly_one_outcome(vendor: str, tmp_path: Path) -> None:
    result = run_import(vendor, FIXTURES / vendor, "acme", tmp_path / "inbox", now=NOW)
    rows = _report(result.report)
    per_file = Counter(r["file"] for r in rows if r["row"] != "0")
    assert per_file == _rows_per_file(FIXTURES / vendor)
    assert {(r["file"], r["row"]) for r in rows if r["row"] != "0"} == {
        (name, str(n)) for name, count in per_file.items() for n in range(1, count + 1)
    }
    assert {r["outcome"] for r in rows} <= {"mapped", "skipped", "unmapped"}
    assert all(r["reason"] for r in rows if r["outcome"] != "mapped")


def test_seed_records_deleted_in_the_crm_are_skipped_and_never_become_events(tmp_path: Path) -> None:
    result = run_import("salesforce", FIXTURES / "salesforce", "acme", tmp_path / "inbox", now=NOW)
    deleted = {r["source_id"] for r in _report(result.report) if r["reason"] == "deleted in the CRM"}
    assert "0015500000Ygpq1AAB" in deleted  # an Account with is_deleted = true
    entities = {e["entity_id"] for e in _events(result.files)}
    assert not {f"sf-{sid}" for sid in deleted} & entities
    assert "sf-0015500000Xyy06AAB" in entities  # the live Account keeps its Salesforce Id


def test_hubspot_seed_columns_are_read_through_their_property_prefix(tmp_path: Path) -> None:
    result = run_import("hubspot", FIXTURES / "hubspot", "acme", tmp_path / "inbox", now=NOW)
    contacts = {
        e["entity_id"]: e["payload"]
        for e in _events(result.files)
        if e["event_name"] == "contact.updated" and "email" in e["payload"]
    }
    assert contacts["hs-contact-78971951"]["email"] == "fcb67ef339b691956cc85fa12be6490c"
    assert contacts["hs-contact-78971951"]["company_name"] == "SampleCompany"
    signals = {e["entity_id"] for e in _events(result.files) if e["event_name"] == "signal.created"}
    assert "hs-contact-78971951" in signals


def test_names_and_values_of_every_export_tool_fold_to_one_shape() -> None:
    assert snake("StageName") == "stage_name"
    assert snake("Loss_Reason__c") == "loss_reason_c"
    assert snake("_fivetran_synced") == "_fivetran_synced"
    assert snake("\ufeffId") == "id"
    assert table_key(Path("OpportunityHistory.csv"), "sf") == "opportunity_history"
    assert table_key(Path("sf_opportunity_history_data.csv"), "sf") == "opportunity_history"
    assert table_key(Path("engagement_note.parquet")) == "engagement_note"
    assert as_time("2020-12-30 3:15:52") == datetime(2020, 12, 30, 3, 15, 52, tzinfo=UTC)
    assert as_time("2019-11-11T17:23:34.000+0000") == datetime(2019, 11, 11, 17, 23, 34, tzinfo=UTC)
    assert as_time("2018-12-19") == datetime(2018, 12, 19, tzinfo=UTC)
    assert as_time("1577836800000") == datetime(2020, 1, 1, tzinfo=UTC)


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def test_a_salesforce_data_export_with_api_field_names_gives_the_stage_history(tmp_path: Path) -> None:
    src = tmp_path / "export"
    src.mkdir()
    _write_csv(
        src / "Account.csv",
        ["Id", "Name", "Website", "IsDeleted", "CreatedDate", "LastModifiedDate"],
        [
            [
                "001A",
                "Acme Corp",
                "https://www.acme.example/about",
                "false",
                "2024-01-02T09:00:00.000Z",
                "2024-01-02T09:00:00.000Z",
            ]
        ],
    )
    _write_csv(
        src / "Opportunity.csv",
        [
            "Id",
            "AccountId",
            "Name",
            "StageName",
            "Amount",
            "CloseDate",
            "IsClosed",
            "IsWon",
            "IsDeleted",
            "CreatedDate",
            "LastModifiedDate",
        ],
        [
            [
                "006A",
                "001A",
                "Acme renewal",
                "Closed Won",
                "50000",
                "2024-03-01",
                "true",
                "true",
                "false",
                "2024-01-05T10:00:00.000Z",
                "2024-03-01T12:00:00.000Z",
            ]
        ],
    )
    _write_csv(
        src / "OpportunityHistory.csv",
        ["Id", "OpportunityId", "StageName", "CreatedDate", "IsDeleted"],
        [
            ["008A", "006A", "Prospecting", "2024-01-05T10:00:00.000Z", "false"],
            ["008B", "006A", "Qualification", "2024-01-20T10:00:00.000Z", "false"],
            ["008C", "006A", "Proposal/Price Quote", "2024-02-10T10:00:00.000Z", "false"],
            ["008D", "006A", "Closed Won", "2024-03-01T12:00:00.000Z", "false"],
        ],
    )
    result = run_import("salesforce", src, "acme", tmp_path / "inbox", now=NOW)
    events = _events(result.files)
    moves = [
        (e["occurred_at"], e["event_name"], e["payload"].get("to"))
        for e in events
        if e["entity_id"] == "sf-006A" and e["event_name"] in ("candidate.promoted", "pursuit.stage_changed")
    ]
    assert moves == [
        ("2024-01-20T10:00:00.000000Z", "candidate.promoted", None),
        ("2024-02-10T10:00:00.000000Z", "pursuit.stage_changed", "red"),
        ("2024-03-01T12:00:00.000000Z", "pursuit.stage_changed", "won"),
    ]
    value = next(e["payload"] for e in events if e["event_name"] == "pursuit.updated")
    assert value["forecast_value_usd"] == 50000 and value["due_date"] == "2024-03-01"
    client = next(
        e["payload"] for e in events if e["event_name"] == "client.updated" and "name" in e["payload"]
    )
    assert client["domain"] == "acme.example"
    absent = {r["object"] for r in _report(result.report) if r["outcome"] == "absent"}
    assert absent == {"user", "contact", "lead", "task", "event"}


def test_a_sync_tools_parquet_tables_read_like_its_csv_files(tmp_path: Path) -> None:
    src = tmp_path / "parquet"
    src.mkdir()
    for name in ("sf_account_data.csv", "sf_contact_data.csv", "sf_user_data.csv"):
        table = pacsv.read_csv(
            FIXTURES / "salesforce" / name, convert_options=pacsv.ConvertOptions(strings_can_be_null=True)
        )
        table = table.cast(pa.schema([pa.field(f.name, pa.string()) for f in table.schema]))
        pq.write_table(table, src / (name.removeprefix("sf_").removesuffix("_data.csv") + ".parquet"))
    from_parquet = run_import("salesforce", src, "acme", tmp_path / "a", now=NOW)
    csv_only = tmp_path / "csv"
    csv_only.mkdir()
    for name in ("sf_account_data.csv", "sf_contact_data.csv", "sf_user_data.csv"):
        shutil.copy(FIXTURES / "salesforce" / name, csv_only / name)
    from_csv = run_import("salesforce", csv_only, "acme", tmp_path / "b", now=NOW)
    assert [p.read_bytes() for p in from_parquet.files] == [p.read_bytes() for p in from_csv.files]


def test_the_same_export_gives_byte_identical_files_and_the_same_ids(tmp_path: Path) -> None:
    first = run_import("hubspot", FIXTURES / "hubspot", "acme", tmp_path / "one", now=NOW)
    again = run_import("hubspot", FIXTURES / "hubspot", "acme", tmp_path / "two", now=NOW)
    assert [p.name for p in first.files] == [p.name for p in again.files]
    assert [p.read_bytes() for p in first.files] == [p.read_bytes() for p in again.files]


def test_the_report_goes_next_to_the_inbox_and_is_refused_inside_it(tmp_path: Path) -> None:
    result = run_import("salesforce", FIXTURES / "salesforce", "acme", tmp_path / "inbox", now=NOW)
    assert result.report.parent == tmp_path
    with pytest.raises(ImportRefused, match="inside the inbox"):
        run_import(
            "salesforce",
            FIXTURES / "salesforce",
            "acme",
            tmp_path / "inbox",
            now=NOW,
            report=tmp_path / "inbox" / "r.csv",
        )


def test_an_unreadable_export_folder_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(ImportRefused, match="cannot read the export folder"):
        run_import("salesforce", tmp_path / "missing", "acme", tmp_path / "inbox", now=NOW)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running as a user who reads any folder")
        with pytest.raises(ImportRefused, match="cannot read the export folder"):
            run_import("salesforce", locked, "acme", tmp_path / "inbox", now=NOW)
    finally:
        locked.chmod(0o700)


def test_a_bad_org_id_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ImportRefused, match="not a valid org id"):
        run_import("salesforce", FIXTURES / "salesforce", "Acme Corp", tmp_path / "inbox", now=NOW)
    assert not (tmp_path / "inbox").exists()


def test_hubspots_own_export_from_its_crm_pages_reads_by_property_label(tmp_path: Path) -> None:
    src = tmp_path / "ui"
    src.mkdir()
    _write_csv(
        src / "hubspot-crm-exports-all-companies-2024-05-01.csv",
        ["Record ID", "Company name", "Company Domain Name", "Industry", "Create Date", "Last Modified Date"],
        [["11", "Acme Corp", "acme.example", "Retail", "2024-01-02 09:00", "2024-01-03 09:00"]],
    )
    _write_csv(
        src / "all-contacts.csv",
        [
            "Record ID",
            "First Name",
            "Last Name",
            "Email",
            "Phone Number",
            "Company Name",
            "Contact owner",
            "Create Date",
            "Associated Company IDs (Primary)",
        ],
        [
            [
                "21",
                "Ana",
                "Lima",
                "Ana.Lima@Acme.example",
                "+1 415 555 0101",
                "Acme",
                "Jane Doe",
                "2024-01-05 10:00",
                "11",
            ]
        ],
    )
    _write_csv(
        src / "hubspot-crm-exports-all-deals-2024-05-01.csv",
        [
            "Record ID",
            "Deal Name",
            "Deal Stage",
            "Amount",
            "Close Date",
            "Create Date",
            "Deal owner",
            "Associated Company IDs (Primary)",
        ],
        [["31", "Acme pilot", "Closed Won", "12000", "2024-03-01", "2024-01-10 11:00", "Jane Doe", "11"]],
    )
    result = run_import("hubspot", src, "acme", tmp_path / "inbox", now=NOW)
    assert {r["outcome"] for r in _report(result.report) if r["row"] != "0"} == {"mapped"}
    events = _events(result.files)
    contact = next(
        e["payload"] for e in events if e["event_name"] == "contact.updated" and "email" in e["payload"]
    )
    assert (
        contact | {} == contact and contact["name"] == "Ana Lima" and contact["client_id"] == "hs-company-11"
    )
    assert contact["owner"] == "Jane Doe" and contact["company_name"] == "Acme"
    won = [e for e in events if e["entity_id"] == "hs-deal-31" and e["payload"].get("to") == "won"]
    assert won and won[0]["occurred_at"].startswith("2024-03-01")
    client = next(
        e["payload"] for e in events if e["event_name"] == "client.updated" and "name" in e["payload"]
    )
    assert (client["name"], client["domain"]) == ("Acme Corp", "acme.example")


def test_a_damaged_file_is_reported_and_the_rest_of_the_export_imported(tmp_path: Path) -> None:
    src = tmp_path / "damaged"
    src.mkdir()
    shutil.copy(FIXTURES / "salesforce" / "sf_contact_data.csv", src / "contact.csv")
    (src / "account.parquet").write_bytes(b"PAR1 this is not a parquet file PAR1")
    (src / "user.csv").write_bytes(
        b"Id,Email\n005A,a@seller.example\n005B,\xff\xfe broken\n005C,c@seller.example\n"
    )
    result = run_import("salesforce", src, "acme", tmp_path / "inbox", now=NOW)
    rows = _report(result.report)
    account = [r for r in rows if r["object"] == "account"]
    assert [(r["row"], r["outcome"], r["reason"]) for r in account] == [
        ("0", "skipped", "the file cannot be read")
    ]
    users = [(r["row"], r["outcome"]) for r in rows if r["object"] == "user"]
    assert users[-1][1] == "skipped" and all(o == "mapped" for _, o in users[:-1])
    assert sum(1 for r in rows if r["object"] == "contact" and r["outcome"] == "mapped") == 4


def test_contacts_hubspot_merged_become_explicit_merge_events(tmp_path: Path) -> None:
    result = run_import("hubspot", FIXTURES / "hubspot", "acme", tmp_path / "inbox", now=NOW)
    merges = {
        (e["entity_id"], e["payload"]["into_contact_id"])
        for e in _events(result.files)
        if e["event_name"] == "contact.merged"
    }
    # The seed's contact 78971951 lists 76340251 (also in the export) among its merged vids.
    assert ("hs-contact-76340251", "hs-contact-78971951") in merges
    assert all(into != merged for merged, into in merges)


def test_a_sync_tools_history_mode_gives_the_stage_history_from_its_versions(tmp_path: Path) -> None:
    src = tmp_path / "fivetran"
    src.mkdir()
    _write_csv(
        src / "opportunity.csv",
        [
            "id",
            "account_id",
            "name",
            "stage_name",
            "amount",
            "is_won",
            "is_closed",
            "is_deleted",
            "created_date",
            "last_modified_date",
            "_fivetran_active",
            "_fivetran_synced",
        ],
        [
            [
                "006H",
                "",
                "Old version",
                "Qualification",
                "100",
                "false",
                "false",
                "false",
                "2024-01-01 09:00:00",
                "2024-01-02 09:00:00",
                "false",
                "2024-01-02 10:00:00",
            ],
            [
                "006H",
                "",
                "Big deal",
                "Closed Lost",
                "900",
                "false",
                "true",
                "false",
                "2024-01-01 09:00:00",
                "2024-02-20 09:00:00",
                "true",
                "2024-02-21 10:00:00",
            ],
        ],
    )
    _write_csv(
        src / "opportunity_history.csv",
        ["id", "stage_name", "_fivetran_start", "_fivetran_end", "_fivetran_active", "is_deleted"],
        [
            ["006H", "Prospecting", "2024-01-01 09:00:00", "2024-01-10 09:00:00", "false", "false"],
            ["006H", "Qualification", "2024-01-10 09:00:00", "2024-02-01 09:00:00", "false", "false"],
            ["006H", "Qualification", "2024-02-01 09:00:00", "2024-02-20 09:00:00", "false", "false"],
            ["006H", "Closed Lost", "2024-02-20 09:00:00", "9999-12-31 23:59:59", "true", "false"],
        ],
    )
    result = run_import("salesforce", src, "acme", tmp_path / "inbox", now=NOW)
    reasons = [r["reason"] for r in _report(result.report) if r["object"] == "opportunity"]
    assert reasons == ["an older version of the record (the sync tool's history)", ""]
    moves = [
        (e["occurred_at"][:10], e["event_name"], e["payload"].get("to"))
        for e in _events(result.files)
        if e["event_name"] in ("candidate.promoted", "pursuit.stage_changed")
    ]
    assert moves == [
        ("2024-01-10", "candidate.promoted", None),
        ("2024-02-20", "pursuit.stage_changed", "lost"),
    ]
