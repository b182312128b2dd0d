"""The item page (`?org=..&type=..&id=..`) and the links that open it from Today, Pipeline and SLA breaches.

The tests only read the fixture snapshot, so the module builds its home once; the checks of acme's
pursuit p-100 read one session that opened it (`acme_pursuit`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import streamlit as st
from conftest import module_home, signed_in_app
from snapshot_fixture import ORG_A, ORG_A_LIFECYCLE_ONLY, ORG_B, SHARED_ENTITY_ID
from streamlit.testing.v1 import AppTest

ITEM = "app_pages/item.py"


def _open_item(org: str, item_type: str, item_id: str) -> AppTest:
    at = signed_in_app()
    at.query_params.update({"org": org, "type": item_type, "id": item_id})
    at.run()
    at.switch_page(ITEM).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture(scope="module")
def item_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The module's own home (the function-scoped fixtures are the tests') with the two-org snapshot."""
    with module_home(tmp_path_factory, "item") as home:
        yield home


@pytest.fixture(scope="module")
def acme_pursuit(item_home: Path) -> AppTest:
    """Acme's pursuit p-100 opened once, with clean caches; the tests only read what it shows."""
    st.cache_data.clear()
    at = _open_item(ORG_A, "pursuit", SHARED_ENTITY_ID)
    st.cache_data.clear()
    return at


def _text(at: AppTest) -> str:
    parts = [
        str(node.proto) for root in (at.main, at.sidebar) for node in root if getattr(node, "proto", None)
    ]
    parts.extend(df.value.to_string() for df in at.dataframe)
    return "\n".join(parts)


def _metric(at: AppTest, label: str) -> str:
    (value,) = [m.value for m in at.metric if m.label == label]
    return value


def _frame(at: AppTest, column: str):
    (frame,) = [df.value for df in at.dataframe if column in df.value.columns]
    return frame


def test_the_pursuit_page_names_the_client_owner_stage_value_and_due_date(
    item_home: Path, acme_pursuit: AppTest
) -> None:
    at = acme_pursuit
    assert [s.value for s in at.subheader][0] == "Acme HQ refit"
    header = at.markdown[0].value
    assert "Acme Holdings" in header and "Bob Baker" in header and "manufacturing" in header
    assert _metric(at, "Forecast value") == "$400,000"
    assert _metric(at, "Stage") == "Red review"
    with duckdb.connect(str(item_home / "serving.duckdb"), read_only=True) as con:
        (due,) = con.execute(
            "SELECT due_date FROM marts.pursuits WHERE org_id = ? AND pursuit_id = ?",
            [ORG_A, SHARED_ENTITY_ID],
        ).fetchone()
    assert _metric(at, "Due") == due.isoformat()
    assert _metric(at, "Today rank") == "#1"
    assert any("Why it ranks here" in m.value and "urgency +100" in m.value for m in at.markdown)


def test_the_pursuit_page_shows_the_win_probability_with_its_components_largest_first(
    acme_pursuit: AppTest,
) -> None:
    at = acme_pursuit
    assert _metric(at, "Win probability") == "63%"
    assert _metric(at, "Org base rate") == "42%"
    components = _frame(at, "contribution")
    assert components["component"].tolist()[:2] == ["Checklist completion", "Stage"]
    assert components["contribution"].tolist()[:2] == [0.5, 0.4]
    assert any(c.value.startswith("Model trained on this org's closed pursuits") for c in at.caption)


def test_the_pursuit_page_lists_follow_ups_memory_sla_clocks_similar_pursuits_and_timeline(
    acme_pursuit: AppTest,
) -> None:
    at = acme_pursuit
    text = _text(at)
    assert "Proposal gone quiet" in text and "Proposal v1 is out" in text
    assert "Acme procurement asked for fixed pricing per floor" in text  # its memory card
    clocks = _frame(at, "deadline_at")
    assert clocks["metric"].tolist() == ["Proposal"]
    similar = _frame(at, "decisive")
    assert similar["title"].tolist()[0] == "p-a2"  # no candidate row for it: the id stands in
    assert similar["outcome"].tolist() == ["Won", "Lost"]
    assert similar["alike"].tolist() == ["client, industry, value band", "value band"]
    assert similar["open"].tolist()[0] == f"item?org={ORG_A}&type=pursuit&id=p-a2"
    assert similar["decisive"].tolist()[0] == "Won on the phased price plan"
    timeline = _frame(at, "change")
    assert len(timeline) > 0 and timeline["occurred_at"].is_monotonic_decreasing


def test_the_same_id_in_another_org_shows_that_org_s_pursuit_only(item_home: Path) -> None:
    at = _open_item(ORG_B, "pursuit", SHARED_ENTITY_ID)
    text = _text(at)
    assert "Globex plant audit" in text and "Globex Corp" in text
    assert "Acme" not in text
    assert any("Prior scorecard" in c.value for c in at.caption)
    assert "hank@globex" in text
    assert not any(a in text for a in ORG_A_LIFECYCLE_ONLY)


def test_a_candidate_page_has_no_score_and_says_where_it_went(item_home: Path) -> None:
    at = _open_item(ORG_A, "candidate", "cand-a2")
    assert [s.value for s in at.subheader][0] == "Acme data centre"
    assert _metric(at, "Status") == "Triaged"
    assert _metric(at, "Value band") == "Medium"
    assert "Win probability" not in [s.value for s in at.subheader]


def test_an_unknown_or_hostile_item_says_not_found_without_a_traceback(item_home: Path) -> None:
    at = _open_item(ORG_A, "pursuit", "p-nope'; DROP TABLE marts.pursuits; --")
    assert any("No pursuit" in w.value for w in at.warning)
    at = _open_item(ORG_A, "signal<script>", "sig-a1")
    assert any("Open an item from a row" in i.value for i in at.info)


def _open_page(page: str, org: str) -> AppTest:
    at = signed_in_app()
    at.query_params.update({"org": org})
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_pipeline_rows_of_candidates_and_pursuits_link_to_their_item_page(item_home: Path) -> None:
    at = _open_page("app_pages/pipeline.py", ORG_A)
    entities = _frame(at, "entity_id")
    for row in entities.itertuples():
        if row.entity_type in ("Candidate", "Pursuit"):
            assert row.open == f"item?org={ORG_A}&type={row.entity_type.lower()}&id={row.entity_id}"
        else:
            assert pd.isna(row.open)  # signals have no item page


def test_sla_breach_rows_name_the_item_in_words_and_link_to_it(item_home: Path) -> None:
    at = _open_page("app_pages/sla_compliance.py", ORG_A)
    breaches = _frame(at, "hours_over_threshold")
    top = breaches.iloc[0]
    assert (top["item_type"], top["label"], top["metric"]) == (
        "Pursuit",
        "Acme HQ refit",
        "Proposal",
    )
    assert top["open"] == f"item?org={ORG_A}&type=pursuit&id={SHARED_ENTITY_ID}"
