"""What the lifecycle pages (Pipeline, Funnel velocity, Win/loss) show, shaped from query results."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from streamlit_app.lib import ui
from streamlit_app.lib.charts.pipeline import pair_label, reason_label

# Timeline outcomes in the order the Pipeline page tallies them (`entity_timeline`'s `outcome`).
OUTCOMES: tuple[str, ...] = ("applied", "warned", "rejected", "no state change")
# An entity picked on the Pipeline page travels as one string "<type>:<id>".
KEY_SEPARATOR = ":"


# ------------------------------------------------------------------------------------ funnel velocity


def pair_row(funnel: pl.DataFrame, from_stage: str, to_stage: str) -> dict[str, Any] | None:
    """The funnel row of one stage pair, or None when the org has no such pair."""
    rows = funnel.filter((pl.col("from_stage") == from_stage) & (pl.col("to_stage") == to_stage))
    return rows.row(0, named=True) if rows.height else None


def rate_text(row: Mapping[str, Any] | None) -> str:
    """A pair's conversion rate as a whole percentage, or an em dash when nothing entered."""
    if row is None or row["conversion_rate"] is None:
        return "—"
    return f"{row['conversion_rate']:.0%}"


def hours_text(row: Mapping[str, Any] | None) -> str:
    """A pair's median hours to convert, or an em dash when nothing converted."""
    if row is None or row["median_hours"] is None:
        return "—"
    return f"{row['median_hours']:,.1f} h"


def funnel_table(funnel: pl.DataFrame) -> pl.DataFrame:
    """Every stage pair as the table shows it: the pair's on-screen name, counts, rate and hours."""
    return funnel.select(
        pl.Series(
            "pair",
            [pair_label(f, t) for f, t in zip(funnel["from_stage"], funnel["to_stage"], strict=True)],
            dtype=pl.String,
        ),
        "entered",
        "converted",
        "conversion_rate",
        "median_hours",
        "p90_hours",
    )


# ------------------------------------------------------------------------------------------- pipeline


def state_types(states: Mapping[str, list[str]]) -> dict[str, str]:
    """State → its entity type, for every state present (`pipeline_options`' `states`), in order."""
    return {state: entity_type for entity_type, present in states.items() for state in present}


def states_in_scope(
    states: Mapping[str, list[str]], closed_states: Mapping[str, tuple[str, ...]], scope: str
) -> dict[str, list[str]]:
    """The states present (`pipeline_options`' `states`) that the scope can hold: the open ones, the closed
    ones (`closed_states`) or all, in order."""
    if scope == "all":
        return {entity_type: list(present) for entity_type, present in states.items()}
    want_closed = scope == "closed"
    return {
        entity_type: [s for s in present if (s in closed_states.get(entity_type, ())) is want_closed]
        for entity_type, present in states.items()
    }


def entities_per_type(counts: pl.DataFrame) -> dict[str, int]:
    """Entities per entity type within the filters (`pipeline_counts` summed over states and owners)."""
    return dict(counts.group_by("entity_type").agg(pl.col("entities").sum()).iter_rows())


def entity_key(entity_type: str, entity_id: str) -> str:
    """One string naming an entity, for the timeline picker."""
    return f"{entity_type}{KEY_SEPARATOR}{entity_id}"


def parse_entity_key(key: str) -> tuple[str, str]:
    """The entity type and id back from `entity_key` (ids may hold the separator; types do not)."""
    entity_type, _, entity_id = key.partition(KEY_SEPARATOR)
    return entity_type, entity_id


def entity_choices(entities: pl.DataFrame) -> dict[str, str]:
    """Picker key → label of the listed entities, in list order: the name (or —), then type, id and state
    in words (the id stays, so typing it still finds the entity)."""
    return {
        entity_key(row["entity_type"], row["entity_id"]): (
            f"{row['label'] or '—'} · {ui.word(row['entity_type'])} {row['entity_id']} ({ui.word(row['state'])})"
        )
        for row in entities.iter_rows(named=True)
    }


def _words(*columns: str) -> list[pl.Expr]:
    return [pl.col(c).map_elements(ui.word, return_dtype=pl.String) for c in columns]


def counts_table(counts: pl.DataFrame) -> pl.DataFrame:
    """`pipeline_counts` as its table shows it: entity types and states in words."""
    return counts.with_columns(_words("entity_type", "state"))


def entities_table(entities: pl.DataFrame) -> pl.DataFrame:
    """`pipeline_entities` as its table shows it: the name and client first, type and state in words, the
    id last (a candidate or pursuit opens from its row's link)."""
    return entities.select(
        "label",
        "client",
        *_words("entity_type", "state"),
        "owner",
        "value_usd",
        "entered_state_at",
        "last_event_at",
        "entity_id",
    )


def timeline_table(timeline: pl.DataFrame) -> pl.DataFrame:
    """`entity_timeline` as its table shows it: event names, states and broken rules in words, the
    event's id last."""
    return timeline.select(
        "occurred_at",
        "outcome",
        *_words("event_name", "from_state", "to_state", "rule"),
        "detail",
        "actor",
        "event_id",
    )


def outcome_counts(timeline: pl.DataFrame) -> dict[str, int]:
    """Events of an entity's timeline per outcome, every outcome present (zero when none), in order."""
    tally = dict(timeline.group_by("outcome").len().iter_rows())
    return {outcome: tally.get(outcome, 0) for outcome in OUTCOMES}


# ------------------------------------------------------------------------------------------- win/loss


def outcome_total(rows: pl.DataFrame, outcome: str, column: str) -> int | float | None:
    """A column of `win_loss` summed over one outcome's reasons; None when every value is null."""
    part = rows.filter(pl.col("outcome") == outcome).get_column(column)
    return None if part.null_count() == part.len() else part.sum()


def missing_reasons(rows: pl.DataFrame) -> int:
    """Closed pursuits without a reason code (counted under `missing` by the mart)."""
    return int(rows.filter(pl.col("reason_code") == "missing").get_column("pursuits").sum() or 0)


def win_rate(won: int, lost: int) -> float | None:
    """Won ÷ (won + lost), or None when nothing closed."""
    return won / (won + lost) if won + lost else None


def win_loss_table(rows: pl.DataFrame) -> pl.DataFrame:
    """`win_loss` as the table shows it: outcomes in words, reason codes named as on the chart (`missing`
    spelled out)."""
    return rows.with_columns(
        *_words("outcome"),
        pl.Series("reason_code", [reason_label(r) for r in rows["reason_code"].to_list()], dtype=pl.String),
    )
