"""Identity resolution: deterministic rules, the probabilistic model above an org's minimum, explicit
merges and splits over both, per org only, and the same rows for the same records in any order."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import duckdb
import orjson
import polars as pl
import pytest

from dagster_project.apply.batch import apply_batch
from dagster_project.identity import model
from dagster_project.identity.resolve import resolve_clients, resolve_people
from dagster_project.identity.store import resolve_identities
from dagster_project.identity.synthetic import FIRST_NAMES, LAST_NAMES
from dagster_project.warehouse.store import ensure_raw_schema
from tests.lifecycle.timeline import ev, log_events

T0 = datetime(2026, 3, 2, tzinfo=UTC)
NOW = datetime(2030, 1, 1, tzinfo=UTC)


def person(record_id: str, record_type: str = "contact", **fields) -> dict:
    return {
        "record_type": record_type,
        "record_id": record_id,
        "erased_at": None,
        "source_system": None,
        "source_id": None,
        **fields,
    }


def decision(n: int, entity_id: str, other: str, what: str, entity_type: str = "contact") -> dict:
    return {
        "entity_type": entity_type,
        "entity_id": entity_id,
        "other_id": other,
        "decision": what,
        "event_id": f"d{n}",
        "occurred_at": T0 + timedelta(minutes=n),
    }


def groups(result) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for link in result.links.iter_rows(named=True):
        out.setdefault(link["canonical_id"], set()).add(link["record_id"])
    return out


def people(records, decisions=(), *, min_records=1000, threshold=0.95):
    return resolve_people(
        "acme", records, list(decisions), region="US", min_records=min_records, threshold=threshold
    )


def test_two_signals_from_one_address_spelled_differently_are_one_person():
    records = [
        person("s1", "signal", email="Ana.Lima@Example.org"),
        person("s2", "signal", email="ana.lima@example.org "),
        person("s3", "signal", email="ana.lima+web@example.org"),
    ]
    result = people(records)
    assert groups(result) == {"signal:s1": {"s1", "s2", "s3"}}
    assert dict(result.links.select("record_id", "match_rule").rows()) == {
        "s1": "canonical",
        "s2": "email",
        "s3": "email",
    }


def test_a_contact_gives_the_person_its_id_and_its_source_record():
    records = [
        person("s9", "signal", email="ana@example.org"),
        person("sf-003A", email="ANA@example.org", source_system="salesforce", source_id="003A"),
    ]
    links = {link["record_id"]: link for link in people(records).links.to_dicts()}
    assert {link["canonical_id"] for link in links.values()} == {"sf-003A"}
    assert (links["sf-003A"]["source_system"], links["sf-003A"]["source_id"]) == ("salesforce", "003A")
    assert (links["s9"]["source_system"], links["s9"]["source_id"]) == ("signal", "s9")


def test_the_same_phone_links_only_with_the_same_last_name():
    records = [
        person("c1", name="Ana Lima", phone="(415) 555-0100"),
        person("c2", name="A. Lima", phone="+1 415 555 0100"),
        person("c3", name="Bo Stone", phone="415-555-0100"),  # a shared switchboard, another person
    ]
    assert groups(people(records)) == {"c1": {"c1", "c2"}, "c3": {"c3"}}


def test_clients_with_one_registrable_domain_are_one_company():
    clients = [
        {"client_id": "cl1", "domain": "https://www.example.org/about"},
        {"client_id": "cl2", "domain": "sales.example.org"},
        {"client_id": "cl3", "domain": "example.com"},
        {"client_id": "cl4", "domain": None},
    ]
    assert groups(resolve_clients("acme", clients, [])) == {
        "cl1": {"cl1", "cl2"},
        "cl3": {"cl3"},
        "cl4": {"cl4"},
    }


def test_a_split_overrides_a_rule_and_a_merge_joins_what_no_rule_would():
    records = [
        person("c1", email="ana@example.org"),
        person("c2", email="ana@example.org"),
        person("c3", name="Ana Lima"),
    ]
    decisions = [decision(1, "c2", "c1", "split"), decision(2, "c3", "c1", "merged")]
    result = people(records, decisions)
    assert groups(result) == {"c1": {"c1", "c3"}, "c2": {"c2"}}
    assert dict(result.links.select("record_id", "match_rule").rows())["c3"] == "merged"


def test_the_latest_decision_on_a_pair_wins():
    records = [person("c1", name="Ana"), person("c2", name="Bo")]
    merged_then_split = [decision(1, "c2", "c1", "merged"), decision(2, "c1", "c2", "split")]
    split_then_merged = [decision(1, "c2", "c1", "split"), decision(2, "c2", "c1", "merged")]
    assert groups(people(records, merged_then_split)) == {"c1": {"c1"}, "c2": {"c2"}}
    assert groups(people(records, split_then_merged)) == {"c1": {"c1", "c2"}}


def _near_twins(n: int) -> list[dict]:
    """n people, each twice: once as a contact, once as a signal with a typo in the email's local part."""
    records = []
    for i in range(n):
        f, la = FIRST_NAMES[i], LAST_NAMES[i]
        email = f"{f}.{la}@acme{i % 7}.example"
        records.append(person(f"c{i:03d}", name=f"{f.title()} {la.title()}", email=email))
        records.append(person(f"s{i:03d}", "signal", name=f"{f} {la}", email=email.replace("@", "x@")))
    return records


def test_below_the_minimum_only_the_deterministic_rules_run():
    records = _near_twins(30)  # 60 records, no two share an email
    result = people(records, min_records=61)
    assert len(groups(result)) == 60 and result.pairs.is_empty()


def test_above_the_minimum_the_model_links_near_twins_and_explains_each_pair():
    records = _near_twins(30)
    result = people(records, min_records=60)
    assert len(groups(result)) == 30
    rules = set(result.links.filter(pl.col("record_type") == "signal")["match_rule"])
    assert rules == {"probabilistic"}
    pair = next(p for p in result.pairs.to_dicts() if p["left_id"] == "contact:c000")
    explanation = orjson.loads(pair["explanation"])
    assert explanation["name"]["level"] == "exact" and explanation["email"]["level"] == "similar_local_part"
    assert pair["model_version"] == model.MODEL_VERSION and not pair["model_version"][:4].isdigit()
    assert pair["match_probability"] == round(pair["match_probability"], 6)


def test_a_pair_below_the_threshold_waits_for_a_decision():
    records = _near_twins(30)
    result = people(records, min_records=60, threshold=0.999999)
    kinds = set(result.conflicts["kind"])
    assert kinds == {"possible_match"}
    decided = people(records, [decision(1, "c000", "c001", "split")], min_records=60, threshold=0.999999)
    assert (
        decided.conflicts.height == result.conflicts.height
    )  # a decision on another pair settles nothing here


def test_one_email_on_two_clients_is_a_conflict():
    records = [
        person("c1", email="ana@example.org", client_id="cl1"),
        person("c2", email="ana@example.org", client_id="cl2"),
    ]
    records.append(person("c3", name="Bo", email="bo@example.org", client_id="cl1"))
    records.append(person("c4", name="Bo", email="bo@example.org", client_id="cl2"))
    conflicts = people(records).conflicts
    assert [(c["kind"], c["left_id"], c["right_id"]) for c in conflicts.to_dicts()] == [
        ("email_on_two_clients", "cl1", "cl2")
    ]


def test_the_same_records_in_any_order_give_identical_rows():
    records = _near_twins(30)
    shuffled = records[:]
    random.Random(3).shuffle(shuffled)
    a, b = people(records, min_records=60), people(shuffled, min_records=60)
    assert all(getattr(a, t).equals(getattr(b, t)) for t in ("links", "pairs", "conflicts"))


def _warehouse(events: list[dict]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    ensure_raw_schema(con)
    log_events(con, events)
    apply_batch(con, [(e["org_id"], e["event_id"]) for e in events], as_of=NOW, now=NOW)
    return con


def _two_orgs() -> duckdb.DuckDBPyConnection:
    """A warehouse where acme holds one address twice (spelled two ways) and globex holds it once."""
    return _warehouse(
        [
            ev("a1", "contact.updated", "c1", 0, {"email": "ana@example.org"}, org="acme"),
            ev("a2", "contact.updated", "c2", 1, {"email": "ANA@example.org"}, org="acme"),
            ev("g1", "contact.updated", "c9", 2, {"email": "ana@example.org"}, org="globex"),
        ]
    )


def test_matching_never_crosses_orgs_and_an_unchanged_org_is_not_resolved_again():
    con = _two_orgs()
    assert resolve_identities(con).orgs_resolved == ["acme", "globex"]
    rows = con.execute("select org_id, canonical_id, record_id from identity.links order by all").fetchall()
    assert rows == [("acme", "c1", "c1"), ("acme", "c1", "c2"), ("globex", "c9", "c9")]
    assert resolve_identities(con).orgs_resolved == []


def test_a_changed_field_of_one_orgs_record_resolves_that_org_again_and_no_other():
    """The fingerprint follows every field of the records, not only which records there are."""
    con = _two_orgs()
    resolve_identities(con)
    moved = [ev("a3", "contact.updated", "c2", 3, {"email": "bo@example.org"}, org="acme")]
    log_events(con, moved)
    apply_batch(con, [("acme", "a3")], as_of=NOW, now=NOW)
    assert resolve_identities(con).orgs_resolved == ["acme"]
    rows = con.execute("select org_id, canonical_id, record_id from identity.links order by all").fetchall()
    assert rows == [("acme", "c1", "c1"), ("acme", "c2", "c2"), ("globex", "c9", "c9")]


def test_each_org_is_written_as_it_is_resolved_so_a_failure_leaves_only_the_rest_to_redo(monkeypatch):
    """Orgs are resolved and written one at a time (holding every org's rows grew with the history):
    a failure in the second org leaves the first written with its fingerprint, and the next run
    resolves only the second."""
    from dagster_project.identity import store

    events = [
        ev("a1", "contact.updated", "c1", 0, {"email": "ana@example.org"}, org="acme"),
        ev("g1", "contact.updated", "c9", 2, {"email": "ana@example.org"}, org="globex"),
    ]
    con = _warehouse(events)
    real = store.resolve_org

    def failing(con, org_id):
        if org_id == "globex":
            raise RuntimeError("globex fails")
        return real(con, org_id)

    monkeypatch.setattr(store, "resolve_org", failing)
    with pytest.raises(RuntimeError):
        resolve_identities(con)
    assert con.execute("select org_id from identity.org_state").fetchall() == [("acme",)]
    assert con.execute("select distinct org_id from identity.links").fetchall() == [("acme",)]
    monkeypatch.undo()
    assert resolve_identities(con).orgs_resolved == ["globex"]


def test_the_features_parse_each_distinct_phone_and_domain_once_with_the_same_values(monkeypatch):
    """An import's records repeat a few switchboards and domains: parsing each record's was most of the
    feature step. The features are those of parsing every record."""
    from dagster_project.identity import resolve

    records = [
        person(
            f"c{i}",
            name=f"{FIRST_NAMES[i % 7]} {LAST_NAMES[i % 5]}",
            email=f"p{i}@acme.example" if i % 3 else None,
            phone=["(415) 555-0100", "+44 20 7946 0958", "555-0142", None][i % 4],
            company_domain=["www.acme.example", "shop.globex.co.uk", None][i % 3],
        )
        for i in range(60)
    ]
    by_node = {resolve.node("contact", r["record_id"]): r for r in records}
    calls = {"phone": 0, "domain": 0}
    real_phone, real_domain = resolve.canonical_phone, resolve.registrable_domain

    def counted_phone(value, region):
        calls["phone"] += 1
        return real_phone(value, region)

    def counted_domain(value):
        calls["domain"] += 1
        return real_domain(value)

    monkeypatch.setattr(resolve, "canonical_phone", counted_phone)
    monkeypatch.setattr(resolve, "registrable_domain", counted_domain)
    features = resolve.person_features(records, "US")
    assert calls == {"phone": 4, "domain": 3}
    for row in features.iter_rows(named=True):
        record = by_node[row["unique_id"]]
        assert row["phone"] == real_phone(record["phone"], "US")
        email_domain = record["email"].split("@")[1] if record["email"] else None
        assert row["company"] == (real_domain(record["company_domain"]) or email_domain)
    assert features["phone"].n_unique() == 3  # two complete numbers, and none for the rest
