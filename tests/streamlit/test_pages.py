"""Every dashboard page rendered headless with AppTest against fixture snapshots.

Checks what a user would notice first: no exceptions, headline numbers equal to the fixture, org
switching, tenant isolation of everything rendered, and friendly empty states.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import streamlit as st
from conftest import FIXTURE_USER, signed_in_app
from snapshot_fixture import (
    BUILT_AT,
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
    SHARED_UNATTRIBUTED_RAW,
    UNREADABLE_FILE,
    UNREADABLE_RAW,
    build_snapshot,
    expected,
    expected_panel,
    memory_atoms,
)
from streamlit.testing.v1 import AppTest

from dagster_project.memory.search import build_index
from streamlit_app.lib.queries import today as today_queries

OVERVIEW = "app_pages/overview.py"
FUNNEL = "app_pages/funnel_velocity.py"
DATA_QUALITY = "app_pages/data_quality.py"
PIPELINE = "app_pages/pipeline.py"
QUALITY_GATES = "app_pages/quality_gates.py"
WIN_LOSS = "app_pages/win_loss.py"
OUTBOX = "app_pages/outbox_health.py"
TODAY = "app_pages/today.py"
SLA = "app_pages/sla_compliance.py"
WORKLOAD = "app_pages/owner_workload.py"
PIPELINE_HEALTH = "app_pages/pipeline_health.py"
MEMORY = "app_pages/memory.py"
WORK_PAGES = (TODAY, SLA, WORKLOAD, PIPELINE_HEALTH, MEMORY)
NEW_PAGES = (PIPELINE, QUALITY_GATES, WIN_LOSS, OUTBOX, *WORK_PAGES)
PAGES = (OVERVIEW, FUNNEL, DATA_QUALITY, *NEW_PAGES)
# The outbox, Today and Memory pages are numbers and lists; every other page draws at least one chart.
DEFAULT_PAGE = TODAY  # what the app opens on (`default=True` in app.py)
CHART_PAGES = tuple(p for p in PAGES if p not in (OUTBOX, TODAY, MEMORY))


def _open(
    page: str = OVERVIEW, org: str | None = None, user: str = FIXTURE_USER, role: str = "governor"
) -> AppTest:
    at = signed_in_app(user, role)
    at.run()
    if org is not None:
        at.sidebar.selectbox(key="org").set_value(org).run()
    if page != DEFAULT_PAGE:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _each_page(at: AppTest, pages: tuple[str, ...]) -> Iterator[str]:
    """Show each of `pages` in turn in the session of `at` (which has run once, on the app's first
    page), yielding each page once it is on screen. One session serves them all: a page's run draws
    all of its elements afresh, and a new session per page would run the first page again each time."""
    shown = DEFAULT_PAGE
    for page in pages:
        if page != shown:
            at.switch_page(page).run()
            shown = page
        yield page


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


@dataclass(frozen=True)
class PageView:
    """What one page showed for one org: enough for the checks that only read a page's output."""

    page: str
    org: str | None  # the org picker's value
    metrics: list[tuple[str, str]]  # (label, value) of each metric
    exceptions: list[str]
    titles: list[str]
    charts: int
    main_captions: str
    sidebar_captions: str
    text: str  # `_rendered_text`
    tables: list[tuple[pd.DataFrame, dict]]  # each dataframe's values and its column config


@pytest.fixture(scope="module")
def every_page(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[PageView]]:
    """Every page as each fixture org's governor sees it, visited once per org for the module.

    AppTest's script runs are the bulk of this file's cost, and several tests only read what every
    page shows (tenant isolation, number formats, charts and data-as-of captions): one visit of each
    page per org serves them all. The home is the module's own (the function-scoped fixtures are the
    tests'), with the two-org fixture snapshot. The visit ends back on the first page it showed, so
    the org picked on the app's first page is seen to last a whole round of the pages."""
    home = tmp_path_factory.mktemp("every-page") / "home"
    home.mkdir()
    build_snapshot(home / "serving.duckdb")
    views: dict[str, list[PageView]] = {}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WORKSTREAM_HOME", str(home))
        env.setenv("WORKSTREAM_INBOX", str(home.parent / "inbox"))
        for org in (ORG_A, ORG_B):
            st.cache_data.clear()
            at = _open(DEFAULT_PAGE, org, user=f"governor-{org}@fixture.test")
            views[org] = [
                PageView(
                    page=page,
                    org=at.sidebar.selectbox(key="org").value,
                    metrics=[(m.label, m.value) for m in at.metric],
                    exceptions=[str(e.value) for e in at.exception],
                    titles=[t.value for t in at.title],
                    charts=len(_charts(at)),
                    main_captions=" ".join(c.value for c in at.main.caption),
                    sidebar_captions=" ".join(c.value for c in at.sidebar.caption),
                    text=_rendered_text(at),
                    tables=[(df.value, json.loads(df.proto.columns)) for df in at.dataframe],
                )
                for page in _each_page(at, (*PAGES, PAGES[0]))
            ]
    st.cache_data.clear()
    return views


def test_every_page_renders_with_a_chart_and_data_as_of(every_page: dict[str, list[PageView]]) -> None:
    # One session per org visits every page in turn (each page's run draws all of its elements
    # afresh); every page is also opened straight from the app's first page by the tests below.
    for org, views in every_page.items():
        assert [view.page for view in views] == [*PAGES, PAGES[0]]
        for view in views:
            page = (org, view.page)
            assert not view.exceptions, (page, view.exceptions)
            assert view.titles and view.titles[0], page
            assert view.charts >= (1 if view.page in CHART_PAGES else 0), page
            assert "data as of **2024-05-10 00:00 UTC**" in view.main_captions, page
            assert "**Data as of** 2024-05-10 00:00 UTC" in view.sidebar_captions, page
            assert "Published 2024-05-10 00:01 UTC" in view.sidebar_captions, page


def test_a_render_opens_the_snapshot_once_per_scope_whatever_number_of_queries_it_asks(
    snapshot_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A new in-memory DuckDB and the file's attach are most of a small query's cost: a page's queries
    # share the render's open of each scope (the reader's `reusing_opens`, entered in app.py).
    from dagster_project.serving import reader

    opened: list[object] = []
    real = reader.open_snapshot

    def counted(path, *, scope, **kwargs):
        opened.append(scope)
        return real(path, scope=scope, **kwargs)

    monkeypatch.setattr(reader, "open_snapshot", counted)
    at = signed_in_app()
    at.run()
    assert not at.exception and opened
    assert len(opened) == len(set(opened)), opened
    for page in PAGES:
        opened.clear()
        at.switch_page(page).run()
        assert not at.exception, page
        assert len(opened) == len(set(opened)), (page, opened)


def test_the_app_opens_on_today(snapshot_home: Path) -> None:
    at = signed_in_app()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["Today"]


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

    _widget(at.sidebar.selectbox, "Period").set_value("custom").run()
    _widget(at.sidebar.date_input, "Dates").set_value((dt.date(2024, 5, 2), dt.date(2024, 5, 3))).run()
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
        (PIPELINE, "Open value", "$400,000", "$90,000"),
        (QUALITY_GATES, "Pink gate pass rate", "75%", "100%"),
        (WIN_LOSS, "Lost", "2", "1"),
        (OUTBOX, "Dead letters", "2", "1"),
        (TODAY, "Open items", "5", "3"),
        (SLA, "Triage compliance", "90%", "97.5%"),
        (WORKLOAD, "Owned items", "4", "3"),
        (PIPELINE_HEALTH, "Open value", "$460,000", "$90,000"),
    ]
    at = _open(OVERVIEW, ORG_A)
    org = at.sidebar.selectbox(key="org")
    # One switch per page, in turn from acme to globex and back: the org a page opens with is the
    # one the previous page left (kept across pages), and the switch on the page changes its number.
    shown = ORG_A
    for page, label, value_a, value_b in checks:
        at.switch_page(page).run()
        assert at.sidebar.selectbox(key="org").value == shown
        values = {ORG_A: value_a, ORG_B: value_b}
        assert _metric(at, label) == values[shown], (page, shown)
        shown = ORG_B if shown == ORG_A else ORG_A
        at.sidebar.selectbox(key="org").set_value(shown).run()
        assert not at.exception
        assert _metric(at, label) == values[shown], (page, shown)
    assert org.options == [ORG_A, ORG_B]


def test_funnel_lost_pairs_say_they_count_losses_at_that_stage_or_later(snapshot_home: Path) -> None:
    at = _open(FUNNEL, ORG_A)
    with duckdb.connect(str(snapshot_home / "serving.duckdb"), read_only=True) as con:
        lost = con.execute(
            "SELECT from_stage, converted FROM marts.funnel_velocity WHERE org_id = ? AND to_stage = 'lost'",
            [ORG_A],
        ).fetchall()
    assert lost and any(converted for _, converted in lost)
    table = _frame(at, "pair").set_index("pair")
    chart_labels = _figure(at, 0)["layout"]["yaxis"]["categoryarray"]
    for from_stage, converted in lost:
        label = f"{from_stage} → lost (at {from_stage} or later)"
        assert table.loc[label, "converted"] == converted
        assert label in chart_labels
    assert not [p for p in table.index if p.endswith("→ lost")]  # no bare "→ lost" left to misread
    captions = " ".join(c.value for c in at.caption)
    assert "lost from that stage" not in captions
    assert "as the contract defines it" in captions and "**at that stage or any later one**" in captions
    assert "can add up to more than 100 %" in captions


def test_org_selection_survives_page_switches(every_page: dict[str, list[PageView]]) -> None:
    # globex, picked on the app's first page, stays picked through a whole round of the pages.
    views = every_page[ORG_B]
    for view in views:
        assert not view.exceptions, (view.page, view.exceptions)
        assert view.org == ORG_B, view.page
    assert views[-1].page == OVERVIEW
    assert [value for label, value in views[-1].metrics if label == "Events"] == [
        f"{expected(ORG_B).events:,}"
    ]


def test_org_can_be_chosen_by_url(snapshot_home: Path) -> None:
    at = signed_in_app()
    at.query_params["org"] = ORG_B
    at.run()
    at.switch_page(OVERVIEW).run()
    assert not at.exception
    assert _metric(at, "Events") == f"{expected(ORG_B).events:,}"


@pytest.mark.parametrize(
    ("org", "own", "foreign"),
    [
        (
            ORG_A,
            (*ORG_A_ONLY, *ORG_A_LIFECYCLE_ONLY, *ORG_A_WORK_ONLY, *ORG_A_MEMORY_ONLY),
            (*ORG_B_ONLY, *ORG_B_LIFECYCLE_ONLY, *ORG_B_WORK_ONLY, *ORG_B_MEMORY_ONLY),
        ),
        (
            ORG_B,
            (*ORG_B_ONLY, *ORG_B_LIFECYCLE_ONLY, *ORG_B_WORK_ONLY, *ORG_B_MEMORY_ONLY),
            (*ORG_A_ONLY, *ORG_A_LIFECYCLE_ONLY, *ORG_A_WORK_ONLY, *ORG_A_MEMORY_ONLY),
        ),
    ],
)
def test_no_other_tenant_data_is_rendered(
    every_page: dict[str, list[PageView]], org: str, own: tuple, foreign: tuple
) -> None:
    for view in every_page[org]:
        page, text = view.page, view.text
        assert not view.exceptions, (page, view.exceptions)
        if page == DATA_QUALITY:
            # Positive control: the org's own file names do show up, so the search itself works.
            assert own[0] in text
        if page == PIPELINE:
            # Positive control for the lifecycle marts: the org's own owners are rendered.
            assert (ORG_A_LIFECYCLE_ONLY if org == ORG_A else ORG_B_LIFECYCLE_ONLY)[0] in text
        if page == TODAY:
            # Positive control for the work marts: the org's own labels and tags are rendered.
            assert all(
                needle in text for needle in (ORG_A_WORK_ONLY if org == ORG_A else ORG_B_WORK_ONLY)[:2]
            )
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
    at = signed_in_app().run()
    for page in _each_page(at, PAGES):
        assert not at.exception, page
        messages = " ".join(i.value for i in at.info)
        assert "workstream run" in messages and "make demo" in messages
        assert not _charts(at)


def test_snapshot_with_zero_events_shows_empty_states(home: Path) -> None:
    build_snapshot(home / "serving.duckdb", empty=True)
    at = signed_in_app().run()
    for page in _each_page(at, PAGES):
        assert not at.exception, page
        assert any("no organisations" in i.value for i in at.info)
        assert not _charts(at)


def test_a_new_publish_is_picked_up_despite_the_cache(home: Path) -> None:
    snapshot = home / "serving.duckdb"
    build_snapshot(snapshot, version="v1")
    at = signed_in_app()
    at.run()
    at.switch_page(OVERVIEW).run()
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
            "INSERT INTO marts.ingest_ledger_by_org"
            " (content_hash, file, org_id, lines, accepted, duplicates, quarantined, format, status, ingested_at)"
            " VALUES ('h-ini', 'initech.csv', 'initech', 2, 0, 0, 2, 'csv', 'ok', ?)",
            [BUILT_AT],
        )
        con.execute(
            "INSERT INTO marts.quarantine"
            " (content_hash, file, line, reason, detail, raw, org_id, event_id, quarantined_at) VALUES "
            "('h-ini', 'initech.csv', 1, 'naive_timestamp', 'no offset', 'x', 'initech', 'i-1', ?), "
            "('h-ini', 'initech.csv', 2, 'naive_timestamp', 'no offset', 'y', 'initech', 'i-2', ?)",
            [BUILT_AT, BUILT_AT],
        )
    at = _open(OVERVIEW, "initech", user="root@example.test", role="admin")  # an admin reads every org
    assert any("No accepted events" in i.value for i in at.info)
    at.switch_page(FUNNEL).run()
    assert not at.exception
    assert any("No funnel rows" in i.value for i in at.info)
    at.switch_page(DATA_QUALITY).run()
    assert not at.exception
    assert _metric(at, "Quarantined") == "2"
    assert _metric(at, "Accepted") == "0"
    # No lifecycle or outbox rows at all: each new page says so instead of drawing empty charts.
    for page, message in (
        (PIPELINE, "No signals, candidates or pursuits"),
        (QUALITY_GATES, "No gate rows"),
        (WIN_LOSS, "No closed pursuits"),
        (OUTBOX, "no outbox items"),
        (TODAY, "No open candidates or pursuits"),
        (SLA, "No SLA rows"),
        (WORKLOAD, "No owned open items"),
        (PIPELINE_HEALTH, "No pipeline rows"),
        (MEMORY, "No memory cards"),
    ):
        at.switch_page(page).run()
        assert not at.exception
        assert any(message in i.value for i in at.info), page
        assert not _charts(at)


# Table -> the pages that read it; None = every page (the sidebar reads it).
TABLE_READERS: dict[str, tuple[str, ...] | None] = {
    "event_volume_daily": None,
    "snapshot_info": None,
    "funnel_velocity": (FUNNEL,),
    # The period KPIs' rows: caught on their page, whose all-time numbers still render.
    "funnel_stage_entries": (FUNNEL,),
    "gate_attempts": (QUALITY_GATES,),
    "signals": (PIPELINE,),
    "transitions": (PIPELINE,),
    "events": (PIPELINE,),
    "gate_pass_rates": (QUALITY_GATES,),
    "rejected_events": (QUALITY_GATES, PIPELINE),
    "win_loss": (WIN_LOSS,),
    "score_calibration": (WIN_LOSS,),
    "win_patterns": (WIN_LOSS,),
    "outbox_health": (OUTBOX,),
    "dead_letters": (OUTBOX,),
    "today_panel": (TODAY,),
    "follow_ups": (TODAY,),
    # Read last on its page and caught there: the SLA numbers above it still render.
    "alerts": (SLA,),
    "memory_cards": (MEMORY,),
    "memory_atoms": (MEMORY,),
}


def _missing_table_error_shown(at: AppTest) -> bool:
    return any("Re-publish it with `workstream run`" in e.value for e in at.error)


@pytest.mark.parametrize("table", [t for t, readers in TABLE_READERS.items() if readers is None])
def test_snapshot_missing_a_table_explains_instead_of_crashing(snapshot_home: Path, table: str) -> None:
    """A table every page reads (the sidebar does): every page explains."""
    with duckdb.connect(str(snapshot_home / "serving.duckdb")) as con:
        con.execute(f"DROP TABLE marts.{table}")
    at = signed_in_app().run()
    for page in _each_page(at, PAGES):
        assert not at.exception, page
        assert _missing_table_error_shown(at), page


def test_snapshot_missing_a_table_its_pages_read_explains_there_and_nowhere_else(
    snapshot_home: Path, tmp_path: Path
) -> None:
    """Each table that some pages read, missing in turn (every other table there): its readers explain,
    and a page that does not read it (the overview) shows no such error. One session serves every
    table: a new session per table would run the app's first page again each time. The table missing
    before is put back from an untouched copy of the snapshot, and the query cache is cleared, so each
    table's pages are drawn from the snapshot as it is then."""
    serving = snapshot_home / "serving.duckdb"
    pristine = build_snapshot(tmp_path / "pristine.duckdb")
    at = signed_in_app().run()
    shown, missing = DEFAULT_PAGE, None
    for table, readers in TABLE_READERS.items():
        if readers is None:
            continue
        with duckdb.connect(str(serving)) as con:
            if missing is not None:
                con.execute(f"ATTACH '{pristine}' AS pristine (READ_ONLY)")
                con.execute(f"CREATE TABLE marts.{missing} AS SELECT * FROM pristine.marts.{missing}")
            con.execute(f"DROP TABLE marts.{table}")
        missing = table
        st.cache_data.clear()
        for page in (*readers, OVERVIEW):
            if page == shown:
                at.run()  # the page on screen, drawn again from the snapshot as it is now
            else:
                at.switch_page(page).run()
                shown = page
            assert not at.exception, (table, page, [e.value for e in at.exception])
            assert _missing_table_error_shown(at) is (page in readers), (table, page)


def test_unknown_or_hostile_org_in_url_is_refused_never_replaced_by_a_real_org(snapshot_home: Path) -> None:
    for value in ("nope", "globex' OR '1'='1", "../acme", "x" * 5_000):
        at = signed_in_app()
        at.query_params["org"] = value
        at.run()
        at.switch_page(OVERVIEW).run()
        assert not at.exception
        assert any("This organisation cannot be shown" in e.value for e in at.main.error)
        assert not [s for s in at.sidebar.selectbox if s.key == "org"]
        assert not at.metric
        text = _rendered_text(at)
        assert ORG_A not in text and ORG_B not in text


# ------------------------------------------------------------------------------ lifecycle and outbox


def _frame(at: AppTest, column: str):
    """The one dataframe on the page that has `column`."""
    matches = [df.value for df in at.dataframe if column in df.value.columns]
    assert len(matches) == 1, [list(df.value.columns) for df in at.dataframe]
    return matches[0]


def _assert_no_missing_cells(at: AppTest) -> None:
    """Every table cell and metric has a value; gaps read "—", never "None" or "nan".

    A number stays a number (so it sorts as one): its gaps are null and the table's placeholder shows "—".
    """
    for df in at.dataframe:
        frame = df.value
        numeric = [c for c in frame.columns if _is_number_column(frame[c])]
        if frame[numeric].isna().any().any():
            assert df.proto.placeholder == "—", frame.to_string()
        # An item link is null where the row has no item page (a signal); the placeholder shows "—".
        links = [c for c in ("open",) if c in frame.columns]
        if links and frame[links].isna().any().any():
            assert df.proto.placeholder == "—", frame.to_string()
        others = frame.drop(columns=numeric + links)
        assert not others.isna().any().any(), frame.to_string()
        text = others.to_string()
        assert "None" not in text and "nan" not in text.lower().split(), text
    for metric in at.metric:
        assert metric.value not in ("None", "nan", ""), metric.label


def _cells(values) -> dict:
    """A column as {index: value}, a missing number as None."""
    return {k: None if pd.isna(v) else v for k, v in values.to_dict().items()}


def _is_number_column(values) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


# A number with a unit or separators written out as text: "87 d", "1 d 15 h", "12 h 00 min", "97.5%", "$90,000".
NUMBER_AS_TEXT = re.compile(r"^[-+]?[$€]?\d[\d,]*(\.\d+)?\s*(%|[a-z]+( \d+ [a-z]+)?)?$")


@pytest.mark.parametrize("org", [ORG_A, ORG_B])
def test_every_number_in_every_table_sorts_as_a_number_and_is_formatted_by_its_column(
    every_page: dict[str, list[PageView]], org: str
) -> None:
    for view in every_page[org]:
        page = view.page
        assert not view.exceptions, (page, view.exceptions)
        for frame, config in view.tables:
            for column in frame.columns:
                if _is_number_column(frame[column]):
                    type_config = config.get(column, {}).get("type_config", {})
                    assert type_config.get("type") in ("number", "progress"), (page, column, type_config)
                    assert type_config.get("format"), (page, column, type_config)
                else:
                    as_text = [v for v in frame[column] if isinstance(v, str) and NUMBER_AS_TEXT.match(v)]
                    assert not as_text, (page, column, as_text)
    assert any(view.tables for view in every_page[org]), "no page showed a table"


def _figure(at: AppTest, index: int = 0) -> dict:
    return json.loads(_charts(at)[index].proto.spec)


def _select_entity(at: AppTest, key: str) -> None:
    # Options are keyed `entity_type:entity_id`; AppTest lists them by their formatted labels.
    _widget(at.main.selectbox, "Entity").set_value(key).run()
    assert not at.exception, [e.value for e in at.exception]
    assert _widget(at.main.selectbox, "Entity").value == key


def _pipeline_metrics(at: AppTest, prefix: str = "") -> tuple[str, ...]:
    labels = (
        ("signals", "candidates", "pursuits", "value")
        if prefix
        else ("Signals", "Candidates", "Pursuits", "Value")
    )
    return tuple(_metric(at, f"{prefix}{label}") for label in labels)


def test_pipeline_counts_and_values_are_of_open_items_with_the_closed_ones_apart(snapshot_home: Path) -> None:
    at = _open(PIPELINE, ORG_A)
    # acme's open items: signals open and touched, candidates new and triaged, the pursuit in red.
    assert _pipeline_metrics(at, "Open ") == ("2", "2", "1", "$400,000")
    counts = _frame(at, "entities")
    assert set(counts["state"]) == {"Open", "Touched", "New", "Triaged", "Red review"}
    assert any(
        "Not counted above, closed: 2 signals · 1 candidates · 3 pursuits" in c.value for c in at.caption
    )
    assert not [s for s in _widget(at.sidebar.multiselect, "States").options if s.startswith("Won")]

    _widget(at.sidebar.radio, "Show").set_value("closed").run()
    assert not at.exception, [e.value for e in at.exception]
    assert _pipeline_metrics(at, "Closed ") == ("2", "1", "3", "$370,000")
    assert set(_frame(at, "entities")["state"]) == {
        "Linked to a candidate",
        "Dismissed",
        "Promoted to a pursuit",
        "Won",
        "Lost",
    }
    assert not any("Not counted above" in c.value for c in at.caption)


def test_pipeline_counts_by_state_and_owner(snapshot_home: Path) -> None:
    at = _open(PIPELINE, ORG_A)
    _widget(at.sidebar.radio, "Show").set_value("all").run()
    assert _pipeline_metrics(at)[:3] == ("4", "3", "4")
    counts = _frame(at, "entities")
    assert int(counts["entities"].sum()) == 11
    by_owner = counts.groupby("owner")["entities"].sum().to_dict()
    assert by_owner == {"Alice Archer": 4, "Bob Baker": 4, "—": 3}
    # Lifecycle order, not alphabetical: open before touched before linked before dismissed.
    signals = counts[counts["entity_type"] == "Signal"]["state"].tolist()
    assert signals == ["Open", "Touched", "Linked to a candidate", "Dismissed"]
    state_chart, owner_chart = _figure(at, 0), _figure(at, 1)
    assert "signal · open" in state_chart["data"][0]["y"]
    assert owner_chart["layout"]["yaxis"]["categoryarray"][-1] == "unassigned"
    _assert_no_missing_cells(at)


def test_pipeline_filters_narrow_counts_and_the_entity_list(snapshot_home: Path) -> None:
    at = _open(PIPELINE, ORG_A)
    _widget(at.sidebar.radio, "Show").set_value("all").run()
    _widget(at.sidebar.multiselect, "Owners").set_value(["—"]).run()
    assert not at.exception
    assert _pipeline_metrics(at)[:3] == ("1", "1", "1")
    assert any("3 entities match the filters" in c.value for c in at.caption)

    _widget(at.sidebar.multiselect, "Entity types").set_value(["pursuit"]).run()
    assert not at.exception
    assert (_metric(at, "Signals"), _metric(at, "Pursuits")) == ("0", "1")
    assert _widget(at.main.selectbox, "Entity").options == ["— · Pursuit p-a4 (Lost)"]

    _widget(at.sidebar.multiselect, "Owners").set_value([]).run()
    _widget(at.sidebar.multiselect, "States").set_value(["won", "red"]).run()
    assert not at.exception
    entities = _frame(at, "entity_id")
    assert sorted(entities["entity_id"]) == sorted([SHARED_ENTITY_ID, "p-a2"])

    _widget(at.sidebar.multiselect, "Entity types").set_value(["signal"]).run()
    assert not at.exception
    assert any("No entities match these filters" in i.value for i in at.info)
    assert not _charts(at)


def test_pipeline_timeline_merges_applied_warned_and_rejected(snapshot_home: Path) -> None:
    at = _open(PIPELINE, ORG_A)
    _select_entity(at, f"pursuit:{SHARED_ENTITY_ID}")
    timeline = _frame(at, "outcome")
    assert timeline["event_id"].tolist() == ["e-a10", "e-a11", "e-a12", "e-a13", "e-a14"]
    assert timeline["outcome"].tolist() == ["applied", "applied", "rejected", "warned", "no state change"]
    rows = timeline.set_index("event_id")
    # The creation comes from another entity's event (the promotion) and has no from-state.
    assert (rows.loc["e-a10", "event_name"], rows.loc["e-a10", "from_state"]) == ("Candidate promoted", "—")
    assert rows.loc["e-a12", "rule"] == "Pink checklist incomplete at submit"
    assert rows.loc["e-a12", "detail"] == "acme pink checklist missing: pricing_review"
    assert (rows.loc["e-a13", "from_state"], rows.loc["e-a13", "to_state"]) == ("Pink review", "Red review")
    assert "gate_mode=warn" in rows.loc["e-a13", "detail"]
    assert rows.loc["e-a14", "actor"] == "—"
    assert any(
        "5 event(s): 2 applied · 1 warned · 1 rejected · 1 no state change" in c.value for c in at.caption
    )
    _assert_no_missing_cells(at)
    text = _rendered_text(at)
    for needle in ("globex-proposal", "g-e1", "hank@"):
        assert needle not in text


def test_pipeline_timeline_of_the_same_id_in_another_org(snapshot_home: Path) -> None:
    at = _open(PIPELINE, ORG_B)
    _select_entity(at, f"pursuit:{SHARED_ENTITY_ID}")
    timeline = _frame(at, "outcome")
    assert timeline["event_id"].tolist() == ["g-e10", "g-e12", "g-e11", "g-e13"]
    assert timeline["outcome"].tolist() == ["applied", "rejected", "applied", "no state change"]
    text = _rendered_text(at)
    for needle in ("acme pink", "e-a1", "bob@", "pricing_review"):
        assert needle not in text


def test_quality_gates_rates_health_line_and_rejections(snapshot_home: Path) -> None:
    at = _open(QUALITY_GATES, ORG_A)
    assert _metric(at, "Pink gate pass rate") == "75%"
    assert _metric(at, "Red gate pass rate") == "—"
    captions = " ".join(c.value for c in at.caption)
    assert "3 of 4 attempts passed in the period" in captions and "below the 80% health line" in captions
    assert "No attempts in the period · no attempts yet." in captions
    gates = _frame(at, "pass_rate")
    assert _cells(gates.set_index("gate")["pass_rate"]) == {"pink": 0.75, "red": None}
    assert gates.set_index("gate")["top_missing_items"].to_dict() == {
        "pink": "pricing_review, exec_summary",
        "red": "—",
    }
    fig = _figure(at)
    (line,) = fig["layout"]["shapes"]
    assert line["y0"] == line["y1"] == 0.8
    assert "80% health line" in json.dumps(fig["layout"]["annotations"])
    assert list(fig["data"][0]["text"]) == ["75% (3/4)", "no attempts"]
    rejections = _frame(at, "rule")
    assert rejections["event_id"].tolist() == ["e-a13", "e-a12"]
    assert set(rejections["rule"]) == {"Pink checklist incomplete at submit"}
    assert rejections["outcome"].tolist() == ["warned", "rejected"]
    assert "Move not allowed" not in _rendered_text(at)  # not a gate rule
    _assert_no_missing_cells(at)

    at.sidebar.selectbox(key="org").set_value(ORG_B).run()
    assert not at.exception
    assert (_metric(at, "Pink gate pass rate"), _metric(at, "Red gate pass rate")) == ("100%", "50%")
    # Org B's own line, as its snapshot publishes it (health.gate_pass_rate), not a built-in 80 %.
    assert "below the 60% health line" in " ".join(c.value for c in at.caption)
    (line,) = _figure(at)["layout"]["shapes"]
    assert line["y0"] == line["y1"] == 0.6
    assert _frame(at, "rule")["event_id"].tolist() == ["g-e12"]


def test_win_loss_shows_missing_reasons_explicitly(snapshot_home: Path) -> None:
    at = _open(WIN_LOSS, ORG_A)
    assert (_metric(at, "Won"), _metric(at, "Lost"), _metric(at, "Win rate")) == ("1", "2", "33%")
    assert _metric(at, "Reason missing") == "1"
    assert any("no reason recorded" in w.value for w in at.warning)
    table = _frame(at, "reason_code")
    rows = {(r.outcome, r.reason_code): r for r in table.itertuples()}
    assert set(rows) == {("Won", "price"), ("Lost", "missing (no reason given)"), ("Lost", "competitor")}
    assert rows[("Won", "price")].value_usd == 250_000
    assert rows[("Lost", "competitor")].value_usd == 0
    assert rows[("Lost", "competitor")].median_days_to_close == 6.0  # p-a4: created 2 May, closed 8 May
    assert rows[("Lost", "missing (no reason given)")].median_days_to_close == 7.0
    fig = _figure(at)
    assert fig["layout"]["yaxis"]["categoryarray"][-1] == "missing (no reason given)"
    _assert_no_missing_cells(at)

    at.sidebar.selectbox(key="org").set_value(ORG_B).run()
    assert not at.exception
    assert (_metric(at, "Won"), _metric(at, "Lost"), _metric(at, "Reason missing")) == ("0", "1", "0")
    assert not at.warning


def test_win_loss_shows_the_score_against_the_base_rate_and_the_patterns(snapshot_home: Path) -> None:
    at = _open(WIN_LOSS, ORG_A)
    assert (_metric(at, "Brier score, model"), _metric(at, "Brier score, base rate")) == ("0.201", "0.244")
    assert _metric(at, "Held-out pursuits") == "100"
    assert any("beats the base rate" in c.value for c in at.caption)
    bullets = " ".join(m.value for m in at.markdown)
    assert "Win rate is 40 % higher when memory holds an entry tagged risk mitigation." in bullets
    assert _frame(at, "pattern")["lift"].tolist() == [1.4, 0.75]
    assert not any("prior scorecard" in i.value for i in at.info)

    at.sidebar.selectbox(key="org").set_value(ORG_B).run()
    assert not at.exception
    assert _metric(at, "Brier score, prior") == "0.260"
    assert any("prior scorecard" in i.value for i in at.info)  # the page says the org gets the prior
    assert any("No pattern for **globex**" in i.value for i in at.info)
    assert "risk mitigation" not in " ".join(m.value for m in at.markdown)


def test_outbox_health_numbers_dead_letters_and_retry_hint(snapshot_home: Path) -> None:
    at = _open(OUTBOX, ORG_A)
    assert _metric(at, "Pending") == "3"
    assert _metric(at, "Retrying") == "1"
    assert _metric(at, "Oldest pending") == "12 min 34 s"
    assert _metric(at, "Dead letters") == "2"
    assert _metric(at, "Processed (last hour)") == "17"
    letters = _frame(at, "last_error")
    assert letters["event_id"].tolist() == ["e-a31", "e-a30"]
    assert letters.set_index("event_id")["last_error"].to_dict() == {
        "e-a31": "—",
        "e-a30": "acme-crm webhook timeout after 30s",
    }
    assert letters["dead_at"].tolist() == ["2024-05-09 11:00 UTC", "2024-05-09 10:00 UTC"]
    hint = " ".join(i.value for i in at.info)
    assert "workstream outbox retry --home DIR --org ORG --event-id ID" in hint
    assert f"--org {ORG_A} --event-id e-a31" in hint
    _assert_no_missing_cells(at)

    at.sidebar.selectbox(key="org").set_value(ORG_B).run()
    assert not at.exception
    assert _metric(at, "Oldest pending") == "—"
    assert _metric(at, "Pending") == "0"
    assert _frame(at, "last_error")["event_id"].tolist() == ["g-e30"]


@pytest.mark.parametrize("page", NEW_PAGES)
def test_new_pages_by_url(snapshot_home: Path, page: str) -> None:
    at = signed_in_app()
    at.query_params["org"] = ORG_B
    at.run()
    at.switch_page(page).run()
    assert not at.exception
    assert at.sidebar.selectbox(key="org").value == ORG_B
    _assert_no_missing_cells(at)


def test_snapshot_missing_a_column_explains_instead_of_crashing(snapshot_home: Path) -> None:
    # An older pipeline may publish a mart without a column this dashboard reads.
    with duckdb.connect(str(snapshot_home / "serving.duckdb")) as con:
        con.execute("ALTER TABLE marts.outbox_health DROP COLUMN retrying")
    at = _open(OVERVIEW)
    at.switch_page(OUTBOX).run()
    assert not at.exception
    assert any("Re-publish it with `workstream run`" in e.value for e in at.error)


# ------------------------------------------------------------------------------------------- work pages


def _today_ids(at: AppTest) -> list[str]:
    """The item ids of the Today table, read from each row's link to its item page."""
    return [link.rsplit("id=", 1)[1] for link in _frame(at, "why")["open"]]


def _today_filter(at: AppTest, label: str, values: list[str]) -> None:
    _widget(at.sidebar.multiselect, label).set_value(values).run()
    assert not at.exception, [e.value for e in at.exception]


def test_today_ranks_items_with_why_badge_words_top_memory_and_a_link_to_each(snapshot_home: Path) -> None:
    at = _open(TODAY, ORG_A)
    assert (_metric(at, "Open items"), _metric(at, "Critical")) == ("5", "2")
    assert (_metric(at, "High"), _metric(at, "Red badges")) == ("1", "1")
    table = _frame(at, "why")
    want = expected_panel(ORG_A)
    assert table["rank"].tolist() == [1, 2, 3, 4, 5]
    assert table["open"].tolist() == [f"item?org={ORG_A}&type={r[1]}&id={r[2]}" for r in want]
    top = table.iloc[0]
    # The item by its title, not the panel's "Pursuit #p-100: …" label with its id.
    assert (top["badge"], top["title"], top["owner"], top["due_date"]) == (
        "SLA breach",
        "Acme HQ refit",
        "Bob Baker",
        "2024-05-12",
    )
    assert top["why"] == "urgency +100 · value +40 · stage +25 · compliance +20 · workload −6"
    assert top["top_atom"] == "Note: Acme procurement asked for fixed pricing per floor"
    assert table["badge"].tolist()[1:] == ["Needs attention"] * 3 + ["On track"]
    # Narrow enough for a 1440-px screen: the components, ids, tier and tags are on the item page.
    assert list(table.columns) == ["open", "rank", "badge", "title", "owner", "due_date", "why", "top_atom"]
    canteen = table.set_index("title").loc["Acme canteen"]
    assert (canteen["owner"], canteen["due_date"], canteen["top_atom"]) == ("—", "—", "—")
    assert not any(c.value.startswith("Showing") for c in at.caption)  # all 5 fit under the cap
    _assert_no_missing_cells(at)


def test_today_lists_follow_ups_with_their_why(snapshot_home: Path) -> None:
    at = _open(TODAY, ORG_A)
    table = _frame(at, "reason")
    # Quiet proposals, then client preferences, then quiet signals, the most recently due first.
    assert table["kind"].tolist() == [
        "Proposal gone quiet",
        "Client preference",
        "Signal waiting on a reply",
        "Signal waiting on a reply",
    ]
    link = f"item?org={ORG_A}&type=pursuit&id=p-100"
    assert table["open"].tolist()[:2] == [link, link]
    assert table["open"].isna().tolist() == [False, False, True, True]  # a signal has no item page
    # The item's title; a signal, which has none, by where it came from, else its id.
    assert table["label"].tolist() == ["Acme HQ refit"] * 2 + ["sig-a8", "sig-a9"]
    assert table["reason"].iloc[0].startswith("Proposal v1 is out and nothing has happened since")
    assert "Always CC the CFO" in table["reason"].iloc[1]
    _assert_no_missing_cells(at)

    at.sidebar.selectbox(key="org").set_value(ORG_B).run()
    assert not at.exception
    assert any("No follow-up is due for **globex**" in i.value for i in at.info)


def test_today_filters_by_owner_tier_tag_and_type(snapshot_home: Path) -> None:
    at = _open(TODAY, ORG_A)
    assert _widget(at.sidebar.multiselect, "Tags").options == ["acme-roof", "hq"]
    assert _widget(at.sidebar.multiselect, "Owners").options[-1] == "— (unassigned)"
    _today_filter(at, "Tags", ["hq"])
    assert _today_ids(at) == [SHARED_ENTITY_ID, "p-a5", "cand-a4"]
    assert any("3 of 5 open items match the filters" in c.value for c in at.caption)
    _today_filter(at, "Priority tiers", ["critical"])
    assert (_metric(at, "Open items"), _metric(at, "Critical"), _metric(at, "High")) == ("2", "2", "0")
    _today_filter(at, "Owners", ["alice@acme"])
    assert _today_ids(at) == ["p-a5"]
    _today_filter(at, "Item types", ["candidate"])
    assert any("No open items match these filters" in i.value for i in at.info)
    assert _metric(at, "Open items") == "0"

    at = _open(TODAY, ORG_A)
    _today_filter(at, "Owners", ["—"])
    assert _today_ids(at) == ["cand-a3"]


def test_today_shows_only_the_top_rows_and_says_so(
    snapshot_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(today_queries, "TODAY_ROWS", 2)
    at = _open(TODAY, ORG_A)
    assert _frame(at, "why")["rank"].tolist() == [1, 2]
    assert _metric(at, "Open items") == "5"
    assert any("Showing 2 of 5" in c.value for c in at.caption)


def test_sla_compliance_summary_trend_breaches_and_alerts(snapshot_home: Path) -> None:
    at = _open(SLA, ORG_A)
    assert _metric(at, "Triage compliance") == "90%"
    assert _metric(at, "Proposal compliance") == "75%"
    assert _metric(at, "Response compliance") == "—"
    captions = " ".join(c.value for c in at.caption)
    assert "1 of 4 breached in the period · 1 open now" in captions
    assert "breach rate 25% all time, above the 5% health line" in captions
    assert "Nothing eligible in the period · nothing eligible yet." in captions
    summary = _frame(at, "breach_rate_pct").set_index("metric")
    assert _cells(summary["compliance_pct"]) == {"triage": 90.0, "proposal": 75.0, "response": None}
    assert summary["threshold_hours"].to_dict()["proposal"] == 72.0
    fig = _figure(at)
    assert [t["name"] for t in fig["data"] if "lines" in t.get("mode", "")] == ["triage", "proposal"]
    (line,) = [shape for shape in fig["layout"]["shapes"] if shape["yref"] == "y"]
    assert line["y0"] == line["y1"] == 95
    assert any("fewer than 5 is a hollow marker labelled with its count" in c.value for c in at.caption)
    assert "5% breach-rate health line" in json.dumps(fig["layout"]["annotations"])
    breaches = _frame(at, "hours_over_threshold")
    assert breaches[["item_id", "metric"]].values.tolist() == [
        [SHARED_ENTITY_ID, "Proposal"]
    ]  # the metric in words
    assert breaches["hours_over_threshold"].tolist() == [110.0]
    alerts = _frame(at, "delivery_status")
    assert alerts["kind"].tolist() == ["Breach", "Breach", "Retraction"]  # newest first
    assert alerts.set_index("sink")["last_error"].to_dict() == {
        "log": "—",
        "table": "—",
        "webhook": ORG_A_WORK_ONLY[2],
    }
    _assert_no_missing_cells(at)

    at.sidebar.selectbox(key="org").set_value(ORG_B).run()
    assert not at.exception
    assert _metric(at, "Triage compliance") == "97.5%"
    # Org B's own line, as its snapshot publishes it (health.sla_breach_rate_pct), not a built-in 5 %.
    assert "breach rate 2.5% all time, within 3%" in " ".join(c.value for c in at.caption)
    (line,) = [shape for shape in _figure(at)["layout"]["shapes"] if shape["yref"] == "y"]
    assert line["y0"] == line["y1"] == 97
    assert _frame(at, "delivery_status")["delivery_status"].tolist() == ["pending"]


def test_sla_thresholds_say_which_moment_they_belong_to_and_read_in_the_same_unit(
    snapshot_home: Path,
) -> None:
    # The org lowers its proposal threshold after the open breach's clock started under the old one.
    _publish_change(
        snapshot_home / "serving.duckdb",
        "UPDATE marts.sla_compliance_summary SET threshold_hours = 48 WHERE org_id = ? AND metric = 'proposal'",
        [ORG_A],
        "v2",
    )
    at = _open(SLA, ORG_A)
    summary = json.loads(
        next(df for df in at.dataframe if "breach_rate_pct" in df.value.columns).proto.columns
    )
    breaches = json.loads(
        next(df for df in at.dataframe if "hours_over_threshold" in df.value.columns).proto.columns
    )
    assert summary["threshold_hours"]["label"] == "Threshold now"
    assert breaches["threshold_hours"]["label"] == "Clock's threshold"
    assert "when the clock started" in breaches["threshold_hours"]["help"]
    # One unit for every hour column, so 12 h and 24 h never read as "12 h" and "1 d".
    formats = {
        summary["threshold_hours"]["type_config"]["format"],
        breaches["threshold_hours"]["type_config"]["format"],
        breaches["hours_over_threshold"]["type_config"]["format"],
    }
    assert formats == {"%.1f h"}
    assert _frame(at, "hours_over_threshold")["threshold_hours"].tolist() == [72.0]
    assert _frame(at, "breach_rate_pct").set_index("metric")["threshold_hours"]["proposal"] == 48.0
    captions = " ".join(c.value for c in at.caption)
    assert "started under an earlier threshold, which they keep: proposal 72.0 h then, 48.0 h now" in captions


def test_owner_workload_by_tier(snapshot_home: Path) -> None:
    at = _open(WORKLOAD, ORG_A)
    assert (_metric(at, "Owners"), _metric(at, "Owned items")) == ("2", "4")
    assert (_metric(at, "SLA breaches"), _metric(at, "Stale items")) == ("1", "1")
    rows = _frame(at, "stale_items").set_index("owner")
    assert rows.loc["Alice Archer", "critical_items"] == 1 and rows.loc["Alice Archer", "high_items"] == 1
    assert rows.loc["Alice Archer", "max_hours_without_touch"] == 207.0
    assert rows.loc["Bob Baker", "avg_priority_score"] == 115.0
    fig = _figure(at)
    assert [t["name"] for t in fig["data"]] == ["critical", "high", "medium", "low"]
    assert fig["layout"]["barmode"] == "stack"
    assert sorted(fig["layout"]["yaxis"]["categoryarray"]) == ["Alice Archer", "Bob Baker"]
    _assert_no_missing_cells(at)


def test_pipeline_health_stages_and_monthly_win_rate(snapshot_home: Path) -> None:
    at = _open(PIPELINE_HEALTH, ORG_A)
    assert (_metric(at, "Open pursuits"), _metric(at, "Open value")) == ("2", "$460,000")
    assert (_metric(at, "Aging"), _metric(at, "Slipped")) == ("1", "1")
    stages = _frame(at, "p75_hours_in_stage")
    assert stages["stage"].tolist() == ["Qualification", "Pink review", "Red review", "Submitted"]
    assert list(_cells(stages["p75_hours_in_stage"]).values()) == [None, 20.0, 48.0, None]
    months = _frame(at, "win_rate")
    assert months.values.tolist() == [["2024-03", 2, 1, 2 / 3], ["2024-05", 1, 2, 1 / 3]]
    assert any("3 won and 3 lost over 2 month(s)" in c.value for c in at.caption)
    stage_fig, win_fig = _figure(at, 0), _figure(at, 1)
    assert list(stage_fig["data"][0]["x"]) == ["qual", "pink", "red", "submit"]
    assert [(t["type"], t["name"]) for t in win_fig["data"]] == [
        ("bar", "won"),
        ("bar", "lost"),
        ("scatter", "win rate"),
        ("scatter", "win rate: under 5 closed"),  # both fixture months have 3 closes
    ]
    assert win_fig["data"][2]["yaxis"] == "y2"
    assert list(win_fig["data"][3]["text"]) == ["n=3", "n=3"]
    assert any("fewer than 5 closes is a hollow marker" in c.value for c in at.caption)
    _assert_no_missing_cells(at)


# ------------------------------------------------------------------------------------------------ memory


def _markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def _pick_memory_entity(at: AppTest, entity_type: str, entity_id: str | None = None) -> None:
    _widget(at.main.selectbox, "Entity type").set_value(entity_type).run()
    assert not at.exception, [e.value for e in at.exception]
    if entity_id is not None:
        _widget(at.main.selectbox, "Entity").set_value(entity_id).run()
        assert not at.exception, [e.value for e in at.exception]
        assert _widget(at.main.selectbox, "Entity").value == entity_id


def _search_memory(at: AppTest, query: str) -> list[str]:
    """Type a query; return the rendered hits (markdown blocks carrying a score)."""
    _widget(at.main.text_input, "Search memory").input(query).run()
    assert not at.exception, [e.value for e in at.exception]
    return [m.value for m in at.markdown if "· score " in m.value]


def _newest_first(atoms: list[dict]) -> list[str]:
    return [a["atom_id"] for a in sorted(atoms, key=lambda a: (a["occurred_at"], a["atom_id"]), reverse=True)]


def _submit_governance(
    at: AppTest, atom_id: str, action: str, *, confirm: bool = True, **fields: str
) -> None:
    """Pick an atom and an action, fill the form (`reason`, `content`), submit it and confirm."""
    _widget(at.main.selectbox, "Atom").set_value(atom_id).run()
    _widget(at.main.radio, "Action").set_value(action).run()
    assert not at.exception, [e.value for e in at.exception]
    _fill_governance_form(at, action, **fields)
    if confirm:
        _confirm_governance(at, action)


def _fill_governance_form(at: AppTest, action: str, **fields: str) -> None:
    _widget(at.main.text_area, "Reason").input(fields.get("reason", ""))
    if "content" in fields:
        _widget(at.main.text_area, "New content").input(fields["content"])
    label = "Request redaction" if action == "memory.redacted" else "Request correction"
    _widget(at.main.button, label).click().run()
    assert not at.exception, [e.value for e in at.exception]


def _confirm_governance(at: AppTest, action: str) -> None:
    label = "Confirm redaction" if action == "memory.redacted" else "Confirm correction"
    _widget(at.main.button, label).click().run()
    assert not at.exception, [e.value for e in at.exception]


def _publish_change(snapshot: Path, sql: str, params: list, version: str) -> None:
    """Change the published snapshot in place as a new publish would (new version)."""
    with duckdb.connect(str(snapshot)) as con:
        con.execute(sql, params)
        con.execute("UPDATE marts.snapshot_info SET snapshot_version = ?", [version])


def test_memory_client_card_and_timeline_roll_up_its_entities(snapshot_home: Path) -> None:
    at = _open(MEMORY, ORG_A)
    assert _widget(at.main.selectbox, "Entity type").value == "client"
    assert _widget(at.main.selectbox, "Entity").value == "cli-a1"
    rolled_up = [a for a in memory_atoms(ORG_A) if a["client_id"] == "cli-a1"]
    assert _metric(at, "Live atoms") == str(len(rolled_up)) == "4"
    assert _metric(at, "Card version") == str(sum(a["version"] for a in rolled_up))
    text = _markdown(at)
    for section in ("Key facts", "Recent activity", "Decisions", "Risks"):
        assert f"**{section}**" in text
    assert at.expander[0].label == "Top atoms (4)"
    # Readable lists with type badges: the client's own preference, a candidate's decision and risk.
    assert ":violet-badge[preference] Prefers fixed pricing on every proposal (ACME-MEM-PREF)" in text
    assert ":blue-badge[decision] Chose the phased rollout plan" in text
    assert ":red-badge[risk] Budget freeze risk\\: the board" in text  # stored text is escaped
    assert "· _2024-05-06 09:00 UTC_" in text

    timeline = _frame(at, "relevance")
    assert timeline["atom_id"].tolist() == _newest_first(rolled_up)
    assert set(timeline["about"]) == {
        "Client: Acme Holdings",
        "Candidate: Acme HQ refit",
        "Pursuit: Acme HQ refit",
    }
    assert "m-a5" not in timeline["atom_id"].tolist()  # sig-a1 has no client
    _assert_no_missing_cells(at)


def test_memory_picker_labels_entities_with_their_names(snapshot_home: Path) -> None:
    at = _open(MEMORY, ORG_A)
    assert _widget(at.main.selectbox, "Entity type").options == [
        "Client (1)",
        "Candidate (1)",
        "Pursuit (1)",
        "Signal (1)",
    ]
    assert _widget(at.main.selectbox, "Entity").options == ["Acme Holdings · cli-a1"]  # a client by its name
    assert any(h.value == "Client Acme Holdings · cli-a1" for h in at.subheader)
    _pick_memory_entity(at, "candidate")
    assert _widget(at.main.selectbox, "Entity").options == ["Acme HQ refit · cand-a1"]
    assert _frame(at, "relevance")["atom_id"].tolist() == ["m-a2", "m-a1"]
    assert _metric(at, "Live atoms") == "2"

    _pick_memory_entity(at, "pursuit", SHARED_ENTITY_ID)
    assert _frame(at, "relevance")["atom_id"].tolist() == [SHARED_ATOM_ID]
    text = _rendered_text(at)
    assert "Acme procurement asked" in text and "GLOBEX-MEM-RISK" not in text
    # An empty section reads "—", never "None".
    assert "None" not in _markdown(at)

    _pick_memory_entity(at, "signal", "sig-a1")
    assert _frame(at, "relevance")["source"].tolist() == ["system"]
    _assert_no_missing_cells(at)


def test_memory_search_hits_are_scoped_to_the_org(snapshot_home: Path) -> None:
    at = _open(MEMORY, ORG_A)
    hits = _search_memory(at, "pricing")
    assert len(hits) == 2
    joined = "\n".join(hits)
    assert "**Client cli-a1**" in joined and f"**Pursuit {SHARED_ENTITY_ID}**" in joined
    assert "client **Acme Holdings**" in joined  # the client by name
    assert "fixed **pricing** on every proposal" in joined  # the snippet, terms in bold
    assert ":violet-badge[preference]" in joined and ":gray-badge[note]" in joined
    assert "· score 1.00 ·" in joined or "· score 0." in joined
    assert not any(needle in _rendered_text(at) for needle in ORG_B_MEMORY_ONLY)

    # Narrowed to the selected card: the signal mentions no pricing.
    _pick_memory_entity(at, "signal", "sig-a1")
    _widget(at.main.toggle, "Only this card").set_value(True).run()
    assert not [m.value for m in at.markdown if "· score " in m.value]
    assert any("No live memory matches" in i.value for i in at.info)

    at_b = _open(MEMORY, ORG_B)
    hits_b = _search_memory(at_b, "pricing")
    assert len(hits_b) == 1 and "GLOBEX-MEM-RISK" in hits_b[0] and "**Pricing**" in hits_b[0]
    text_b = _rendered_text(at_b)
    assert not any(needle in text_b for needle in ORG_A_MEMORY_ONLY)
    assert _search_memory(at_b, "phased rollout") == []  # acme's decision, not globex's


def test_memory_search_shows_identical_atoms_as_one_hit_with_a_count(snapshot_home: Path) -> None:
    snapshot = snapshot_home / "serving.duckdb"
    for n, candidate in enumerate(("cand-a2", "cand-a3", "cand-a2"), start=1):
        _copy_atom(
            snapshot, ORG_A, SHARED_ATOM_ID, f"m-copy{n}", entity_type="candidate", entity_id=candidate
        )
    with duckdb.connect(str(snapshot)) as con:
        build_index(con)
        con.execute("UPDATE marts.snapshot_info SET snapshot_version = 'copies'")
    at = _open(MEMORY, ORG_A)
    hits = _search_memory(at, "pricing")
    assert len(hits) == 2  # the note and its three copies are one hit, beside the preference
    (note,) = [h for h in hits if "procurement" in h]
    assert "**4 copies**" in note
    assert note.lower().count("candidate cand-a2") == 2 and "candidate cand-a3" in note.lower()


@pytest.mark.parametrize(("org", "foreign"), [(ORG_A, ORG_B_MEMORY_ONLY), (ORG_B, ORG_A_MEMORY_ONLY)])
def test_memory_never_shows_another_org_on_any_card(snapshot_home: Path, org: str, foreign: tuple) -> None:
    at = _open(MEMORY, org)
    _search_memory(at, "pricing decision")
    seen = 0
    for entity_type in [o.split(" ")[0].lower() for o in _widget(at.main.selectbox, "Entity type").options]:
        _pick_memory_entity(at, entity_type)
        entity = _widget(at.main.selectbox, "Entity")
        for index in range(len(entity.options)):
            _widget(at.main.selectbox, "Entity").select_index(index).run()
            assert not at.exception, [e.value for e in at.exception]
            text = _rendered_text(at)
            assert not [needle for needle in foreign if needle in text], (entity_type, index)
            assert "None" not in _markdown(at)
            _assert_no_missing_cells(at)
            seen += 1
    atoms = memory_atoms(org)
    cards = {(a["entity_type"], a["entity_id"]) for a in atoms} | {("client", a["client_id"]) for a in atoms}
    assert seen == len(cards - {("client", None)})


def test_memory_redact_writes_one_inbox_file_and_shows_pending_until_applied(
    snapshot_home: Path, inbox: Path
) -> None:
    at = _open(MEMORY, ORG_A, user="alice@acme")
    _submit_governance(at, "m-a2", "memory.redacted", reason="Board member's private data")

    (written,) = sorted(inbox.iterdir())
    assert written.name.startswith("governance-") and written.suffix == ".jsonl"
    (event,) = [json.loads(line) for line in written.read_text().splitlines()]
    assert event["event_name"] == "memory.redacted"
    assert (event["org_id"], event["entity_type"], event["entity_id"], event["actor"]) == (
        ORG_A,
        "candidate",
        "cand-a1",
        "alice@acme",
    )
    assert event["payload"] == {"atom_id": "m-a2", "reason": "Board member's private data"}
    assert written.name == f"governance-{event['event_id']}.jsonl"
    assert dt.datetime.fromisoformat(event["occurred_at"]).utcoffset() == dt.timedelta(0)
    assert any(written.name in s.value for s in at.success)

    requests = _frame(at, "status")
    assert requests[["status", "action", "atom_id", "file"]].values.tolist() == [
        ["pending", "Redact", "m-a2", written.name]
    ]
    assert requests["content"].tolist() == ["—"]
    picker = _widget(at.main.selectbox, "Atom")
    assert picker.options[picker.index].endswith("· request pending")
    # A fresh form for the next request; the actor is the signed-in user, not a typed email.
    assert _widget(at.main.text_area, "Reason").value == ""
    assert not [w for w in at.main.text_input if w.label == "Your email"]
    assert any("Requested by **alice@acme** (you)" in c.value for c in at.main.caption)
    _assert_no_missing_cells(at)

    # The next publish no longer holds the atom: the request reads "applied".
    _publish_change(
        snapshot_home / "serving.duckdb",
        "DELETE FROM marts.memory_atoms WHERE org_id = ? AND atom_id = ?",
        [ORG_A, "m-a2"],
        "v2",
    )
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert _frame(at, "status")["status"].tolist() == ["applied"]
    # Requests are per org: globex sees none of acme's.
    at.sidebar.selectbox(key="org").set_value(ORG_B).run()
    assert not at.exception
    assert not [df for df in at.dataframe if "status" in df.value.columns]


def test_memory_correct_is_pending_until_the_new_content_is_published(
    snapshot_home: Path, inbox: Path
) -> None:
    at = _open(MEMORY, ORG_A)
    _submit_governance(
        at,
        "m-a1",
        "memory.corrected",
        reason="Wrong plan recorded",
        content="Chose the single-phase plan",
    )
    (written,) = sorted(inbox.iterdir())
    (event,) = [json.loads(line) for line in written.read_text().splitlines()]
    assert event["event_name"] == "memory.corrected"
    assert event["payload"] == {
        "atom_id": "m-a1",
        "content": "Chose the single-phase plan",
        "reason": "Wrong plan recorded",
    }
    assert _frame(at, "status")[["status", "action", "content"]].values.tolist() == [
        ["pending", "Correct", "Chose the single-phase plan"]
    ]

    _publish_change(
        snapshot_home / "serving.duckdb",
        "UPDATE marts.memory_atoms SET content = ?, version = version + 1 WHERE org_id = ? AND atom_id = ?",
        ["Chose the single-phase plan", ORG_A, "m-a1"],
        "v2",
    )
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert _frame(at, "status")["status"].tolist() == ["applied"]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"reason": "  "}, "a reason"),
        ({"reason": "\n\t "}, "a reason"),
    ],
)
def test_memory_request_without_reason_writes_nothing(
    snapshot_home: Path, inbox: Path, fields: dict, problem: str
) -> None:
    at = _open(MEMORY, ORG_A)
    _submit_governance(at, "m-a2", "memory.redacted", confirm=False, **fields)
    assert not [b for b in at.main.button if b.label == "Confirm redaction"]
    assert any(problem in e.value and "Nothing was written" in e.value for e in at.error)
    assert not inbox.exists() or list(inbox.iterdir()) == []
    assert not [df for df in at.dataframe if "status" in df.value.columns]


def _copy_atom(snapshot: Path, org: str, source_atom_id: str, atom_id: str, **changes: str) -> None:
    """Publish one more live atom: a copy of `source_atom_id` under another id, with `changes` applied."""
    replaced = ", ".join([f"?::VARCHAR AS {column}" for column in changes] + ["?::VARCHAR AS atom_id"])
    with duckdb.connect(str(snapshot)) as con:
        con.execute(
            f"INSERT INTO marts.memory_atoms SELECT * REPLACE ({replaced}) FROM marts.memory_atoms "
            "WHERE org_id = ? AND atom_id = ?",
            [*changes.values(), atom_id, org, source_atom_id],
        )


def _atom_picker_matches_the_screen(at: AppTest) -> str:
    """The picked atom is one of the atoms the timeline on screen lists; returns its id."""
    picked = _widget(at.main.selectbox, "Atom").value
    assert picked in _frame(at, "relevance")["atom_id"].tolist()
    return picked


def _confirmation_text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown if m.value.startswith("- Redact") or "- Correct" in m.value)


def _written_events(inbox: Path) -> list[dict]:
    files = sorted(inbox.iterdir()) if inbox.exists() else []
    return [json.loads(line) for f in files for line in f.read_text().splitlines()]


def test_the_governance_form_only_acts_on_the_atom_on_screen_across_entity_switches(
    snapshot_home: Path, inbox: Path
) -> None:
    at = _open(MEMORY, ORG_A)
    # On the client's roll-up, pick the candidate's decision and ask to redact it: nothing is written yet,
    # and the confirmation names the entity, the atom type, the atom and the first words of its content.
    _submit_governance(at, "m-a1", "memory.redacted", confirm=False, reason="Private")
    assert _atom_picker_matches_the_screen(at) == "m-a1"
    confirmation = _confirmation_text(at)
    assert "Redact the decision atom m-a1 of candidate cand-a1" in confirmation
    assert "Chose the phased rollout plan for the HQ …" in confirmation
    assert _written_events(inbox) == []

    # Switching the entity type drops the unconfirmed request: no confirm button is left to press, and
    # the picker and the form start fresh on an atom of the record now on screen.
    _pick_memory_entity(at, "pursuit")
    assert _widget(at.main.selectbox, "Entity").value == SHARED_ENTITY_ID
    assert not [b for b in at.main.button if b.label.startswith("Confirm")]
    assert any("unconfirmed request was dropped" in i.value for i in at.info)
    assert _atom_picker_matches_the_screen(at) == SHARED_ATOM_ID
    assert _widget(at.main.text_area, "Reason").value == ""

    # Back on the candidate: its own picker; a request made there names and writes exactly that atom.
    _pick_memory_entity(at, "candidate", "cand-a1")
    picked = _atom_picker_matches_the_screen(at)
    _widget(at.main.radio, "Action").set_value("memory.redacted").run()
    _fill_governance_form(at, "memory.redacted", reason="Private")
    shown = _frame(at, "relevance").set_index("atom_id").loc[picked]
    assert f"Redact the {shown['atom_type']} atom {picked} of candidate cand-a1" in _confirmation_text(at)
    _confirm_governance(at, "memory.redacted")
    (event,) = _written_events(inbox)
    assert (event["entity_type"], event["entity_id"], event["payload"]["atom_id"]) == (
        "candidate",
        "cand-a1",
        picked,
    )


def test_two_atoms_that_look_alike_are_two_choices_and_the_chosen_one_is_acted_on(
    snapshot_home: Path, inbox: Path
) -> None:
    # Same entity, type, minute and text: only the id tells them apart.
    _copy_atom(snapshot_home / "serving.duckdb", ORG_A, "m-a2", "m-a2-twin")
    at = _open(MEMORY, ORG_A)
    _pick_memory_entity(at, "candidate", "cand-a1")
    picker = _widget(at.main.selectbox, "Atom")
    assert len(set(picker.options)) == len(picker.options) == 3
    _widget(at.main.selectbox, "Atom").set_value("m-a2").run()
    # The twin holds the same text: offered, and left out here.
    _widget(at.main.multiselect, "Also redact the same text in").set_value([])
    _fill_governance_form(at, "memory.redacted", reason="Private")
    assert "m-a2-twin" not in _confirmation_text(at)
    _confirm_governance(at, "memory.redacted")
    assert [e["payload"]["atom_id"] for e in _written_events(inbox)] == ["m-a2"]


def test_the_same_text_in_several_atoms_of_an_entity_is_shown_and_erased_in_one_request(
    snapshot_home: Path, inbox: Path
) -> None:
    snapshot = snapshot_home / "serving.duckdb"
    secret = "Budget freeze risk: the board may delay the HQ budget"
    # The same text, with other case and line breaks, in a note of the same candidate and inside a longer
    # decision of its pursuit; another org's atom and an unrelated atom of the candidate stay out.
    _copy_atom(
        snapshot, ORG_A, "m-a2", "m-a2-note", atom_type="note", content=secret.upper().replace(" ", "\n  ", 2)
    )
    _copy_atom(
        snapshot,
        ORG_A,
        "m-a2",
        "m-p-copy",
        entity_type="pursuit",
        entity_id=SHARED_ENTITY_ID,
        atom_type="decision",
        content=f"Escalated. {secret}.",
    )
    _copy_atom(snapshot, ORG_B, "m-g1", "m-g-copy", content=secret)
    at = _open(MEMORY, ORG_A)
    _pick_memory_entity(at, "candidate", "cand-a1")
    _widget(at.main.selectbox, "Atom").set_value("m-a2").run()
    warning = " ".join(w.value for w in at.warning)
    assert "also in 1 other live atom" in warning and "m-a2-note" in warning
    assert "m-p-copy" not in warning and "m-g-copy" not in warning and "m-a1" not in warning

    # On the client's roll-up the pursuit's copy belongs to the record on screen too.
    _pick_memory_entity(at, "client", "cli-a1")
    _submit_governance(at, "m-a2", "memory.redacted", confirm=False, reason="Private")
    assert sorted(_widget(at.main.multiselect, "Also redact the same text in").value) == [
        "m-a2-note",
        "m-p-copy",
    ]
    confirmation = _confirmation_text(at)
    for line in (
        "Redact the risk atom m-a2 of candidate cand-a1",
        "Redact the note atom m-a2-note of candidate cand-a1",
        f"Redact the decision atom m-p-copy of pursuit {SHARED_ENTITY_ID}",
    ):
        assert line in confirmation
    assert "m-g-copy" not in _rendered_text(at)
    _confirm_governance(at, "memory.redacted")

    (written,) = sorted(inbox.iterdir())
    events = _written_events(inbox)
    # One request: one file; one redaction per atom, each its own event (and so its own audit entry).
    assert [(e["entity_type"], e["entity_id"], e["payload"]["atom_id"]) for e in events] == [
        ("candidate", "cand-a1", "m-a2"),
        ("candidate", "cand-a1", "m-a2-note"),
        ("pursuit", SHARED_ENTITY_ID, "m-p-copy"),
    ]
    assert len({e["event_id"] for e in events}) == 3
    assert {e["event_name"] for e in events} == {"memory.redacted"}
    assert {(e["org_id"], e["actor"], e["payload"]["reason"]) for e in events} == {
        (ORG_A, FIXTURE_USER, "Private")
    }
    requests = _frame(at, "status")
    assert sorted(requests["atom_id"]) == ["m-a2", "m-a2-note", "m-p-copy"]
    assert set(requests["file"]) == {written.name} and set(requests["status"]) == {"pending"}


def test_a_cancelled_request_writes_nothing_and_a_correction_names_its_new_content(
    snapshot_home: Path, inbox: Path
) -> None:
    at = _open(MEMORY, ORG_A)
    _submit_governance(
        at,
        "m-a4",
        "memory.corrected",
        confirm=False,
        reason="Typo",
        content="Prefers fixed fees",
    )
    assert "Correct the preference atom m-a4 of client cli-a1" in _confirmation_text(at)
    assert any("New content: \u201cPrefers fixed fees\u201d" in m.value for m in at.markdown)
    _widget(at.main.button, "Cancel").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [b for b in at.main.button if b.label.startswith("Confirm")]
    assert _written_events(inbox) == []


def test_a_confirmation_for_an_atom_that_changed_meanwhile_writes_nothing(
    snapshot_home: Path, inbox: Path
) -> None:
    at = _open(MEMORY, ORG_A)
    _submit_governance(at, "m-a2", "memory.redacted", confirm=False, reason="Private")
    _publish_change(
        snapshot_home / "serving.duckdb",
        "UPDATE marts.memory_atoms SET content = 'Rewritten', version = version + 1 WHERE org_id = ? AND atom_id = ?",
        [ORG_A, "m-a2"],
        "v2",
    )
    _confirm_governance(at, "memory.redacted")
    assert any("m-a2 changed or are no longer live" in e.value and "Nothing was" in e.value for e in at.error)
    assert _written_events(inbox) == []


def test_memory_search_without_an_index_warns_and_the_card_still_shows(snapshot_home: Path) -> None:
    with duckdb.connect(str(snapshot_home / "serving.duckdb")) as con:
        con.execute("DROP SCHEMA fts_marts_memory_search CASCADE")
        con.execute("DROP TABLE marts.memory_search")
    at = _open(MEMORY, ORG_A)
    assert _search_memory(at, "pricing") == []
    assert any("no memory search index" in w.value for w in at.warning)
    assert _metric(at, "Live atoms") == "4"


@pytest.mark.parametrize(("page", "control"), [(TODAY, "Item types"), (PIPELINE, "Owners")])
def test_a_pages_own_sidebar_filters_sit_under_the_organisation_above_the_sign_out(
    snapshot_home: Path, page: str, control: str
) -> None:
    at = _open(page, ORG_A)
    labels = [getattr(node, "label", None) for node in at.sidebar]
    assert labels.index("Organisation") < labels.index(control) < labels.index("Sign out"), labels


def test_tables_and_charts_that_are_not_the_periods_say_all_time(snapshot_home: Path) -> None:
    # Beside the period's metrics, an all-time table or chart read without its label looks like a number
    # that disagrees with them.
    at = _open(SLA, ORG_A)
    assert "All time" in [h.value for h in at.subheader]
    at.switch_page(FUNNEL).run()
    assert not at.exception
    headings = [h.value for h in at.subheader]
    assert headings and all(h.endswith(", all time") for h in headings), headings
