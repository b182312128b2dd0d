"""Every dashboard page rendered headless with AppTest against fixture snapshots.

Checks what a user would notice first: no exceptions, headline numbers equal to the fixture, org
switching, tenant isolation of everything rendered, and friendly empty states.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
from conftest import APP_PATH
from snapshot_fixture import (
    ORG_A,
    ORG_A_ONLY,
    ORG_B,
    ORG_B_ONLY,
    SHARED_FILE,
    SHARED_UNATTRIBUTED_RAW,
    UNREADABLE_FILE,
    UNREADABLE_RAW,
    build_snapshot,
    expected,
)
from streamlit.testing.v1 import AppTest

OVERVIEW = "app_pages/overview.py"
FUNNEL = "app_pages/funnel_velocity.py"
DATA_QUALITY = "app_pages/data_quality.py"
PAGES = (OVERVIEW, FUNNEL, DATA_QUALITY)


def _open(page: str = OVERVIEW, org: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP_PATH), default_timeout=30)
    at.run()
    if org is not None:
        at.sidebar.selectbox(key="org").set_value(org).run()
    if page != OVERVIEW:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metric(at: AppTest, label: str) -> str:
    matches = [m.value for m in at.metric if m.label == label]
    assert len(matches) == 1, f"metric {label!r}: {[m.label for m in at.metric]}"
    return matches[0]


def _widget(widgets, label: str):
    matches = [w for w in widgets if w.label == label]
    assert len(matches) == 1, label
    return matches[0]


def _rendered_text(at: AppTest) -> str:
    """Everything sent to the browser for the main area and sidebar, as searchable text."""
    parts: list[str] = []
    for root in (at.main, at.sidebar):
        for node in root:
            proto = getattr(node, "proto", None)
            if proto is not None:
                parts.append(str(proto))
    parts.extend(df.value.to_string() for df in at.dataframe)
    return "\n".join(parts)


def _charts(at: AppTest) -> list:
    return list(at.get("plotly_chart"))


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_a_chart_and_data_as_of(snapshot_home: Path, page: str) -> None:
    at = _open(page)
    assert at.title[0].value
    assert len(_charts(at)) >= 1
    main_captions = " ".join(c.value for c in at.main.caption)
    assert "data as of **2024-05-10 00:00 UTC**" in main_captions
    sidebar = " ".join(c.value for c in at.sidebar.caption)
    assert "**Data as of** 2024-05-10 00:00 UTC" in sidebar
    assert "Published 2024-05-10 00:01 UTC" in sidebar


def test_overview_kpis_equal_the_fixture(snapshot_home: Path) -> None:
    at = _open(OVERVIEW)
    want = expected(ORG_A)
    assert at.sidebar.selectbox(key="org").value == ORG_A
    assert _metric(at, "Events") == f"{want.events:,}"
    assert _metric(at, "Event types") == str(want.event_types)
    assert _metric(at, "First day") == want.first_date.isoformat()
    assert _metric(at, "Last day") == want.last_date.isoformat()
    table = at.dataframe[0].value
    assert int(table["events"].sum()) == want.events
    assert table["share"].sum() == pytest.approx(1.0)


def test_overview_filters_narrow_the_numbers(snapshot_home: Path) -> None:
    at = _open(OVERVIEW)
    _widget(at.sidebar.multiselect, "Event types").set_value(["signal.created"]).run()
    assert not at.exception
    assert _metric(at, "Events") == str(12 + 9 + 15 + 7 + 11)
    assert _metric(at, "Event types") == "1"
    assert any("Filtered view: 54 of 77 events" in c.value for c in at.caption)

    _widget(at.sidebar.date_input, "Event dates").set_value((dt.date(2024, 5, 2), dt.date(2024, 5, 3))).run()
    assert not at.exception
    assert _metric(at, "Events") == str(9 + 15)
    assert _metric(at, "First day") == "2024-05-02"

    at.get("segmented_control")[0].set_value("week").run()
    assert not at.exception
    assert len(_charts(at)) == 1


def test_org_switch_changes_numbers_on_every_page(snapshot_home: Path) -> None:
    a, b = expected(ORG_A), expected(ORG_B)
    # (page, metric, value for acme, value for globex)
    checks = [
        (OVERVIEW, "Events", f"{a.events:,}", f"{b.events:,}"),
        (FUNNEL, "Signal → candidate", "22%", "40%"),
        (DATA_QUALITY, "Accepted", f"{a.events:,}", f"{b.events:,}"),
        (DATA_QUALITY, "Quarantined", str(a.quarantined), str(b.quarantined)),
    ]
    at = _open(OVERVIEW)
    org = at.sidebar.selectbox(key="org")
    for page, label, value_a, value_b in checks:
        at.switch_page(page).run()
        at.sidebar.selectbox(key="org").set_value(ORG_A).run()
        assert _metric(at, label) == value_a
        at.sidebar.selectbox(key="org").set_value(ORG_B).run()
        assert not at.exception
        assert _metric(at, label) == value_b
    assert org.options == [ORG_A, ORG_B]


def test_org_selection_survives_page_switches(snapshot_home: Path) -> None:
    at = _open(OVERVIEW, ORG_B)
    for page in (FUNNEL, DATA_QUALITY, OVERVIEW):
        at.switch_page(page).run()
        assert not at.exception
        assert at.sidebar.selectbox(key="org").value == ORG_B
    assert _metric(at, "Events") == f"{expected(ORG_B).events:,}"


def test_org_can_be_chosen_by_url(snapshot_home: Path) -> None:
    at = AppTest.from_file(str(APP_PATH), default_timeout=30)
    at.query_params["org"] = ORG_B
    at.run()
    assert not at.exception
    assert _metric(at, "Events") == f"{expected(ORG_B).events:,}"


@pytest.mark.parametrize(
    ("org", "own", "foreign"), [(ORG_A, ORG_A_ONLY, ORG_B_ONLY), (ORG_B, ORG_B_ONLY, ORG_A_ONLY)]
)
def test_no_other_tenant_data_is_rendered(snapshot_home: Path, org: str, own: tuple, foreign: tuple) -> None:
    at = _open(OVERVIEW, org)
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception
        text = _rendered_text(at)
        if page == DATA_QUALITY:
            # Positive control: the org's own file names do show up, so the search itself works.
            assert own[0] in text
        for needle in (*foreign, SHARED_UNATTRIBUTED_RAW, UNREADABLE_FILE, UNREADABLE_RAW):
            assert needle not in text, f"{needle!r} leaked into {page} for {org}"


def test_data_quality_ledger_and_examples(snapshot_home: Path) -> None:
    at = _open(DATA_QUALITY, ORG_A)
    want = expected(ORG_A)
    assert _metric(at, "Files") == str(want.files)

    ledger = next(df.value for df in at.dataframe if "balanced" in df.value.columns)
    assert sorted(ledger["file"]) == sorted([ORG_A_ONLY[0], SHARED_FILE])
    assert ledger["balanced"].all()
    assert (ledger["lines"] == ledger["accepted"] + ledger["duplicates"] + ledger["quarantined"]).all()
    assert any("match the 77 events" in c.value for c in at.caption)

    reason = _widget(at.main.selectbox, "Examples for reason")
    assert reason.options == ["bad_json (2)", "missing_field (1)"]
    examples = next(df.value for df in at.dataframe if "raw" in df.value.columns)
    assert len(examples) == 2
    assert examples["raw"].str.len().max() <= 161  # preview length plus the ellipsis

    reason.set_value("missing_field").run()
    assert not at.exception
    examples = next(df.value for df in at.dataframe if "raw" in df.value.columns)
    assert list(examples["line"]) == [17]


def test_unattributed_records_are_scoped_and_content_withheld_in_shared_files(snapshot_home: Path) -> None:
    at = _open(DATA_QUALITY, ORG_A)
    expander = at.expander[0]
    assert expander.label.startswith("Unattributed records (2)")
    text = _rendered_text(at)
    assert "ACME-UNATTRIBUTED-RAW" in text  # acme's own file: content shown
    assert SHARED_FILE in text and SHARED_UNATTRIBUTED_RAW not in text  # shared file: withheld

    at_b = _open(DATA_QUALITY, ORG_B)
    assert at_b.expander[0].label.startswith("Unattributed records (1)")


def test_no_snapshot_shows_how_to_get_data_on_every_page(home: Path) -> None:
    for page in PAGES:
        at = AppTest.from_file(str(APP_PATH), default_timeout=30)
        at.run()
        if page != OVERVIEW:
            at.switch_page(page).run()
        assert not at.exception
        messages = " ".join(i.value for i in at.info)
        assert "workstream run" in messages and "make demo" in messages
        assert not _charts(at)


def test_snapshot_with_zero_events_shows_empty_states(home: Path) -> None:
    build_snapshot(home / "serving.duckdb", empty=True)
    for page in PAGES:
        at = AppTest.from_file(str(APP_PATH), default_timeout=30)
        at.run()
        if page != OVERVIEW:
            at.switch_page(page).run()
        assert not at.exception
        assert any("no organisations" in i.value for i in at.info)
        assert not _charts(at)


def test_a_new_publish_is_picked_up_despite_the_cache(home: Path) -> None:
    snapshot = home / "serving.duckdb"
    build_snapshot(snapshot, version="v1")
    at = AppTest.from_file(str(APP_PATH), default_timeout=30)
    at.run()
    assert _metric(at, "Events") == f"{expected(ORG_A).events:,}"

    build_snapshot(snapshot, empty=True, version="v2")
    at.run()
    assert not at.exception
    assert any("no organisations" in i.value for i in at.info)
    assert "Snapshot `v2`" in " ".join(c.value for c in at.sidebar.caption)

    snapshot.unlink()
    at.run()
    assert not at.exception
    assert any("workstream run" in i.value for i in at.info)


def test_org_whose_every_record_was_quarantined(snapshot_home: Path) -> None:
    # An org known only from the ledger: it appears in the selector, and every page copes.
    with duckdb.connect(str(snapshot_home / "serving.duckdb")) as con:
        con.execute(
            "INSERT INTO marts.ingest_ledger_by_org VALUES ('h-ini', 'initech.csv', 'initech', 2, 0, 0, 2)"
        )
        con.execute(
            "INSERT INTO marts.quarantine VALUES "
            "('h-ini', 'initech.csv', 1, 'naive_timestamp', 'no offset', 'x', 'initech', 'i-1', now()), "
            "('h-ini', 'initech.csv', 2, 'naive_timestamp', 'no offset', 'y', 'initech', 'i-2', now())"
        )
    at = _open(OVERVIEW, "initech")
    assert any("No accepted events" in i.value for i in at.info)
    at.switch_page(FUNNEL).run()
    assert not at.exception
    assert any("No funnel rows" in i.value for i in at.info)
    at.switch_page(DATA_QUALITY).run()
    assert not at.exception
    assert _metric(at, "Quarantined") == "2"
    assert _metric(at, "Accepted") == "0"


@pytest.mark.parametrize("table", ["event_volume_daily", "funnel_velocity", "snapshot_info"])
def test_snapshot_missing_a_table_explains_instead_of_crashing(snapshot_home: Path, table: str) -> None:
    with duckdb.connect(str(snapshot_home / "serving.duckdb")) as con:
        con.execute(f"DROP TABLE marts.{table}")
    for page in PAGES:
        at = AppTest.from_file(str(APP_PATH), default_timeout=30)
        at.run()
        if page != OVERVIEW:
            at.switch_page(page).run()
        assert not at.exception
        # Only the funnel page reads funnel_velocity; the other tables are read on every page.
        affected = page == FUNNEL if table == "funnel_velocity" else True
        errors = [e.value for e in at.error if "Re-publish it with `workstream run`" in e.value]
        assert bool(errors) is affected, page


def test_unknown_or_hostile_org_in_url_falls_back_to_a_real_org(snapshot_home: Path) -> None:
    for value in ("nope", "globex' OR '1'='1"):
        at = AppTest.from_file(str(APP_PATH), default_timeout=30)
        at.query_params["org"] = value
        at.run()
        assert not at.exception
        assert at.sidebar.selectbox(key="org").value == ORG_A
        assert _metric(at, "Events") == f"{expected(ORG_A).events:,}"
