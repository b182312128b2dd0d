"""The CRMs' users (Salesforce `User`, HubSpot `owner`) become `user.updated` events keyed by the very
owner value the imported records carry, so pages can show each owner's name; never contacts."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from dagster_project.importers.run import run_import

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "crm"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
USER_OBJECT = {"salesforce": "user", "hubspot": "owner"}
USER_FILE = {"salesforce": "sf_user_data.csv", "hubspot": "owner_data.csv"}


def _import(vendor: str, tmp_path: Path) -> tuple[list[dict], list[dict]]:
    result = run_import(vendor, FIXTURES / vendor, "acme", tmp_path / "inbox", now=NOW)
    events = [orjson.loads(line) for p in result.files for line in p.read_bytes().splitlines()]
    with result.report.open(newline="", encoding="utf-8") as handle:
        return events, list(csv.DictReader(handle))


def _fixture_users(vendor: str) -> list[dict[str, str]]:
    with (FIXTURES / vendor / USER_FILE[vendor]).open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("vendor", ["salesforce", "hubspot"])
def test_each_mapped_crm_user_becomes_one_user_event_counted_in_the_report(
    vendor: str, tmp_path: Path
) -> None:
    events, report = _import(vendor, tmp_path)
    users = [e for e in events if e["event_name"] == "user.updated"]
    mapped = {
        r["source_id"] for r in report if r["object"] == USER_OBJECT[vendor] and r["outcome"] == "mapped"
    }
    assert mapped and {u["payload"]["source_id"] for u in users} == mapped
    assert len(users) == len(mapped)
    assert {u["entity_type"] for u in users} == {"user"}
    assert all(u["payload"]["source_system"] == vendor for u in users)
    # CRM users are owners and actors, never people the team sells to.
    contacts = {e["entity_id"] for e in events if e["entity_type"] == "contact"}
    assert not contacts & {u["entity_id"] for u in users}


@pytest.mark.parametrize("vendor", ["salesforce", "hubspot"])
def test_the_user_event_is_keyed_by_the_owner_the_records_carry_and_names_them(
    vendor: str, tmp_path: Path
) -> None:
    events, report = _import(vendor, tmp_path)
    mapped = {
        r["source_id"] for r in report if r["object"] == USER_OBJECT[vendor] and r["outcome"] == "mapped"
    }
    users = {e["entity_id"]: e["payload"] for e in events if e["event_name"] == "user.updated"}
    owners = {
        e["payload"]["owner"] for e in events if e["payload"].get("owner") and e["entity_type"] != "user"
    }
    # An owner the export has a user row for is named; one it has none for keeps the CRM id (`sf-…`,
    # `hs-owner-…`), which pages show as it is (the Salesforce seed's records name no user it has).
    assert owners & set(users) or vendor == "salesforce"
    assert all(o.startswith(("sf-", "hs-owner-")) for o in owners - set(users))
    for row in _fixture_users(vendor):
        source_id = row.get("id") or row["owner_id"]
        if source_id not in mapped:  # deleted in the CRM: reported as skipped, no event
            continue
        (user,) = [u for u in users.values() if u["source_id"] == source_id]
        if row.get("name"):  # Salesforce's full name (the HubSpot seed's names are anonymised blanks)
            assert user["name"] == row["name"]
        assert user.get("email") == (row["email"] or None)


def test_the_user_events_come_before_the_records_they_own(tmp_path: Path) -> None:
    events, _ = _import("salesforce", tmp_path)
    first_user = min(e["occurred_at"] for e in events if e["event_name"] == "user.updated")
    assert first_user <= min(e["occurred_at"] for e in events if e["event_name"] != "user.updated")
