"""`quarantine export` gives back what was quarantined, without deciding for its author."""

from __future__ import annotations

import orjson

from dagster_project.ingestion.quarantine import repairable_record


def test_a_record_with_a_key_twice_is_exported_as_written():
    """Parsing would keep one of the two values silently; the author must see both to choose."""
    raw = '{"event_id":"x","payload":{"value_band":"low","value_band":"gigantic"}}'
    assert repairable_record(raw) == raw.encode()


def test_a_tabular_row_whose_payload_has_a_key_twice_keeps_its_payload_text():
    payload = '{"value_band":"low","value_band":"gigantic"}'
    raw = orjson.dumps({"event_id": "x", "payload": payload}).decode()
    assert orjson.loads(repairable_record(raw))["payload"] == payload


def test_a_tabular_row_with_a_plain_payload_gets_a_payload_object():
    raw = orjson.dumps({"event_id": "x", "payload": '{"value_band":"low"}'}).decode()
    assert orjson.loads(repairable_record(raw))["payload"] == {"value_band": "low"}


def test_a_run_names_a_quarantined_line_by_file_line_and_reason_and_a_whole_file_as_such():
    from dagster_project.ingestion.quarantine import quarantined_line

    assert (
        quarantined_line({"file": "a.jsonl", "line": 3, "reason": "bad_json"}) == "a.jsonl line 3: bad_json"
    )
    assert (
        quarantined_line({"file": "b.csv", "line": 0, "reason": "unreadable_file"})
        == "b.csv (the whole file): unreadable_file"
    )
