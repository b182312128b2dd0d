"""`lib/queries/` and `lib/db.py` against fixture snapshots, outside any Streamlit page.

Tenancy is checked at the query level too: every org-scoped function returns only the given org's
rows, and hostile-looking org strings are plain values that match nothing.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import duckdb
import polars as pl
import pytest
from snapshot_fixture import (
    ACME_UNATTRIBUTED_RAW,
    FUNNEL_PAIRS,
    ORG_A,
    ORG_A_LIFECYCLE_ONLY,
    ORG_A_MEMORY_ONLY,
    ORG_A_ONLY,
    ORG_A_WORK_ONLY,
    ORG_B,
    ORG_B_LIFECYCLE_ONLY,
    ORG_B_MEMORY_ONLY,
    ORG_B_ONLY,
    ORG_B_WORK_ONLY,
    SHARED_ATOM_ID,
    SHARED_ENTITY_ID,
    SHARED_FILE,
    UNREADABLE_FILE,
    build_snapshot,
    expected,
    memory_atoms,
)

from streamlit_app.lib import db, settings
from streamlit_app.lib.queries import common as common_queries
from streamlit_app.lib.queries import gates as gates_queries
from streamlit_app.lib.queries import memory as memory_queries
from streamlit_app.lib.queries import outbox as outbox_queries
from streamlit_app.lib.queries import overview as overview_queries
from streamlit_app.lib.queries import periods as period_queries
from streamlit_app.lib.queries import pipeline as pipeline_queries
from streamlit_app.lib.queries import sla as sla_queries
from streamlit_app.lib.queries import snapshot as snapshot_queries
from streamlit_app.lib.queries import today as today_queries

FAR_PAST, FAR_FUTURE = dt.date(2000, 1, 1), dt.date(2100, 1, 1)
SINCE, UNTIL = (dt.datetime.combine(d, dt.time(), tzinfo=dt.UTC) for d in (FAR_PAST, FAR_FUTURE))
# Period questions that answer with a zero-filled row per pair or gate even for an org with no rows.
ZERO_FILLED = ("period_funnel_pairs", "period_gate_attempts")
HOSTILE_ORGS = (
    "acme' OR '1'='1",
    "acme'; DROP TABLE marts.quarantine; --",
    "%",
    "*",
    "ACME",
)


@pytest.fixture
def snap(snapshot_home: Path) -> snapshot_queries.Snapshot:
    snapshot = snapshot_queries.current_snapshot()
    assert snapshot is not None
    return snapshot


def _org_scoped_results(snap: snapshot_queries.Snapshot, org: str) -> dict[str, object]:
    p, v = snap.path, snap.version
    return {
        "volume_options": overview_queries.volume_options(p, v, org),
        "volume_kpis": overview_queries.volume_kpis(p, v, org, FAR_PAST, FAR_FUTURE, ()),
        "volume_over_time": overview_queries.volume_over_time(p, v, org, FAR_PAST, FAR_FUTURE, (), "week"),
        "volume_by_event_name": overview_queries.volume_by_event_name(p, v, org, FAR_PAST, FAR_FUTURE, ()),
        "funnel_velocity": pipeline_queries.funnel_velocity(p, v, org),
        "ledger_totals": overview_queries.ledger_totals(p, v, org),
        "ingest_ledger": overview_queries.ingest_ledger(p, v, org),
        "quarantine_by_reason": overview_queries.quarantine_by_reason(p, v, org),
        "quarantine_examples": overview_queries.quarantine_examples(p, v, org, "bad_json"),
        "unattributed_files": overview_queries.unattributed_files(p, v, org),
        "unattributed_examples": overview_queries.unattributed_examples(p, v, org),
        "pipeline_options": pipeline_queries.pipeline_options(p, v, org),
        "pipeline_counts": pipeline_queries.pipeline_counts(p, v, org),
        "pipeline_entities": pipeline_queries.pipeline_entities(p, v, org),
        "entity_timeline": pipeline_queries.entity_timeline(p, v, org, "pursuit", SHARED_ENTITY_ID),
        "gate_pass_rates": gates_queries.gate_pass_rates(p, v, org),
        "gate_rejections": gates_queries.gate_rejections(p, v, org),
        "win_loss": pipeline_queries.win_loss(p, v, org),
        "outbox_health": outbox_queries.outbox_health(p, v, org),
        "dead_letters": outbox_queries.dead_letters(p, v, org),
        "today_options": today_queries.today_options(p, v, org),
        "today_summary": today_queries.today_summary(p, v, org),
        "today_items": today_queries.today_items(p, v, org),
        "owner_workload": today_queries.owner_workload(p, v, org),
        "sla_compliance_summary": sla_queries.sla_compliance_summary(p, v, org),
        "sla_compliance_weekly": sla_queries.sla_compliance_weekly(p, v, org),
        "sla_open_breaches": sla_queries.sla_open_breaches(p, v, org),
        "recent_alerts": sla_queries.recent_alerts(p, v, org, snap.token),
        "pipeline_health": pipeline_queries.pipeline_health(p, v, org),
        "win_rate_monthly": pipeline_queries.win_rate_monthly(p, v, org),
        "memory_entities": memory_queries.memory_entities(p, v, org),
        "memory_card": memory_queries.memory_card(p, v, org, "pursuit", SHARED_ENTITY_ID),
        "memory_timeline": memory_queries.memory_timeline(p, v, org, "pursuit", SHARED_ENTITY_ID),
        "memory_atom_states": memory_queries.memory_atom_states(p, v, org, (SHARED_ATOM_ID, "m-a1", "m-g1")),
        "memory_search": memory_queries.memory_search(p, v, org, "pricing decision"),
        "period_funnel_pairs": period_queries.funnel_pairs(p, v, org, SINCE, UNTIL),
        "period_sla_clocks": period_queries.sla_clocks(p, v, org, SINCE, UNTIL),
        "period_closes": period_queries.closes(p, v, org, SINCE, UNTIL),
        "period_win_loss": period_queries.win_loss(p, v, org, SINCE, UNTIL),
        "period_new_pursuits": period_queries.new_pursuits(p, v, org, SINCE, UNTIL),
        "period_owned_work": period_queries.owned_work(p, v, org, SINCE, UNTIL),
        "period_gate_attempts": period_queries.gate_attempts(p, v, org, SINCE, UNTIL),
    }


def test_settings_default_and_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("WORKSTREAM_HOME", raising=False)
    assert settings.snapshot_path() == (Path("data/home") / "serving.duckdb").resolve()
    monkeypatch.setenv("WORKSTREAM_HOME", str(tmp_path))
    assert settings.snapshot_path() == tmp_path.resolve() / "serving.duckdb"


def test_snapshot_info(snap: snapshot_queries.Snapshot) -> None:
    assert snap.version == "20240510T000000Z-test"
    assert snap.built_at == dt.datetime(2024, 5, 10, tzinfo=dt.UTC)
    assert snap.events == expected(ORG_A).events + expected(ORG_B).events


def test_org_list_is_the_union_of_volume_and_ledger(snap: snapshot_queries.Snapshot) -> None:
    assert snapshot_queries.org_ids(snap.path, snap.version, None) == [ORG_A, ORG_B]


def test_a_users_org_list_is_read_through_their_scope(snap: snapshot_queries.Snapshot) -> None:
    assert snapshot_queries.org_ids(snap.path, snap.version, (ORG_B, "not-in-snapshot")) == [ORG_B]
    assert snapshot_queries.org_ids(snap.path, snap.version, ()) == []


@pytest.mark.parametrize("org", [None, "", ("acme",)])
def test_the_dashboards_reader_refuses_a_read_without_its_org(snap: snapshot_queries.Snapshot, org) -> None:
    with pytest.raises(db.UnscopedRead):
        db.fetch(snap.path, "SELECT count(*) AS n FROM marts.quarantine", org=org)
    with pytest.raises(db.UnscopedRead):
        db.run(snap.path, lambda con: con.execute("SELECT 1").fetchall(), org=org)
    with pytest.raises(TypeError):
        db.fetch(snap.path, "SELECT count(*) AS n FROM marts.quarantine")  # no org at all


def test_a_scoped_read_sees_only_its_org_even_without_a_filter(snap: snapshot_queries.Snapshot) -> None:
    seen = db.fetch(snap.path, "SELECT DISTINCT org_id FROM marts.event_volume_daily", org=ORG_B)
    assert seen["org_id"].to_list() == [ORG_B]


def test_volume_numbers(snap: snapshot_queries.Snapshot) -> None:
    for org in (ORG_A, ORG_B):
        want = expected(org)
        kpis = overview_queries.volume_kpis(snap.path, snap.version, org, FAR_PAST, FAR_FUTURE, ())
        assert kpis["events"] == want.events
        assert kpis["event_types"] == want.event_types
        assert (kpis["first_date"], kpis["last_date"]) == (want.first_date, want.last_date)
        daily = overview_queries.volume_over_time(
            snap.path, snap.version, org, FAR_PAST, FAR_FUTURE, (), "day"
        )
        weekly = overview_queries.volume_over_time(
            snap.path, snap.version, org, FAR_PAST, FAR_FUTURE, (), "week"
        )
        assert daily["events"].sum() == weekly["events"].sum() == want.events
        assert all(d.weekday() == 0 for d in weekly["period"])


def test_every_query_returns_only_the_given_org(snap: snapshot_queries.Snapshot) -> None:
    for org, foreign in (
        (ORG_A, (*ORG_B_ONLY, *ORG_B_LIFECYCLE_ONLY, *ORG_B_WORK_ONLY, *ORG_B_MEMORY_ONLY)),
        (ORG_B, (*ORG_A_ONLY, *ORG_A_LIFECYCLE_ONLY, *ORG_A_WORK_ONLY, *ORG_A_MEMORY_ONLY)),
    ):
        for name, result in _org_scoped_results(snap, org).items():
            text = repr(result.rows()) if isinstance(result, pl.DataFrame) else repr(result)
            for needle in (*foreign, UNREADABLE_FILE):
                assert needle not in text, f"{name} for {org} returned {needle!r}"
    funnel = pipeline_queries.funnel_velocity(snap.path, snap.version, ORG_A)
    assert funnel["pair_order"].to_list() == list(range(1, 11))


def test_over_all_the_data_the_period_questions_give_the_published_marts_numbers(
    snap: snapshot_queries.Snapshot,
) -> None:
    p, v = snap.path, snap.version
    for org in (ORG_A, ORG_B):
        funnel = pipeline_queries.funnel_velocity(p, v, org)
        for row in period_queries.funnel_pairs(p, v, org, SINCE, UNTIL).iter_rows(named=True):
            mart = funnel.filter(
                (pl.col("from_stage") == row["from_stage"]) & (pl.col("to_stage") == row["to_stage"])
            )
            assert (row["entered"], row["converted"]) == (mart["entered"][0], mart["converted"][0]), row
        summary = sla_queries.sla_compliance_summary(p, v, org).filter(pl.col("eligible_items") > 0)
        clocks = period_queries.sla_clocks(p, v, org, SINCE, UNTIL)
        assert clocks.select("metric", "eligible_items", "breached_items", "compliance_pct").sort(
            "metric"
        ).rows() == (
            summary.select("metric", "eligible_items", "breached_items", "compliance_pct")
            .sort("metric")
            .rows()
        )
        gates = gates_queries.gate_pass_rates(p, v, org)
        assert period_queries.gate_attempts(p, v, org, SINCE, UNTIL).select(
            "gate", "attempts", "passed"
        ).rows() == (gates.select("gate", "attempts", "passed").sort("gate").rows())
        won_lost = pipeline_queries.win_loss(p, v, org)
        closes = period_queries.closes(p, v, org, SINCE, UNTIL)
        assert closes["closed"] == won_lost["pursuits"].sum()
        assert (
            period_queries.win_loss(p, v, org, SINCE, UNTIL)
            .select("outcome", "reason_code", "pursuits")
            .sort("outcome", "reason_code")
            .rows()
            == won_lost.select("outcome", "reason_code", "pursuits").sort("outcome", "reason_code").rows()
        )


@pytest.mark.parametrize("org", HOSTILE_ORGS)
def test_injection_looking_org_strings_match_nothing(snap: snapshot_queries.Snapshot, org: str) -> None:
    for name, result in _org_scoped_results(snap, org).items():
        if name in ZERO_FILLED:
            assert isinstance(result, pl.DataFrame)
            counts = [c for c in ("entered", "converted", "attempts", "passed") if c in result.columns]
            assert counts and all(result[c].sum() == 0 for c in counts), name
        elif isinstance(result, pl.DataFrame):
            assert result.is_empty(), name
        elif name == "volume_options":
            assert result["first_date"] is None and result["event_names"] == []
        elif name == "volume_kpis":
            assert result["events"] == 0
        elif name == "pipeline_options":
            assert result["owners"] == [] and not any(result["states"].values())
        elif name == "today_options":
            assert not any(result.values())
        elif name in ("outbox_health", "memory_card"):
            assert result is None, name
        elif name == "period_closes":
            assert result["closed"] == 0 and result["win_rate"] is None
        else:
            assert all(v == 0 for v in result.values()), name
    # The snapshot is untouched (and read-only anyway).
    assert overview_queries.quarantine_by_reason(snap.path, snap.version, ORG_A)["records"].sum() == 3


@pytest.mark.parametrize("org", ["", "acme\x00", "acme\n"])
def test_an_empty_org_or_one_with_control_characters_is_refused_rather_than_read(
    snap: snapshot_queries.Snapshot, org: str
) -> None:
    with pytest.raises(db.UnscopedRead):
        _org_scoped_results(snap, org)


def test_hostile_event_name_filter_matches_nothing(snap: snapshot_queries.Snapshot) -> None:
    kpis = overview_queries.volume_kpis(
        snap.path, snap.version, ORG_A, FAR_PAST, FAR_FUTURE, ("x' OR 1=1 --", "signal.created")
    )
    assert kpis["events"] == 12 + 9 + 15 + 7 + 11


def test_unattributed_scoping(snap: snapshot_queries.Snapshot) -> None:
    acme = overview_queries.unattributed_examples(snap.path, snap.version, ORG_A)
    by_file = {row["file"]: row for row in acme.iter_rows(named=True)}
    assert set(by_file) == {ORG_A_ONLY[0], SHARED_FILE}
    assert by_file[ORG_A_ONLY[0]]["raw"] == ACME_UNATTRIBUTED_RAW
    assert by_file[SHARED_FILE]["raw"] == by_file[SHARED_FILE]["detail"] == overview_queries.WITHHELD
    globex = overview_queries.unattributed_examples(snap.path, snap.version, ORG_B)
    assert globex["file"].to_list() == [SHARED_FILE]
    files = overview_queries.unattributed_files(snap.path, snap.version, ORG_A)
    assert dict(zip(files["file"], files["other_orgs"], strict=True)) == {ORG_A_ONLY[0]: 0, SHARED_FILE: 1}


def test_raw_previews_are_truncated(snap: snapshot_queries.Snapshot) -> None:
    examples = overview_queries.quarantine_examples(snap.path, snap.version, ORG_A, "bad_json")
    long_one = examples.filter(pl.col("line") == 9)["raw"].item()
    assert len(long_one) == overview_queries.RAW_PREVIEW_CHARS + 1 and long_one.endswith("…")


def test_missing_snapshot(home: Path) -> None:
    assert snapshot_queries.current_snapshot() is None
    with pytest.raises(db.SnapshotMissing):
        db.fetch(home / "serving.duckdb", "SELECT 1", org=ORG_A)


def test_unreadable_file_is_retried_then_reported(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "RETRY_DELAYS_S", (0.0, 0.0))
    path = home / "serving.duckdb"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(db.SnapshotUnavailable):
        db.fetch(path, "SELECT 1", org=ORG_A)


def test_new_publish_changes_version_and_results(home: Path) -> None:
    path = home / "serving.duckdb"
    build_snapshot(path, version="v1")
    first = snapshot_queries.current_snapshot()
    assert snapshot_queries.org_ids(first.path, first.version, None) == [ORG_A, ORG_B]
    build_snapshot(path, empty=True, version="v2")
    second = snapshot_queries.current_snapshot()
    assert (first.version, second.version) == ("v1", "v2")
    assert snapshot_queries.org_ids(second.path, second.version, None) == []


def test_reads_survive_the_snapshot_being_replaced(home: Path) -> None:
    path = home / "serving.duckdb"
    build_snapshot(path)
    stop = threading.Event()
    errors: list[BaseException] = []

    def republish() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                build_snapshot(path, version=f"v{n}")
            except BaseException as exc:  # pragma: no cover - surfaced below
                errors.append(exc)
                return

    writer = threading.Thread(target=republish, daemon=True)
    writer.start()
    try:
        for _ in range(20):
            count = db.fetch(path, "SELECT count(*) AS n FROM marts.funnel_velocity", org=ORG_A)["n"].item()
            assert count == len(FUNNEL_PAIRS)
    finally:
        stop.set()
        writer.join(timeout=10)
    assert not errors


# ------------------------------------------------------------------------------ lifecycle and outbox


def test_pipeline_counts_per_org_and_filters(snap: snapshot_queries.Snapshot) -> None:
    p, v = snap.path, snap.version
    acme = pipeline_queries.pipeline_counts(p, v, ORG_A, scope="all")
    per_type = dict(acme.group_by("entity_type").agg(pl.col("entities").sum()).iter_rows())
    assert per_type == {"signal": 4, "candidate": 3, "pursuit": 4}
    # Rows come in entity-type, then lifecycle-state order; the unassigned owner sorts last in a state.
    assert acme["entity_type"].to_list()[:4] == ["signal"] * 4
    assert acme.filter(pl.col("entity_type") == "pursuit")["state"].to_list() == [
        "red",
        "won",
        "lost",
        "lost",
    ]
    assert acme.filter(pl.col("state") == "lost")["owner"].to_list() == [
        "Bob Baker",
        common_queries.UNASSIGNED,
    ]
    globex = pipeline_queries.pipeline_counts(p, v, ORG_B, scope="all")
    assert int(globex["entities"].sum()) == 6

    unassigned = pipeline_queries.pipeline_counts(p, v, ORG_A, (), (common_queries.UNASSIGNED,), (), "all")
    assert int(unassigned["entities"].sum()) == 3
    lost_pursuits = pipeline_queries.pipeline_counts(p, v, ORG_A, ("pursuit",), (), ("lost",), "closed")
    assert int(lost_pursuits["entities"].sum()) == 2
    assert pipeline_queries.pipeline_counts(p, v, ORG_A, ("signal",), (), ("won",), "all").is_empty()

    options = pipeline_queries.pipeline_options(p, v, ORG_A)
    assert options["owners"] == ["alice@acme", "bob@acme", common_queries.UNASSIGNED]
    assert options["states"] == {
        "signal": ["open", "touched", "linked", "dismissed"],
        "candidate": ["new", "triaged", "promoted"],
        "pursuit": ["red", "won", "lost"],
    }


def test_pipeline_counts_and_values_are_of_open_items_unless_closed_ones_are_asked_for(
    snap: snapshot_queries.Snapshot,
) -> None:
    p, v = snap.path, snap.version
    open_now = pipeline_queries.pipeline_counts(p, v, ORG_A)
    # acme's open ones: signals open and touched, candidates new and triaged, pursuit p-100 in red.
    per_type = dict(open_now.group_by("entity_type").agg(pl.col("entities").sum()).iter_rows())
    assert per_type == {"signal": 2, "candidate": 2, "pursuit": 1}
    assert set(open_now["state"]) == {"open", "touched", "new", "triaged", "red"}
    # The open value is the open pursuit's forecast, not the won and lost ones' as well.
    assert open_now["value_usd"].sum() == 400_000.0

    closed = pipeline_queries.pipeline_counts(p, v, ORG_A, scope="closed")
    per_type = dict(closed.group_by("entity_type").agg(pl.col("entities").sum()).iter_rows())
    assert per_type == {"signal": 2, "candidate": 1, "pursuit": 3}
    assert set(closed["state"]) == {"linked", "dismissed", "promoted", "won", "lost"}
    assert closed["value_usd"].sum() == 370_000.0

    entities = pipeline_queries.pipeline_entities(p, v, ORG_A)
    assert sorted(entities["entity_id"]) == sorted(
        ["sig-a1", "sig-a2", "cand-a2", "cand-a3", SHARED_ENTITY_ID]
    )
    # A closed state picked under the open scope matches nothing rather than mixing the two.
    assert pipeline_queries.pipeline_counts(p, v, ORG_A, (), (), ("won",)).is_empty()


def test_a_pursuit_with_an_outcome_is_closed_whatever_its_stage(snap: snapshot_queries.Snapshot) -> None:
    with duckdb.connect(snap.path) as con:
        con.execute(
            "UPDATE marts.pursuits SET outcome = 'lost' WHERE org_id = ? AND pursuit_id = ?",
            [ORG_A, SHARED_ENTITY_ID],
        )
    counts = pipeline_queries.pipeline_counts(snap.path, "outcome-set", ORG_A, ("pursuit",))
    assert counts.is_empty()
    closed = pipeline_queries.pipeline_counts(snap.path, "outcome-set", ORG_A, ("pursuit",), scope="closed")
    assert int(closed["entities"].sum()) == 4


def test_an_unknown_pipeline_scope_is_refused(snap: snapshot_queries.Snapshot) -> None:
    with pytest.raises(ValueError, match="scope must be one of"):
        pipeline_queries.pipeline_counts(snap.path, snap.version, ORG_A, scope="x' OR 1=1 --")


def test_pipeline_entities_newest_first_and_limited(snap: snapshot_queries.Snapshot) -> None:
    entities = pipeline_queries.pipeline_entities(snap.path, snap.version, ORG_B, scope="all")
    assert entities.height == 6
    assert entities["last_event_at"].is_sorted(descending=True)
    row = entities.filter(pl.col("entity_id") == SHARED_ENTITY_ID).row(0, named=True)
    assert (row["entity_type"], row["state"], row["label"]) == ("pursuit", "submit", "Globex plant audit")
    assert (
        pipeline_queries.pipeline_entities(snap.path, snap.version, ORG_A, scope="all", limit=2).height == 2
    )


def test_entity_timeline_is_scoped_to_the_org(snap: snapshot_queries.Snapshot) -> None:
    # Both orgs have a pursuit p-100; each timeline holds only its own org's events.
    acme = pipeline_queries.entity_timeline(snap.path, snap.version, ORG_A, "pursuit", SHARED_ENTITY_ID)
    assert acme["event_id"].to_list() == ["e-a10", "e-a11", "e-a12", "e-a13", "e-a14"]
    assert acme["outcome"].to_list() == ["applied", "applied", "rejected", "warned", "no state change"]
    assert acme["occurred_at"].is_sorted()
    warned = acme.filter(pl.col("event_id") == "e-a13").row(0, named=True)
    assert (warned["from_state"], warned["to_state"], warned["rule"]) == (
        "pink",
        "red",
        "gate:pink_incomplete",
    )
    globex = pipeline_queries.entity_timeline(snap.path, snap.version, ORG_B, "pursuit", SHARED_ENTITY_ID)
    assert globex["event_id"].to_list() == ["g-e10", "g-e12", "g-e11", "g-e13"]
    # Entity type is part of the identity, and a hostile id is just a value.
    assert pipeline_queries.entity_timeline(
        snap.path, snap.version, ORG_A, "candidate", SHARED_ENTITY_ID
    ).is_empty()
    assert pipeline_queries.entity_timeline(
        snap.path, snap.version, ORG_A, "pursuit", "p-100' OR '1'='1"
    ).is_empty()
    candidate = pipeline_queries.entity_timeline(snap.path, snap.version, ORG_A, "candidate", "cand-a2")
    assert candidate.row(0, named=True)["outcome"] == "rejected"
    assert candidate.row(0, named=True)["rule"] == "illegal_transition"


def test_gate_queries(snap: snapshot_queries.Snapshot) -> None:
    gates = gates_queries.gate_pass_rates(snap.path, snap.version, ORG_A)
    assert gates["gate"].to_list() == ["pink", "red"]
    assert gates["pass_rate"].to_list() == [0.75, None]
    assert gates["top_missing_items"].to_list()[0] == ["pricing_review", "exec_summary"]
    rejections = gates_queries.gate_rejections(snap.path, snap.version, ORG_A)
    assert rejections["event_id"].to_list() == ["e-a13", "e-a12"]
    assert all(rule.startswith("gate:") for rule in rejections["rule"])
    assert gates_queries.gate_rejections(snap.path, snap.version, ORG_B)["rule"].to_list() == [
        "gate:no_sent_proposal"
    ]


def test_win_loss_query_keeps_missing_reasons(snap: snapshot_queries.Snapshot) -> None:
    rows = pipeline_queries.win_loss(snap.path, snap.version, ORG_A)
    assert rows.select("outcome", "reason_code").rows() == [
        ("won", "price"),
        ("lost", "competitor"),
        ("lost", "missing"),
    ]
    assert int(rows["pursuits"].sum()) == 3


def test_outbox_queries(snap: snapshot_queries.Snapshot) -> None:
    acme = outbox_queries.outbox_health(snap.path, snap.version, ORG_A)
    assert acme == {
        "pending": 3,
        "retrying": 1,
        "oldest_pending_age_s": 754.0,
        "dead_lettered": 2,
        "processed_last_hour": 17,
    }
    assert outbox_queries.outbox_health(snap.path, snap.version, ORG_B)["oldest_pending_age_s"] is None
    letters = outbox_queries.dead_letters(snap.path, snap.version, ORG_A)
    assert letters["event_id"].to_list() == ["e-a31", "e-a30"]
    assert letters["last_error"].to_list() == [None, "acme-crm webhook timeout after 30s"]
    assert outbox_queries.dead_letters(snap.path, snap.version, ORG_A, limit=1).height == 1


def test_hostile_pipeline_filters_match_nothing(snap: snapshot_queries.Snapshot) -> None:
    hostile = ("x' OR 1=1 --",)
    for filters in ((hostile, (), ()), ((), hostile, ()), ((), (), hostile)):
        assert pipeline_queries.pipeline_counts(snap.path, snap.version, ORG_A, *filters).is_empty()
        assert pipeline_queries.pipeline_entities(snap.path, snap.version, ORG_A, *filters).is_empty()


# ----------------------------------------------------------------------------------------- work marts


def test_today_queries_rank_filter_and_cap(snap: snapshot_queries.Snapshot) -> None:
    p, v = snap.path, snap.version
    assert today_queries.today_options(p, v, ORG_A) == {
        "item_types": ["candidate", "pursuit"],
        "owners": ["alice@acme", "bob@acme", common_queries.UNASSIGNED],
        "tiers": ["critical", "high", "medium", "low"],
        "tags": ["acme-roof", "hq"],
    }
    assert today_queries.today_summary(p, v, ORG_A) == {
        "items": 5,
        "critical": 2,
        "high": 1,
        "red": 1,
        "amber": 3,
    }
    items = today_queries.today_items(p, v, ORG_A)
    assert items["rank"].to_list() == [1, 2, 3, 4, 5]
    assert today_queries.today_items(p, v, ORG_A, limit=2)["rank"].to_list() == [1, 2]
    # Tags match any of the picked ones; filters combine with AND; unassigned is its own owner.
    assert today_queries.today_items(p, v, ORG_A, tags=("acme-roof", "nope"))["item_id"].to_list() == ["p-a5"]
    hq_bob = today_queries.today_items(p, v, ORG_A, owners=("bob@acme",), tags=("hq",))
    assert hq_bob["item_id"].to_list() == [SHARED_ENTITY_ID, "cand-a4"]
    assert today_queries.today_summary(p, v, ORG_A, ("candidate",), (), ("medium", "low"), ())["items"] == 2
    assert today_queries.today_items(p, v, ORG_A, owners=(common_queries.UNASSIGNED,))[
        "item_id"
    ].to_list() == ["cand-a3"]
    hostile = ("x' OR 1=1 --",)
    for filters in (
        (hostile, (), (), ()),
        ((), hostile, (), ()),
        ((), (), hostile, ()),
        ((), (), (), hostile),
    ):
        assert today_queries.today_items(p, v, ORG_A, *filters).is_empty()
        assert today_queries.today_summary(p, v, ORG_A, *filters)["items"] == 0


def test_sla_queries(snap: snapshot_queries.Snapshot) -> None:
    p, v = snap.path, snap.version
    summary = sla_queries.sla_compliance_summary(p, v, ORG_A)
    assert summary["metric"].to_list() == list(sla_queries.SLA_METRICS)
    assert summary["compliance_pct"].to_list() == [90.0, 75.0, None]
    weekly = sla_queries.sla_compliance_weekly(p, v, ORG_A)
    # The weekly rows add up to the summary.
    totals = weekly.group_by("metric").agg(pl.col("eligible_items", "breached_items").sum())
    assert sorted(totals.rows()) == [("proposal", 4, 1), ("triage", 10, 1)]
    assert weekly["week_start"].is_sorted() and all(d.weekday() == 0 for d in weekly["week_start"])
    breaches = sla_queries.sla_open_breaches(p, v, ORG_A)
    assert breaches.select("item_id", "metric", "hours_over_threshold").rows() == [
        (SHARED_ENTITY_ID, "proposal", 110.0)
    ]
    alerts = sla_queries.recent_alerts(p, v, ORG_A, snap.token)
    assert alerts["created_at"].is_sorted(descending=True)
    assert sla_queries.recent_alerts(p, v, ORG_A, snap.token, limit=1).height == 1


def test_alerts_refreshed_in_place_are_not_served_from_the_cache(snap: snapshot_queries.Snapshot) -> None:
    # A file changed in place keeps its snapshot version: the file token still tells the cache.
    before = sla_queries.recent_alerts(snap.path, snap.version, ORG_B, snap.token)
    assert before.height == 1
    with duckdb.connect(snap.path) as con:
        con.execute(
            "INSERT INTO marts.alerts SELECT * REPLACE ('log' AS sink, 'delivered' AS delivery_status) "
            "FROM marts.alerts WHERE org_id = ?",
            [ORG_B],
        )
    after = snapshot_queries.current_snapshot()
    assert after.version == snap.version and after.token != snap.token
    assert sla_queries.recent_alerts(after.path, after.version, ORG_B, after.token).height == 2


def test_workload_and_pipeline_health_queries(snap: snapshot_queries.Snapshot) -> None:
    p, v = snap.path, snap.version
    workload = today_queries.owner_workload(p, v, ORG_B)
    # By name; hank has no user event, so his id stands.
    assert workload.select("owner", "total_items").rows() == [("Gina Green", 2), ("hank@globex", 1)]
    # Every owned panel item is counted once.
    assert int(workload["total_items"].sum()) == today_queries.today_items(p, v, ORG_B).height
    stages = pipeline_queries.pipeline_health(p, v, ORG_B)
    assert stages["stage"].to_list() == ["qual", "pink", "red", "submit"]
    assert stages["open_pursuits"].to_list() == [0, 0, 0, 1]
    months = pipeline_queries.win_rate_monthly(p, v, ORG_A)
    assert months.select("month_start", "won", "lost").rows() == [
        (dt.date(2024, 3, 1), 2, 1),
        (dt.date(2024, 5, 1), 1, 2),
    ]


# ------------------------------------------------------------------------------------------------ memory


def test_memory_inbox_setting_default_and_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("WORKSTREAM_INBOX", raising=False)
    assert settings.inbox_path() == Path("data/inbox").resolve()
    monkeypatch.setenv("WORKSTREAM_INBOX", str(tmp_path))
    assert settings.inbox_path() == tmp_path.resolve()


def test_memory_card_sections_are_parsed_lists(snap: snapshot_queries.Snapshot) -> None:
    card = memory_queries.memory_card(snap.path, snap.version, ORG_A, "client", "cli-a1")
    assert card is not None
    assert (card["atoms_total"], card["version"]) == (4, 5)
    assert card["etag"].startswith('"')
    assert [i["atom_id"] for i in card["decisions"]] == ["m-a1"]
    assert [i["atom_id"] for i in card["risks"]] == ["m-a2"]
    assert {i["atom_type"] for i in card["top_atoms"]} == {"decision", "risk", "preference", "note"}
    assert all(set(i) == {"atom_id", "atom_type", "content", "occurred_at"} for i in card["top_atoms"])
    assert memory_queries.memory_card(snap.path, snap.version, ORG_A, "client", "cli-g1") is None


def test_memory_atoms_with_the_same_id_stay_in_their_org(snap: snapshot_queries.Snapshot) -> None:
    for org in (ORG_A, ORG_B):
        (own,) = [a for a in memory_atoms(org) if a["atom_id"] == SHARED_ATOM_ID]
        states = memory_queries.memory_atom_states(snap.path, snap.version, org, (SHARED_ATOM_ID,))
        assert states == {SHARED_ATOM_ID: {"version": own["version"], "content": own["content"]}}
        timeline = memory_queries.memory_timeline(snap.path, snap.version, org, "pursuit", SHARED_ENTITY_ID)
        assert timeline["content"].to_list() == [own["content"]]


def test_memory_search_is_org_scoped_and_takes_any_text(snap: snapshot_queries.Snapshot) -> None:
    acme = memory_queries.memory_search(snap.path, snap.version, ORG_A, "pricing")
    assert set(acme["atom_id"]) == {"m-a4", SHARED_ATOM_ID}
    assert acme["score"].is_sorted(descending=True) and acme["score"].max() <= 1.0
    assert all("**pricing**" in s.lower() for s in acme["snippet"])
    globex = memory_queries.memory_search(snap.path, snap.version, ORG_B, "pricing")
    assert globex["atom_id"].to_list() == [SHARED_ATOM_ID]
    assert globex["entity_id"].to_list() == [SHARED_ENTITY_ID]
    # Narrowed to a client roll-up or one entity.
    narrowed = memory_queries.memory_search(snap.path, snap.version, ORG_A, "pricing", client_id="cli-a1")
    assert set(narrowed["atom_id"]) == {"m-a4", SHARED_ATOM_ID}
    only = memory_queries.memory_search(snap.path, snap.version, ORG_A, "pricing", "client", "cli-a1")
    assert only["atom_id"].to_list() == ["m-a4"]
    for text in ("pricing' OR 1=1 --", "'); DROP TABLE marts.memory_atoms; --", "   ", "***"):
        hits = memory_queries.memory_search(snap.path, snap.version, ORG_B, text)
        assert set(hits["atom_id"]) <= {SHARED_ATOM_ID}
    assert memory_queries.memory_entities(snap.path, snap.version, ORG_A).height == 4


def test_the_memory_pages_entity_list_joins_candidates_by_hash_not_every_card_against_every_candidate(
    snapshot_home: Path,
) -> None:
    # A nested-loop plan made the Memory page's first load take seconds on an org of 84k cards.
    params = memory_queries.memory_entities_params(ORG_A)
    with duckdb.connect(str(snapshot_home / "serving.duckdb"), read_only=True) as con:
        plan = "\n".join(
            row[1] for row in con.execute("EXPLAIN " + memory_queries.MEMORY_ENTITIES_SQL, params).fetchall()
        )
    assert "HASH_JOIN" in plan
    assert "NL_JOIN" not in plan


def test_the_sla_pages_breach_and_alert_lists_name_every_item_as_before(
    snap: snapshot_queries.Snapshot,
) -> None:
    # The page's tables: each row's label is the item's title (a signal by its source), else its id.
    for org in (ORG_A, ORG_B):
        breaches = sla_queries.sla_open_breaches(snap.path, snap.version, org)
        alerts = sla_queries.recent_alerts(snap.path, snap.version, org, snap.token)
        for frame in (breaches, alerts):
            for row in frame.iter_rows(named=True):
                titles = db.fetch(
                    snap.path,
                    f"""
                    SELECT {common_queries.ITEM_TITLE} AS title
                    FROM (SELECT ?::VARCHAR AS item_type, ?::VARCHAR AS item_id) AS x
                    LEFT JOIN marts.pursuits AS it_p ON it_p.org_id = ? AND it_p.pursuit_id = x.item_id
                                                    AND x.item_type = 'pursuit'
                    LEFT JOIN marts.candidates AS it_c ON it_c.org_id = ?
                          AND it_c.candidate_id = CASE WHEN x.item_type = 'candidate' THEN x.item_id
                                                       ELSE it_p.candidate_id END
                    LEFT JOIN marts.clients AS it_cl ON it_cl.org_id = ?
                          AND it_cl.client_id = coalesce(it_p.client_id, it_c.client_id)
                    LEFT JOIN marts.signals AS it_s ON it_s.org_id = ? AND it_s.signal_id = x.item_id
                                                   AND x.item_type = 'signal'
                    """,
                    [row["item_type"], row["item_id"], org, org, org, org],
                    org=org,
                )["title"].to_list()
                assert row["label"] == (titles[0] if titles and titles[0] is not None else row["item_id"])
    labelled = sla_queries.sla_open_breaches(snap.path, snap.version, ORG_A)
    assert labelled["label"].to_list() != labelled["item_id"].to_list()


@pytest.mark.parametrize(
    "query",
    [
        lambda p, v: sla_queries.sla_open_breaches.__wrapped__(p, v, ORG_A),
        lambda p, v: sla_queries.recent_alerts.__wrapped__(p, v, ORG_A, ""),
        lambda p, v: gates_queries.gate_rejections.__wrapped__(p, v, ORG_A),
        lambda p, v: today_queries.today_items.__wrapped__(p, v, ORG_A),
        lambda p, v: today_queries.follow_ups.__wrapped__(p, v, ORG_A),
        lambda p, v: memory_queries.memory_timeline.__wrapped__(p, v, ORG_A, "client", "cli-a1"),
    ],
    ids=[
        "sla open breaches",
        "sla recent alerts",
        "gate rejections",
        "today items",
        "follow-ups",
        "memory timeline",
    ],
)
def test_item_names_are_joined_by_hash_not_every_alert_or_rejection_against_every_item(
    snap: snapshot_queries.Snapshot, monkeypatch: pytest.MonkeyPatch, query
) -> None:
    # A nested-loop plan made the SLA page's first load take minutes on an org of 80k alerts (and
    # Quality gates' rejections seconds).
    plans: list[str] = []

    def explain(path, sql, params, *, org):
        rows = db.run(path, lambda con: con.execute("EXPLAIN " + sql, list(params)).fetchall(), org=org)
        plans.append("\n".join(row[1] for row in rows))
        return pl.DataFrame()

    monkeypatch.setattr(db, "fetch", explain)
    query(snap.path, snap.version)
    (plan,) = plans
    assert "HASH_JOIN" in plan
    assert "NL_JOIN" not in plan


def test_the_ledger_shows_a_shared_files_format_status_and_time_to_each_of_its_orgs(
    snap: snapshot_queries.Snapshot,
) -> None:
    # The whole-file ledger row of a file several orgs share has no org, so no org's scope reads it:
    # the file's own properties travel with each org's row.
    for org in (ORG_A, ORG_B):
        ledger = overview_queries.ingest_ledger(snap.path, snap.version, org)
        shared = ledger.filter(pl.col("file") == SHARED_FILE).row(0, named=True)
        assert (shared["format"], shared["status"]) == ("parquet", "ok"), org
        assert shared["ingested_at"] is not None, org
        assert ledger["format"].null_count() == 0 and ledger["status"].null_count() == 0, org


def test_the_memory_pages_entities_carry_the_names_the_other_pages_show(
    snap: snapshot_queries.Snapshot,
) -> None:
    with duckdb.connect(str(snap.path), read_only=True) as con:
        names = dict(
            con.execute("select client_id, name from marts.clients where org_id = ?", [ORG_A]).fetchall()
        )
        titles = dict(
            con.execute(
                "select candidate_id, title from marts.candidates where org_id = ?", [ORG_A]
            ).fetchall()
        )
    entities = memory_queries.memory_entities(snap.path, snap.version, ORG_A)
    labelled = {(r["entity_type"], r["entity_id"]): r["label"] for r in entities.iter_rows(named=True)}
    clients = {entity_id: label for (kind, entity_id), label in labelled.items() if kind == "client"}
    assert clients and all(label == names[entity_id] for entity_id, label in clients.items()), clients
    assert all(
        label == titles.get(entity_id) for (kind, entity_id), label in labelled.items() if kind == "candidate"
    )
