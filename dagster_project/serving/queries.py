"""Queries of the published snapshot that several readers share (the read API, the MCP server), so
they answer the same: a card by its key, the Today panel's columns."""

from __future__ import annotations

CARD_WHERE = "from marts.memory_cards where org_id = ? and entity_type = ? and entity_id = ?"
CARD_JSON_COLUMNS = ("key_facts", "recent_activity", "decisions", "risks", "top_atoms")
# Parameters: org_id, entity_type, entity_id. The JSON columns first, in `CARD_JSON_COLUMNS`'s order.
CARD_SQL = f"select {', '.join(CARD_JSON_COLUMNS)}, atoms_total, version, etag, built_at {CARD_WHERE} limit 1"
ETAG_SQL = f"select etag {CARD_WHERE} limit 1"


def iso_sql(column: str) -> str:
    """RFC 3339 UTC text of a timestamptz column, written by DuckDB (converting many timestamptz values to
    Python datetimes costs more than the query); the same text orjson writes for a datetime."""
    utc = f"timezone('UTC', {column})"
    return (
        f"case when epoch_us({column}) % 1000000 = 0 then strftime({utc}, '%Y-%m-%dT%H:%M:%SZ') "
        f"else strftime({utc}, '%Y-%m-%dT%H:%M:%S.%fZ') end as {column}"
    )


TODAY_COLUMNS = (
    "item_type, item_id, label, state, owner, due_date, "
    f"{iso_sql('last_touch_at')}, hours_since_touch, tags, value_band, "
    "forecast_value_usd, sla_metric, badge, urgency_points, value_points, stage_points, compliance_points, "
    f"workload_points, priority_score, priority_tier, rank, why, {iso_sql('built_at')}, "
    # The owner's name from `marts.users` (null when no event names them), beside the id filters use.
    "(select u.name from marts.users u where u.org_id = today_panel.org_id "
    "and u.user_id = today_panel.owner) as owner_name"
)
