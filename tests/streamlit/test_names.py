"""Names, not ids or codes, in the tables an analyst reads: one test per page.

A table may keep an id as a secondary column, after the column that names the row; it never leads with
one, never shows one where the marts hold a name, and shows state, stage, rule, event and outcome codes
in words. The fixture's acme pursuit p-100 is the candidate "Acme HQ refit" of client "Acme Holdings".

A script run is the cost of an AppTest check and every test here only reads what a page showed, so one
session per org walks the pages once for the module (the `shown` fixture) and the tests read its views.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest
import streamlit as st
from conftest import signed_in_app
from snapshot_fixture import ORG_A, ORG_B, SHARED_ENTITY_ID, build_snapshot
from streamlit.testing.v1 import AppTest

from dagster_project.access.store import ENV_CHEAP_HASHES
from dagster_project.contract.states import CANDIDATE_STATES, PURSUIT_STATES, SIGNAL_STATES, Rule

ID_COLUMNS = {"entity_id", "item_id", "pursuit_id", "candidate_id", "client_id", "contact_id", "signal_id"}
CODES = {*CANDIDATE_STATES, *PURSUIT_STATES, *SIGNAL_STATES, *Rule.all()}
TITLE, CLIENT = "Acme HQ refit", "Acme Holdings"


@dataclass(frozen=True)
class View:
    """What one page showed: its tables (values and the columns shown), owner picker and markdown."""

    exceptions: list[str]
    tables: list[tuple[pd.DataFrame, list[str]]]
    owner_options: list[str]
    markdown: str


def _view(at: AppTest) -> View:
    return View(
        exceptions=[str(e.value) for e in at.exception],
        tables=[(df.value, list(df.proto.column_order)) for df in at.dataframe],
        owner_options=[o for s in at.sidebar.multiselect if s.label == "Owners" for o in s.options],
        markdown=" ".join(m.value for m in at.markdown),
    )


def _entity_picked(at: AppTest) -> AppTest:
    (picker,) = [s for s in at.main.selectbox if s.label == "Entity"]
    return picker.set_value(f"pursuit:{SHARED_ENTITY_ID}").run()


# (view name, page, org, what the session does on the page before it is read)
WALK = [
    ("today", "app_pages/today.py", ORG_A, None),
    ("pipeline", "app_pages/pipeline.py", ORG_A, None),
    ("pipeline timeline", None, ORG_A, _entity_picked),
    ("sla", "app_pages/sla_compliance.py", ORG_A, None),
    ("quality gates", "app_pages/quality_gates.py", ORG_A, None),
    ("pipeline health", "app_pages/pipeline_health.py", ORG_A, None),
    ("win loss", "app_pages/win_loss.py", ORG_A, None),
    ("overview", "app_pages/overview.py", ORG_A, None),
    ("owner workload", "app_pages/owner_workload.py", ORG_A, None),
    ("item", "app_pages/item.py", ORG_A, None),
    ("globex pipeline", "app_pages/pipeline.py", ORG_B, None),
]


@pytest.fixture(scope="module")
def shown(tmp_path_factory: pytest.TempPathFactory) -> dict[str, View]:
    """Every view the tests read, from one session per org (the fixture governor of both orgs).

    The module's own home holds the two-org fixture snapshot; the item page reads its pursuit from the
    URL, which the session carries from its first run."""
    home = tmp_path_factory.mktemp("names") / "home"
    home.mkdir()
    build_snapshot(home / "serving.duckdb")
    views: dict[str, View] = {}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WORKSTREAM_HOME", str(home))
        env.setenv("WORKSTREAM_INBOX", str(home.parent / "inbox"))
        env.setenv(ENV_CHEAP_HASHES, "1")
        sessions: dict[str, AppTest] = {}
        for name, page, org, then in WALK:
            if org not in sessions:
                st.cache_data.clear()
                at = signed_in_app(f"governor-{org}@fixture.test")
                at.query_params.update({"org": org, "type": "pursuit", "id": SHARED_ENTITY_ID})
                sessions[org] = at.run()
            at = sessions[org]
            if page:
                at.switch_page(page).run()
            if then:
                then(at)
            views[name] = _view(at)
    st.cache_data.clear()
    return views


def _page(shown: dict[str, View], name: str) -> View:
    view = shown[name]
    assert not view.exceptions, (name, view.exceptions)
    return view


def _visible(view: View, column: str) -> pd.DataFrame:
    """The one table holding `column`, cut to the columns shown, in the order shown."""
    (table,) = [(df, order) for df, order in view.tables if column in df.columns]
    df, order = table
    shown = order or list(df.columns)
    return df[[c for c in shown if c in df.columns]]


def _assert_named_before_any_id(table: pd.DataFrame, name: str) -> None:
    columns = [c for c in table.columns if c != "open"]
    ids = [c for c in columns if c in ID_COLUMNS]
    assert columns.index(name) < min((columns.index(c) for c in ids), default=len(columns)), columns
    named = set(table[name])
    for column in ids:
        assert not named & set(table[column]), f"{name} repeats ids of {column}"


def _assert_no_codes(values: pd.Series) -> None:
    assert not set(values) & CODES, sorted(set(values) & CODES)


def test_today_names_each_item_by_its_title_and_shows_no_id(shown: dict[str, View]) -> None:
    at = _page(shown, "today")
    items = _visible(at, "why")
    assert not set(items.columns) & ID_COLUMNS
    assert TITLE in set(items["title"])
    # Not the panel's label, which spells out the type and id ("Pursuit #p-100: Acme HQ refit").
    assert not [t for t in items["title"] if t.startswith(f"Pursuit #{SHARED_ENTITY_ID}")]
    follow_ups = _visible(at, "reason")
    assert not set(follow_ups.columns) & ID_COLUMNS
    assert TITLE in set(follow_ups["label"])


def test_pipeline_names_entities_and_their_clients_and_says_states_and_events_in_words(
    shown: dict[str, View],
) -> None:
    at = _page(shown, "pipeline")
    entities = _visible(at, "entity_id")
    _assert_named_before_any_id(entities, "label")
    row = entities.set_index("entity_id").loc[SHARED_ENTITY_ID]
    assert (row["label"], row["client"], row["state"], row["entity_type"]) == (
        TITLE,
        CLIENT,
        "Red review",
        "Pursuit",
    )
    _assert_no_codes(entities["state"])
    assert "Signal from web" in set(entities["label"])  # a signal has no title: where it came from
    counts = _visible(at, "entities")
    _assert_no_codes(counts["state"])

    at = _page(shown, "pipeline timeline")
    timeline = _visible(at, "event_name")
    assert not [e for e in timeline["event_name"] if "." in e or "_" in e]
    for column in ("from_state", "to_state", "rule"):
        _assert_no_codes(timeline[column])


def test_sla_breaches_and_alerts_name_the_item(shown: dict[str, View]) -> None:
    at = _page(shown, "sla")
    breaches = _visible(at, "hours_over_threshold")
    _assert_named_before_any_id(breaches, "label")
    assert breaches["label"].tolist() == [TITLE]
    alerts = _visible(at, "delivery_status")
    _assert_named_before_any_id(alerts, "label")
    # A signal by its sender's company and where it came from (one without a company: test_pipeline_…).
    assert set(alerts["label"]) == {TITLE, "Initrode Ltd (signal from email)"}
    assert set(alerts["kind"]) <= {"Breach", "Retraction"}


def test_quality_gate_rejections_name_the_item_and_the_rule_in_words(shown: dict[str, View]) -> None:
    at = _page(shown, "quality gates")
    rejections = _visible(at, "rule")
    _assert_named_before_any_id(rejections, "label")
    assert set(rejections["label"]) == {TITLE}
    _assert_no_codes(rejections["rule"])
    assert not [e for e in rejections["event_name"] if "." in e]


def test_pipeline_health_says_its_stages_in_words(shown: dict[str, View]) -> None:
    at = _page(shown, "pipeline health")
    stages = _visible(at, "p75_hours_in_stage")
    _assert_no_codes(stages["stage"])
    assert stages["stage"].tolist()[0] == "Qualification"


def test_win_loss_says_outcomes_in_words(shown: dict[str, View]) -> None:
    at = _page(shown, "win loss")
    reasons = _visible(at, "reason_code")
    assert set(reasons["outcome"]) == {"Won", "Lost"}
    assert not [r for r in reasons["reason_code"] if "_" in r]


def test_overview_names_event_types_in_words(shown: dict[str, View]) -> None:
    at = _page(shown, "overview")
    by_name = _visible(at, "share")
    assert "Signal created" in set(by_name["event_name"])
    assert not [e for e in by_name["event_name"] if "." in e or "_" in e]
    assert set(by_name["entity_type"]) <= {"Signal", "Candidate", "Pursuit", "Client"}


def test_the_item_page_timeline_says_events_states_and_rules_in_words(shown: dict[str, View]) -> None:
    at = _page(shown, "item")
    timeline = _visible(at, "change")
    assert not [e for e in timeline["event_name"] if "." in e or "_" in e]
    assert "Pink review → Red review" in set(timeline["change"])
    assert any(d.startswith("Pink checklist incomplete at submit: ") for d in timeline["detail"])


# People: owners and actors by the name `marts.users` gives them, else by their id.
ALICE, BOB = "Alice Archer", "Bob Baker"
OWNER_IDS = {"alice@acme", "bob@acme"}


def _owner_picker_shows(view: View) -> list[str]:
    return view.owner_options


def test_today_shows_owners_by_name_in_its_tables_and_its_owner_filter(shown: dict[str, View]) -> None:
    at = _page(shown, "today")
    items = _visible(at, "why")
    assert set(items["owner"]) - {"—"} <= {ALICE, BOB} and BOB in set(items["owner"])
    assert set(_visible(at, "reason")["owner"]) - {"—"} == {ALICE, BOB}
    assert {ALICE, BOB} <= set(_owner_picker_shows(at))
    assert not OWNER_IDS & set(_owner_picker_shows(at))


def test_owner_workload_names_each_owner(shown: dict[str, View]) -> None:
    at = _page(shown, "owner workload")
    owners = set(_visible(at, "total_items")["owner"])
    assert owners == {ALICE, BOB}


def test_pipeline_shows_owners_and_actors_by_name(shown: dict[str, View]) -> None:
    at = _page(shown, "pipeline")
    entities = _visible(at, "entity_id")
    assert BOB in set(entities["owner"]) and not OWNER_IDS & set(entities["owner"])
    assert not OWNER_IDS & set(_visible(at, "entities")["owner"])
    assert not OWNER_IDS & set(_owner_picker_shows(at))
    at = _page(shown, "pipeline timeline")
    assert set(_visible(at, "event_name")["actor"]) - {"—"} == {BOB}


def test_a_user_without_a_name_is_shown_by_id_and_names_never_cross_orgs(shown: dict[str, View]) -> None:
    at = _page(shown, "globex pipeline")
    owners = set(_visible(at, "entity_id")["owner"])
    assert "hank@globex" in owners  # no user event names hank: his id stands
    assert "Gina Green" in owners or "Gina Green" in set(_owner_picker_shows(at))
    assert not {ALICE, BOB} & (owners | set(_owner_picker_shows(at)))


def test_the_item_page_names_the_owner_in_its_header_and_the_actors_in_its_timeline(
    shown: dict[str, View],
) -> None:
    at = _page(shown, "item")
    header = at.markdown
    assert f"Owner **{BOB}**" in header and "bob@acme" not in header
    assert set(_visible(at, "change")["actor"]) - {"—"} == {BOB}
