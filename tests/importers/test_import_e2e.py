"""A CRM export, imported and run, shows the same business facts as the CRM (the generator's truth):
outcomes, values, stage history, people, companies, notes. The same export again changes nothing; a
newer export of the same CRM adds only updates for what changed."""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from dagster_project.importers.fake import fake_export
from dagster_project.importers.run import run_import
from tests.shared_homes import copy_home, run_in_memory

pytestmark = pytest.mark.integration

VENDORS = ("salesforce", "hubspot")
NOW = datetime(2026, 11, 20, tzinfo=UTC)
AS_OF = "2026-11-20T00:00:00+00:00"
# What a newer export may add for a record that existed: its edits, its moves, its new notes.
UPDATE_EVENTS = {
    "client.updated",
    "contact.updated",
    "candidate.updated",
    "pursuit.updated",
    "signal.updated",
    "candidate.promoted",
    "pursuit.stage_changed",
    "memory.recorded",
    "config.changed",
}


def _age(folder: Path) -> None:
    """The inbox skips files modified in the last seconds; age them instead of sleeping."""
    for path in folder.iterdir():
        os.utime(path, (1_700_000_000, 1_700_000_000))


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _query(home: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(home / "serving.duckdb"), read_only=True)
    try:
        con.execute("SET TimeZone='UTC'")
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    root = tmp_path_factory.mktemp("crm")
    inbox, home = root / "inbox", root / "home"
    truths = {}
    for vendor in VENDORS:
        truths[vendor] = fake_export(root / vendor, vendor, rows=260, seed=3)
        run_import(vendor, root / vendor, f"org-{vendor}", inbox, now=NOW, retention="keep")
    _age(inbox)
    run_in_memory(home, inbox, as_of=AS_OF, now=AS_OF, tests=False)
    return root, inbox, home, truths


def _org(vendor: str) -> str:
    return f"org-{vendor}"


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_imported_record_is_accepted_and_no_rule_rejects_the_history(imported, vendor: str) -> None:
    _, _, home, _ = imported
    assert _query(home, "select count(*) from marts.quarantine") == [(0,)]
    outcomes = _query(
        home, "select distinct outcome from marts.rejected_events where org_id = ?", [_org(vendor)]
    )
    assert {o for (o,) in outcomes} <= {"warned"}


@pytest.mark.parametrize("vendor", VENDORS)
def test_deals_show_their_outcome_value_and_close_date(imported, vendor: str) -> None:
    _, _, home, truths = imported
    truth = truths[vendor].deals
    pursuits = {
        row[0]: row[1:]
        for row in _query(
            home,
            "select pursuit_id, stage, forecast_value_usd, cast(due_date as varchar) from marts.pursuits "
            "where org_id = ?",
            [_org(vendor)],
        )
    }
    candidates = dict(
        _query(home, "select candidate_id, status from marts.candidates where org_id = ?", [_org(vendor)])
    )
    for deal_id, deal in truth.items():
        if set(deal["path"]) == {"candidate"}:
            assert candidates[deal_id] == "triaged" and deal_id not in pursuits, deal_id
        else:
            assert pursuits[deal_id] == (deal["path"][-1], deal["amount"], deal["close_date"]), deal_id
    won_lost = Counter()
    for deal in truth.values():
        if deal["outcome"] in ("won", "lost"):
            won_lost[deal["outcome"], "n"] += 1
            won_lost[deal["outcome"], "usd"] += deal["amount"]
    mart = _query(
        home,
        "select outcome, sum(pursuits), sum(value_usd) from marts.win_loss where org_id = ? group by 1",
        [_org(vendor)],
    )
    assert {(o, "n"): n for o, n, _ in mart} | {(o, "usd"): v for o, _, v in mart} == dict(won_lost)


@pytest.mark.parametrize("vendor", VENDORS)
def test_stage_history_becomes_transitions_at_the_recorded_times(imported, vendor: str) -> None:
    _, _, home, truths = imported
    rows = _query(
        home,
        "select entity_id, to_state, occurred_at from marts.transitions where org_id = ? and entity_type = 'pursuit' "
        "order by entity_id, occurred_at, event_id",
        [_org(vendor)],
    )
    got: dict[str, list] = {}
    for entity, state, at in rows:
        got.setdefault(entity, []).append((state, at))
    for deal_id, deal in truths[vendor].deals.items():
        steps = [(t, datetime.fromisoformat(at)) for t, at in zip(deal["path"], deal["times"], strict=True)]
        steps = [s for s in steps if s[0] != "candidate"]
        if not steps:
            continue
        want = [("qual", steps[0][1])]
        for target, at in steps:
            if target != want[-1][0]:
                want.append((target, at))
        assert got[deal_id] == want, deal_id


@pytest.mark.parametrize("vendor", VENDORS)
def test_companies_become_clients_with_their_names_and_domains(imported, vendor: str) -> None:
    _, _, home, truths = imported
    clients = {
        cid: (name, domain)
        for cid, name, domain in _query(
            home, "select client_id, name, domain from marts.clients where org_id = ?", [_org(vendor)]
        )
    }
    want = {cid: (c["name"], c["domain"]) for cid, c in truths[vendor].companies.items()}
    assert {cid: clients.get(cid) for cid in want} == want


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_person_record_becomes_a_contact_with_its_email(imported, vendor: str) -> None:
    _, _, home, truths = imported
    emails = dict(
        _query(
            home,
            "select entity_id, json_extract_string(payload, '$.email') from marts.events where org_id = ? "
            "and event_name = 'contact.updated' "
            "and json_extract_string(payload, '$.email') is not null",
            [_org(vendor)],
        )
    )
    for person in truths[vendor].people:
        for source in person["ids"]:
            assert emails[source].strip().lower() == person["email"], source
    # CRM users are owners, never contacts.
    owners = {c["owner"] for c in truths[vendor].companies.values()}
    assert not owners & {e.strip().lower() for e in emails.values()}


@pytest.mark.parametrize("vendor", VENDORS)
def test_each_person_of_the_export_is_one_contact_however_many_records_they_have(
    imported, vendor: str
) -> None:
    _, _, home, truths = imported
    prefix = "sf-" if vendor == "salesforce" else "hs-contact-"
    links = dict(
        _query(
            home,
            "select source_id, canonical_id from marts.identity_links where org_id = ? and entity_type = 'contact'",
            [_org(vendor)],
        )
    )
    people = truths[vendor].people
    canonical = [{links.get(source.removeprefix(prefix)) for source in person["ids"]} for person in people]
    assert all(len(ids) == 1 and None not in ids for ids in canonical)
    assert len({next(iter(ids)) for ids in canonical}) == len(people)  # different people stay apart
    assert any(len(person["ids"]) > 1 for person in people)  # the planted duplicates were there


@pytest.mark.parametrize("vendor", VENDORS)
def test_notes_land_in_memory_on_the_deal_they_are_about(imported, vendor: str) -> None:
    _, _, home, truths = imported
    atoms = Counter(
        entity
        for (entity,) in _query(
            home,
            # Only the notes: the system also derives atoms from stage changes (`<event id>:won` …).
            "select entity_id from marts.memory_atoms where org_id = ? and atom_id in "
            "(select event_id from marts.events where event_name = 'memory.recorded')",
            [_org(vendor)],
        )
    )
    assert atoms == Counter(truths[vendor].notes.values())


@pytest.mark.parametrize("vendor", VENDORS)
def test_the_org_is_in_gate_warn_mode_for_the_imported_history_only(imported, vendor: str) -> None:
    _, _, home, _ = imported
    rows = _query(
        home,
        "select value, effective_from from marts.config_registry where org_id = ? and key = 'gate_mode' "
        "and source = 'override' order by effective_from",
        [_org(vendor)],
    )
    assert [value for value, _ in rows] == ['"warn"', '"enforce"']


def test_importing_the_same_export_again_changes_nothing_and_a_newer_one_adds_only_updates(
    imported, tmp_path
) -> None:
    # This test imports again and reruns: on a copy, so the module's home stays what the others read.
    root = copy_home(imported[0], tmp_path / "crm")
    inbox, home = root / "inbox", root / "home"
    before = _files(inbox)
    for vendor in VENDORS:
        run_import(vendor, root / vendor, _org(vendor), inbox, now=NOW, retention="keep")
    assert _files(inbox) == before  # the same names and bytes: the ingest has seen them all
    seen = {eid for (eid,) in _query(home, "select event_id from marts.events")}
    changed: set[str] = set()
    for vendor in VENDORS:
        newer = fake_export(root / f"{vendor}-v2", vendor, rows=260, seed=3, version=2)
        changed |= set(newer.changed)
        run_import(vendor, root / f"{vendor}-v2", _org(vendor), inbox, now=NOW, retention="keep")
    _age(inbox)
    run_in_memory(home, inbox, as_of=AS_OF, now=AS_OF, tests=False)
    assert _query(home, "select count(*) from marts.quarantine") == [(0,)]
    new = _query(home, "select event_id, event_name, entity_type, entity_id, org_id from marts.events")
    added = [row for row in new if row[0] not in seen]
    assert added, "a newer export with edits must add events"
    assert {name for _, name, *_ in added} <= UPDATE_EVENTS
    assert {entity for _, _, etype, entity, org in added if etype != "org"} <= changed
    renamed = {c for c in changed if c.startswith(("sf-001", "hs-company-"))}
    names = dict(_query(home, "select client_id, name from marts.clients"))
    assert renamed and all(names[c].endswith(" Group") for c in renamed)
