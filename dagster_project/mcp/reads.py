"""What the MCP tools read: one function per tool, each on a connection `serving.reader` opened with the
caller's `OrgScope`, returning a JSON-ready payload. The card and Today queries are the read API's own
(`api.app`), and search is `memory.search`, so the server and the API cannot drift apart.

Every list is capped (an assistant's context is small and a tool answer must stay bounded whatever the
data); a payload says when it was cut (`truncated`). Ids are returned as the follow-up tools take them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import duckdb
import orjson

from dagster_project.memory.search import load_fts
from dagster_project.memory.search import search as search_atoms
from dagster_project.serving.queries import CARD_JSON_COLUMNS, CARD_SQL, TODAY_COLUMNS

CARD_ITEMS_MAX = 8
TIMELINE_MAX = 50
CONTACTS_MAX = 50
SEARCH_LIMIT_MAX = 25
TODAY_LIMIT_MAX = 50


class NotFound(LookupError):
    """The scope holds no such thing; the message names only what the caller asked for."""


@dataclass(frozen=True)
class Answer:
    """A tool's result: a compact text for the model and the same data as structured content."""

    text: str
    data: dict[str, Any]


def plain(value: Any) -> Any:
    """A DuckDB value as JSON-ready Python: times as RFC 3339 UTC text, decimals as floats."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def _rows(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [{n: plain(v) for n, v in zip(names, row, strict=True)} for row in cur.fetchall()]


def _has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    # Under an OrgScope `marts` is the connection's own schema of views; under SYSTEM it is the file's.
    found = con.execute(
        "select count(*) from duckdb_tables() where schema_name = 'marts' and table_name = ? "
        "union all select count(*) from duckdb_views() where schema_name = 'marts' and view_name = ?",
        [table, table],
    ).fetchall()
    return any(n for (n,) in found)


def _short(text: Any, width: int = 140) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


# --- tools ------------------------------------------------------------------------------------------


def card(con: duckdb.DuckDBPyConnection, org: str, entity_type: str, entity_id: str) -> Answer:
    row = con.execute(CARD_SQL, [org, entity_type, entity_id]).fetchone()
    if row is None:
        raise NotFound(f"no memory card for {entity_type} {entity_id!r} in org {org!r} in this snapshot")
    data: dict[str, Any] = {"org_id": org, "entity_type": entity_type, "entity_id": entity_id}
    truncated = False
    for name, value in zip(CARD_JSON_COLUMNS, row[: len(CARD_JSON_COLUMNS)], strict=True):
        items = orjson.loads(value) if value else []
        truncated |= len(items) > CARD_ITEMS_MAX
        data[name] = items[:CARD_ITEMS_MAX]
    atoms_total, version, etag, built_at = row[len(CARD_JSON_COLUMNS) :]
    data.update(
        atoms_total=atoms_total,
        version=version,
        etag=etag,
        built_at=plain(built_at),
        truncated=truncated,
        uri=card_uri(org, entity_type, entity_id),
    )
    lines = [
        f"Memory card of {entity_type} {entity_id} (org {org}, {atoms_total} live atoms, as of {data['built_at']})"
    ]
    for section in ("key_facts", "decisions", "risks", "recent_activity"):
        for item in data[section][:4]:
            lines.append(f"- {section}: [{item['atom_type']}] {_short(item['content'])} ({item['atom_id']})")
    return Answer("\n".join(lines), data)


def card_uri(org: str, entity_type: str, entity_id: str) -> str:
    return f"workstream://{org}/cards/{entity_type}/{entity_id}"


def search(
    con: duckdb.DuckDBPyConnection,
    org: str,
    query: str,
    *,
    entity_type: str | None,
    entity_id: str | None,
    client_id: str | None,
    atom_type: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> Answer:
    load_fts(con)
    hits = search_atoms(
        con,
        org,
        query,
        entity_type=entity_type,
        entity_id=entity_id,
        client_id=client_id,
        atom_type=atom_type,
        since=since,
        until=until,
        limit=min(limit, SEARCH_LIMIT_MAX),
    )
    items = [
        {
            "atom_id": h.atom_id,
            "entity_type": h.entity_type,
            "entity_id": h.entity_id,
            "client_id": h.client_id,
            "atom_type": h.atom_type,
            "occurred_at": plain(h.occurred_at),
            "score": round(h.score, 4),
            "snippet": h.snippet,
        }
        for h in hits
    ]
    lines = [f"{len(items)} memory hits for {query!r} in org {org}"]
    lines += [
        f"- {i['entity_type']} {i['entity_id']} [{i['atom_type']}] {_short(i['snippet'])} ({i['atom_id']})"
        for i in items
    ]
    return Answer("\n".join(lines), {"org_id": org, "query": query, "count": len(items), "hits": items})


def today(
    con: duckdb.DuckDBPyConnection, org: str, *, owner: str | None, tier: str | None, limit: int
) -> Answer:
    where, params = ["org_id = ?"], [org]
    if owner is not None:
        where.append("owner = ?")
        params.append(owner)
    if tier is not None:
        where.append("priority_tier = ?")
        params.append(tier)
    where_sql = " and ".join(where)
    total = con.execute(f"select count(*) from marts.today_panel where {where_sql}", params).fetchone()[0]
    cur = con.execute(
        f"select {TODAY_COLUMNS} from marts.today_panel where {where_sql} "
        "order by rank, item_type, item_id limit ?",
        [*params, min(limit, TODAY_LIMIT_MAX)],
    )
    items = _rows(cur)
    lines = [f"Today panel of org {org}: {len(items)} of {total} items, best first"]
    lines += [
        f"{i['rank']}. {i['item_type']} {i['item_id']} — {_short(i['label'], 60)} "
        f"[{i['priority_tier']}, score {i['priority_score']}, owner {i['owner_name'] or i['owner'] or '-'}] why: {_short(i['why'], 200)}"
        for i in items
    ]
    data = {"org_id": org, "total": total, "count": len(items), "items": items}
    return Answer("\n".join(lines), data)


def sla(con: duckdb.DuckDBPyConnection, org: str, item_type: str, item_id: str) -> Answer:
    key = [org, item_type, item_id]
    clocks = _rows(
        con.execute(
            "select metric, status, started_at, deadline_at, stopped_at, threshold_hours, elapsed_hours, "
            "is_breached from marts.sla_clocks where org_id = ? and item_type = ? and item_id = ? "
            "order by started_at, metric",
            key,
        )
    )
    timeline = _rows(
        con.execute(
            "select occurred_at, from_state, to_state, event_id, warned from marts.transitions "
            "where org_id = ? and entity_type = ? and entity_id = ? order by occurred_at, event_id limit ?",
            [*key, TIMELINE_MAX + 1],
        )
    )
    if not clocks and not timeline:
        raise NotFound(f"no {item_type} {item_id!r} in org {org!r} in this snapshot")
    truncated = len(timeline) > TIMELINE_MAX
    timeline = timeline[:TIMELINE_MAX]
    lines = [f"SLA of {item_type} {item_id} (org {org})"]
    lines += [
        f"- {c['metric']}: {c['status']} (deadline {c['deadline_at']}, stopped {c['stopped_at'] or '-'})"
        for c in clocks
    ] or ["- no SLA clock"]
    lines.append("Timeline:")
    lines += [
        f"- {t['occurred_at']} {t['from_state'] or '∅'} → {t['to_state']} ({t['event_id']})" for t in timeline
    ]
    data = {
        "org_id": org,
        "item_type": item_type,
        "item_id": item_id,
        "clocks": clocks,
        "timeline": timeline,
        "truncated": truncated,
    }
    return Answer("\n".join(lines), data)


def pipeline(con: duckdb.DuckDBPyConnection, org: str, since: datetime, until: datetime) -> Answer:
    stages = _rows(
        con.execute(
            "select stage, open_pursuits, open_value_usd, aging_pursuits, slipped_pursuits, p75_hours_in_stage "
            "from marts.pipeline_health where org_id = ? order by stage_order",
            [org],
        )
    )
    # Win/loss over the period from the pursuits' own close times, grouped as `marts.win_loss` groups.
    outcomes = _rows(
        con.execute(
            "select outcome, coalesce(reason_code, 'missing') as reason_code, count(*) as pursuits, "
            "cast(coalesce(sum(forecast_value_usd), 0) as double) as value_usd from marts.pursuits "
            "where org_id = ? and outcome in ('won', 'lost') and closed_at >= ? and closed_at < ? "
            "group by all order by outcome desc, pursuits desc, reason_code",
            [org, since, until],
        )
    )
    won = sum(o["pursuits"] for o in outcomes if o["outcome"] == "won")
    lost = sum(o["pursuits"] for o in outcomes if o["outcome"] == "lost")
    rate = round(won / (won + lost), 4) if won + lost else None
    period = {"since": plain(since), "until": plain(until)}
    lines = [f"Pipeline of org {org}:"]
    lines += [
        f"- {s['stage']}: {s['open_pursuits']} open, ${s['open_value_usd']:,.0f}, {s['aging_pursuits']} aging"
        for s in stages
    ]
    lines.append(f"Closed {period['since']} to {period['until']}: {won} won, {lost} lost, win rate {rate}")
    lines += [
        f"- {o['outcome']} / {o['reason_code']}: {o['pursuits']} (${o['value_usd']:,.0f})" for o in outcomes
    ]
    data = {
        "org_id": org,
        "stages": stages,
        "period": period,
        "won": won,
        "lost": lost,
        "win_rate": rate,
        "by_reason": outcomes,
    }
    return Answer("\n".join(lines), data)


def contacts(con: duckdb.DuckDBPyConnection, org: str, client_id: str) -> Answer:
    if not _has_table(con, "contacts"):
        raise NotFound("this snapshot has no contacts yet (no `contacts` mart was published)")
    # The identity mart's columns (one row per resolved person, `client_id` the canonical client).
    rows = _rows(
        con.execute(
            "select contact_id, name, email, phone, last_seen_at from marts.contacts "
            "where org_id = ? and client_id = ? order by last_seen_at desc nulls last, contact_id limit ?",
            [org, client_id, CONTACTS_MAX + 1],
        )
    )
    truncated = len(rows) > CONTACTS_MAX
    rows = rows[:CONTACTS_MAX]
    lines = [f"{len(rows)} contacts of client {client_id} (org {org})"]
    lines += ["- " + ", ".join(f"{k}={_short(v, 60)}" for k, v in r.items() if v is not None) for r in rows]
    return Answer(
        "\n".join(lines), {"org_id": org, "client_id": client_id, "contacts": rows, "truncated": truncated}
    )


def known_orgs(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every org in the snapshot (the pipeline-health mart has a row per stage for every org with events)."""
    return [
        r[0] for r in con.execute("select distinct org_id from marts.pipeline_health order by 1").fetchall()
    ]
