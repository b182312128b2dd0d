"""`lib/views/memory.py`: what the Memory page shows, shaped from query results, without Streamlit."""

from __future__ import annotations

import datetime as dt

import polars as pl

from streamlit_app.lib import governance
from streamlit_app.lib.views import memory as view

NOW = dt.datetime(2024, 5, 10, 14, 30, tzinfo=dt.UTC)


def _request(event_name: str, **overrides: object) -> dict:
    request = {
        "event_id": "e-1",
        "event_name": event_name,
        "org_id": "acme",
        "atom_id": "m-1",
        "entity_type": "pursuit",
        "entity_id": "p-1",
        "reason": "typo",
        "content": None,
        "base_version": 1,
        "requested_at": NOW,
        "file": "memory-request.jsonl",
    }
    return {**request, **overrides}


def _atom(**overrides: object) -> dict:
    atom = {
        "entity_type": "pursuit",
        "entity_id": "p-1",
        "atom_id": "m-1",
        "atom_type": "fact",
        "content": "Budget approved in March",
        "version": 1,
        "occurred_at": NOW,
    }
    return {**atom, **overrides}


def test_a_redaction_is_applied_once_its_atom_is_gone() -> None:
    request = _request(governance.REDACTED)
    assert view.request_status(request, {"m-1": {"version": 1, "content": "x"}}) == view.PENDING
    assert view.request_status(request, {}) == view.APPLIED


def test_a_correction_is_applied_when_the_content_or_a_higher_version_shows() -> None:
    request = _request(governance.CORRECTED, content="new text")
    assert view.request_status(request, {"m-1": {"version": 1, "content": "old"}}) == view.PENDING
    assert view.request_status(request, {"m-1": {"version": 1, "content": "new text"}}) == view.APPLIED
    assert view.request_status(request, {"m-1": {"version": 2, "content": "other"}}) == view.APPLIED
    assert view.request_status(request, {}) == view.GONE


def test_the_requests_table_lists_the_newest_first_with_status_and_action() -> None:
    older = _request(governance.REDACTED, atom_id="m-1")
    newer = _request(governance.CORRECTED, atom_id="m-2", content="fixed", requested_at=NOW + dt.timedelta(1))
    table = view.requests_table([older, newer], {"m-1": {"version": 1, "content": "x"}})
    assert table["atom_id"].to_list() == ["m-2", "m-1"]
    assert table["action"].to_list() == ["Correct", "Redact"]
    assert table["status"].to_list() == [view.GONE, view.PENDING]
    assert table["entity"].to_list() == ["pursuit p-1", "pursuit p-1"]
    assert table.schema == pl.Schema(view.REQUEST_SCHEMA)


def test_an_empty_requests_table_keeps_its_columns() -> None:
    assert view.requests_table([], {}).columns == list(view.REQUEST_SCHEMA)


def test_requests_are_kept_per_org_and_pending_atoms_are_flagged() -> None:
    mine = _request(governance.REDACTED, atom_id="m-1")
    theirs = _request(governance.REDACTED, atom_id="m-9", org_id="globex")
    assert view.requests_of([mine, theirs], "acme") == [mine]
    assert view.pending_atom_ids([mine], {"m-1": {"version": 1, "content": "x"}}) == {"m-1"}
    assert view.pending_atom_ids([mine], {}) == set()


def test_the_form_asks_for_what_is_missing_and_refuses_an_unchanged_correction() -> None:
    assert view.request_problem("ann@acme", "typo", governance.REDACTED, None, "x") is None
    assert view.request_problem("", " ", governance.REDACTED, None, "x") == (
        "Please give your email and a reason. Nothing was written."
    )
    assert view.request_problem("not-an-email", "typo", governance.CORRECTED, "  ", "x") == (
        "Please give your email and the new content. Nothing was written."
    )
    assert view.request_problem("ann@acme", "typo", governance.CORRECTED, " same ", "same") == (
        "The new content is the same as the current one. Nothing was written."
    )
    assert view.request_problem("ann@acme", "typo", governance.CORRECTED, "changed", "same") is None


def test_atoms_changed_since_the_page_showed_them_are_named() -> None:
    refs = [
        view.atom_ref(_atom(atom_id="m-1")),
        view.atom_ref(_atom(atom_id="m-2")),
        view.atom_ref(_atom(atom_id="m-3")),
    ]
    states = {"m-1": {"version": 1, "content": "x"}, "m-2": {"version": 2, "content": "x"}}
    assert view.changed_atoms(refs, states) == ["m-2", "m-3"]


def test_one_session_record_per_written_event_with_the_version_it_was_made_on() -> None:
    refs = [
        view.atom_ref(_atom(atom_id="m-1", version=3)),
        view.atom_ref(_atom(atom_id="m-2", entity_id="p-2")),
    ]
    events = [
        {"event_id": "e-2", "payload": {"atom_id": "m-2"}},
        {"event_id": "e-1", "payload": {"atom_id": "m-1"}},
    ]
    records = view.request_records(
        events,
        refs,
        action=governance.REDACTED,
        org_id="acme",
        reason="personal data",
        content=None,
        requested_at=NOW,
        file_name="f.jsonl",
    )
    assert [(r["event_id"], r["atom_id"], r["entity_id"], r["base_version"]) for r in records] == [
        ("e-2", "m-2", "p-2", 1),
        ("e-1", "m-1", "p-1", 3),
    ]
    assert {r["file"] for r in records} == {"f.jsonl"}
    assert {r["event_name"] for r in records} == {governance.REDACTED}


def test_an_atom_label_is_unique_cut_and_flagged_when_a_request_waits() -> None:
    long_text = "word " * 40
    label = view.atom_label(_atom(content=long_text), "m-1", {"m-1"})
    assert label.endswith(" · m-1 · request pending")
    assert "…" in label
    assert len(label.split(" · ")[2]) == view.LABEL_CHARS
    assert view.atom_label(_atom(), "m-1", set()).endswith("Budget approved in March · m-1")
    assert view.atom_label(None, "m-7", set()) == "m-7"


def test_other_copies_leave_out_the_atom_itself() -> None:
    same = pl.DataFrame([_atom(atom_id="m-1"), _atom(atom_id="m-2", entity_id="p-2")])
    copies = view.other_copies(same, "m-1")
    assert list(copies) == ["m-2"]
    assert view.copy_line(copies["m-2"]) == "pursuit p-2 · fact m-2 · \u201cBudget approved in March\u201d"


def test_only_this_card_narrows_search_to_the_entity_or_a_client_roll_up() -> None:
    assert view.search_scope(False, "pursuit", "p-1") == {}
    assert view.search_scope(True, "pursuit", "p-1") == {"entity_type": "pursuit", "entity_id": "p-1"}
    assert view.search_scope(True, "client", "c-1") == {"client_id": "c-1"}


def test_the_entity_picker_lists_types_in_order_and_labels_with_titles() -> None:
    entities = pl.DataFrame(
        {
            "entity_type": ["signal", "candidate", "candidate", "client"],
            "entity_id": ["s-1", "c-2", "c-1", "cl-1"],
            "label": [None, "Roof survey", None, None],
            "atoms_total": [1, 2, 3, 4],
        }
    )
    counts = view.entity_counts(entities)
    assert counts == {"signal": 1, "candidate": 2, "client": 1}
    assert view.entity_types(counts) == ["client", "candidate", "signal"]
    assert view.entity_labels(entities, "candidate") == {"c-2": "Roof survey · c-2", "c-1": "c-1"}


def test_the_timeline_table_names_each_atoms_own_entity() -> None:
    timeline = pl.DataFrame(
        [
            {
                "occurred_at": NOW,
                "atom_type": "fact",
                "content": "x",
                "score": 50.0,
                "relevance": 40.0,
                "source": "crm",
                "entity_type": "candidate",
                "entity_id": "c-1",
                "atom_id": "m-1",
                "version": 1,
                "entity_name": "Roof survey",
            },
            {
                "occurred_at": NOW,
                "atom_type": "fact",
                "content": "y",
                "score": 50.0,
                "relevance": 40.0,
                "source": "crm",
                "entity_type": "signal",
                "entity_id": "s-1",
                "atom_id": "m-2",
                "version": 1,
                "entity_name": None,
            },
        ]
    )
    table = view.timeline_table(timeline)
    assert table.columns == list(view.TIMELINE_COLUMNS)
    # By name; by id only when the marts hold no name.
    assert table["about"].to_list() == ["Candidate: Roof survey", "Signal: s-1"]


def test_card_items_render_as_an_escaped_markdown_list_with_their_time() -> None:
    items = [{"atom_type": "risk", "content": "*late* delivery", "occurred_at": "2024-05-10T14:30:00Z"}]
    text = view.items_markdown(items)
    assert text.startswith("- ")
    assert "\\*late\\* delivery" in text
    assert "2024-05-10 14:30" in text
    assert view.items_markdown([]) == "—"
    assert view.item_time("not a time") == "not a time"
    assert view.item_time(None) == "—"
