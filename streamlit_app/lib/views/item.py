"""Item page shaping: the header line, score components, similar pursuits and the timeline as read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from streamlit_app.lib import ui
from streamlit_app.lib.queries.item import SCORE_COMPONENTS

# Memory card sections the item page shows, in order (the card's `top_atoms` repeats them).
CARD_TITLES: dict[str, str] = {
    "key_facts": "Key facts",
    "decisions": "Decisions",
    "risks": "Risks",
    "recent_activity": "Recent activity",
}
COMPONENT_WORDS: dict[str, str] = {
    "stage": "Stage",
    "age_in_stage": "Time in stage (against the org's history)",
    "checklist": "Checklist completion",
    "sla_record": "SLA record",
    "engagement_recency": "Last touch",
    "value_band": "Value band",
    "client_history": "Client history",
    "memory": "Memory signals (open risks, decisions)",
    "lead_source": "Lead source",
}


def header_line(item_type: str, header: Mapping[str, Any]) -> str:
    """Client, owner and kind of item in one markdown line, names before ids."""
    client = header["client_name"] or header["client_id"]
    parts = [
        f"**{ui.word(item_type)}** `{ui.escape_markdown(header['item_id'])}`",
        f"Client **{ui.escape_markdown(client)}**" if client else "No client",
        f"Industry {ui.escape_markdown(header['industry'])}" if header["industry"] else None,
        f"Owner **{ui.escape_markdown(header['owner'])}**" if header["owner"] else "Unassigned",
        f"Capture lead {ui.escape_markdown(header['capture_lead'])}" if header["capture_lead"] else None,
        f"Outcome **{ui.word(header['outcome'])}**" if header["outcome"] else None,
    ]
    return " · ".join(p for p in parts if p)


def score_components(score: Mapping[str, Any]) -> pl.DataFrame:
    """One row per component with its contribution to the log-odds, the largest effect first."""
    rows = [
        {"component": COMPONENT_WORDS.get(c, ui.word(c)), "contribution": score.get(f"{c}_contribution")}
        for c in SCORE_COMPONENTS
    ]
    df = pl.DataFrame(rows, schema={"component": pl.String, "contribution": pl.Float64})
    return df.sort(pl.col("contribution").abs(), descending=True, nulls_last=True, maintain_order=True)


def words(df: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """The code columns of a frame as words (`ui.word`)."""
    return df.with_columns(pl.col(c).map_elements(ui.word, return_dtype=pl.String) for c in columns)


def similar_table(similar: pl.DataFrame, org_id: str) -> pl.DataFrame:
    """Similar pursuits as the page lists them: a link to each, outcome in words, what they share."""

    def alike(row: Mapping[str, Any]) -> str:
        shared = [
            name
            for name, flag in (
                ("client", row["same_client"]),
                ("industry", row["same_industry"]),
                ("value band", row["same_value_band"]),
            )
            if flag
        ]
        return ", ".join(shared) if shared else "—"

    rows = [
        {
            "open": ui.item_url(org_id, "pursuit", r["similar_pursuit_id"]),
            "title": r["title"],
            "client_name": r["client_name"],
            "outcome": ui.word(r["outcome"]),
            "closed_at": r["closed_at"],
            "alike": alike(r),
            "decisive": r["decisive"] or None,
        }
        for r in similar.iter_rows(named=True)
    ]
    return pl.DataFrame(
        rows,
        schema={
            "open": pl.String,
            "title": pl.String,
            "client_name": pl.String,
            "outcome": pl.String,
            "closed_at": similar.schema["closed_at"],
            "alike": pl.String,
            "decisive": pl.String,
        },
    )


def timeline_table(timeline: pl.DataFrame) -> pl.DataFrame:
    """The item's events, newest first, with the state change in one column; event names, states and
    broken rules in words."""
    return (
        timeline.sort("occurred_at", descending=True, nulls_last=True, maintain_order=True)
        .with_columns(
            pl.col(c).map_elements(ui.word, return_dtype=pl.String)
            for c in ("event_name", "from_state", "to_state", "rule")
        )
        .with_columns(
            pl.when(pl.col("to_state").is_not_null())
            .then(
                pl.concat_str(
                    pl.col("from_state").fill_null("(new)"),
                    pl.lit(" → "),
                    pl.col("to_state"),
                    ignore_nulls=False,
                )
            )
            .otherwise(None)
            .alias("change"),
            pl.col("outcome").map_elements(ui.word, return_dtype=pl.String),
            pl.concat_str(pl.col("rule"), pl.lit(": "), pl.col("detail"), ignore_nulls=False)
            .fill_null(pl.col("detail"))
            .alias("detail"),
        )
        .select("occurred_at", "event_name", "change", "outcome", "actor", "detail")
    )
