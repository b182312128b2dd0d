"""The fast path's per-event check: what it cannot judge exactly goes to the Python fold, never to an error."""

from __future__ import annotations

import duckdb
import pytest

from dagster_project.apply.fast import _event_ok


@pytest.mark.parametrize(
    ("payload", "taken"),
    [
        ('{"source_type": "email", "owner": "ann"}', True),
        ("{not json", False),
        ("[1, 2]", False),
        ('"text"', False),
        ('{"owner": 5}', False),
        ('{"snippet": "caf\\u00e9"}', False),
        ('{"snippet": "tab\\there"}', False),
        ('{"contact_name": "Zoë"}', True),
        ('{"snippet": "\\ud800"}', False),
        ('{"erased_hashes": {}}', False),
        (None, False),
    ],
)
def test_an_event_the_fast_path_cannot_judge_exactly_is_left_to_the_fold_without_an_error(payload, taken):
    got = duckdb.sql(
        f"select {_event_ok()} from (select ?::varchar as payload, 'signal.created' as event_name, "
        "timestamptz '2026-01-01 00:00:00+00' as occurred_at)",
        params=[payload],
    ).fetchone()[0]
    assert got is taken
