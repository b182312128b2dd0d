"""What the Memory page shows, shaped from query results: labels, tables, request status and checks.

The page keeps only layout (widgets, columns, messages); everything here is plain data in, data out.
A governance request made in this session is a dict (see `request_records`) kept in session state until a
published snapshot shows its effect.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl

from streamlit_app.lib import governance, ui
from streamlit_app.lib.queries.memory import MEMORY_ENTITY_TYPES

ACTION_LABELS = {governance.REDACTED: "Redact", governance.CORRECTED: "Correct"}
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+")
PENDING, APPLIED, GONE = "pending", "applied", "atom no longer live"
# Longest atom text a picker label shows before it is cut.
LABEL_CHARS = 80
REQUEST_SCHEMA = {
    "requested_at": pl.Datetime("us", "UTC"),
    "status": pl.String,
    "action": pl.String,
    "atom_id": pl.String,
    "entity": pl.String,
    "reason": pl.String,
    "content": pl.String,
    "file": pl.String,
}
TIMELINE_COLUMNS = (
    "occurred_at",
    "atom_type",
    "content",
    "score",
    "relevance",
    "source",
    "about",
    "atom_id",
    "version",
)


def item_time(value: Any) -> str:
    """A card item's time (ISO text in the card's JSON) as the page shows timestamps; text kept if unparsable."""
    if not value:
        return "—"
    try:
        return ui.format_ts(dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError:
        return ui.escape_markdown(str(value))


def items_markdown(items: list[dict[str, Any]]) -> str:
    """A card section as a markdown list: type badge, content (escaped) and time per item."""
    if not items:
        return "—"
    return "\n".join(
        f"- {ui.atom_badge(item.get('atom_type'))} {ui.escape_markdown(item.get('content')).strip()} "
        f"· _{item_time(item.get('occurred_at'))}_"
        for item in items
    )


def entity_counts(entities: pl.DataFrame) -> dict[str, int]:
    """Cards per entity type, for the type picker."""
    return dict(entities.group_by("entity_type").len().iter_rows())


def entity_types(counts: Mapping[str, int]) -> list[str]:
    """The entity types that have cards, in picker order."""
    return [t for t in MEMORY_ENTITY_TYPES if t in counts]


def entity_labels(entities: pl.DataFrame, entity_type: str) -> dict[str, str]:
    """Id → label of the entities of one type, in the query's order: the entity's name first when it has
    one, then its id (the picker searches both)."""
    of_type = entities.filter(pl.col("entity_type") == entity_type)
    return {
        row["entity_id"]: (f"{row['label']} · " if row["label"] else "") + f"{row['entity_id']}"
        for row in of_type.iter_rows(named=True)
    }


def timeline_table(timeline: pl.DataFrame) -> pl.DataFrame:
    """The timeline as the table shows it: the atom's own entity in one `about` column, by its type in
    words and its name (`entity_name`), else its id."""
    return timeline.with_columns(
        pl.concat_str(
            pl.col("entity_type").map_elements(ui.word, return_dtype=pl.String),
            pl.lit(": "),
            pl.coalesce(pl.col("entity_name"), pl.col("entity_id")),
        ).alias("about"),
    ).select(*TIMELINE_COLUMNS)


def search_scope(only_card: bool, entity_type: str, entity_id: str) -> dict[str, str | None]:
    """Search filters for "Only this card": a client's card covers every atom rolled up to it."""
    if not only_card:
        return {}
    if entity_type == "client":
        return {"client_id": entity_id}
    return {"entity_type": entity_type, "entity_id": entity_id}


def requests_of(requests: Iterable[dict[str, Any]], org_id: str) -> list[dict[str, Any]]:
    """This session's requests for one org, oldest first."""
    return [r for r in requests if r["org_id"] == org_id]


def request_status(request: dict[str, Any], live: Mapping[str, dict]) -> str:
    """Pending until the snapshot shows the effect: a redacted atom is gone; a corrected one has a higher
    version or the new content. `live` is `memory_atom_states` for the request's atom."""
    atom = live.get(request["atom_id"])
    if request["event_name"] == governance.REDACTED:
        return APPLIED if atom is None else PENDING
    if atom is None:
        return GONE
    if atom["content"] == request["content"] or (atom["version"] or 0) > (request["base_version"] or 0):
        return APPLIED
    return PENDING


def pending_atom_ids(requests: Iterable[dict[str, Any]], live: Mapping[str, dict]) -> set[str]:
    """Atoms with a request the snapshot does not show yet (flagged in the atom picker)."""
    return {r["atom_id"] for r in requests if request_status(r, live) == PENDING}


def requests_table(requests: Sequence[dict[str, Any]], live: Mapping[str, dict]) -> pl.DataFrame:
    """The requests as the "Your requests" table shows them, newest first, each with its status."""
    return pl.DataFrame(
        [
            {
                "requested_at": r["requested_at"],
                "status": request_status(r, live),
                "action": ACTION_LABELS[r["event_name"]],
                "atom_id": r["atom_id"],
                "entity": f"{r['entity_type']} {r['entity_id']}",
                "reason": r["reason"],
                "content": r["content"],
                "file": r["file"],
            }
            for r in reversed(requests)
        ],
        schema=REQUEST_SCHEMA,
    )


def atom_label(atom: dict[str, Any] | None, atom_id: str, pending_ids: set[str]) -> str:
    """An atom as the picker lists it: type, time, first characters, id, and a flag when a request waits.

    The id makes every label unique: two atoms with the same type, minute and text are still two
    choices, and the label the browser sends back names exactly one of them.
    """
    if atom is None:
        return str(atom_id)
    text = " ".join(str(atom["content"]).split())
    text = text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"
    flag = " · request pending" if atom_id in pending_ids else ""
    return f"{atom['atom_type']} · {ui.format_ts(atom['occurred_at'])} · {text} · {atom_id}{flag}"


def copy_line(row: dict[str, Any]) -> str:
    """An atom named for a choice or a warning: entity, type, id and first words."""
    return (
        f"{row['entity_type']} {row['entity_id']} · {row['atom_type']} {row['atom_id']} · "
        f"\u201c{governance.first_words(row['content'])}\u201d"
    )


def other_copies(same_text: pl.DataFrame, atom_id: str) -> dict[str, dict[str, Any]]:
    """The other live atoms holding the same text as `atom_id`, by id (`memory_same_text`'s rows)."""
    return {row["atom_id"]: row for row in same_text.iter_rows(named=True) if row["atom_id"] != atom_id}


def atom_ref(row: dict[str, Any]) -> governance.AtomRef:
    """A timeline row as the atom a request acts on."""
    return governance.AtomRef(
        entity_type=row["entity_type"],
        entity_id=row["entity_id"],
        atom_id=row["atom_id"],
        atom_type=row["atom_type"],
        content=str(row["content"]),
        version=row["version"],
    )


def request_problem(
    actor: str | None, reason: str | None, action: str, new_content: str | None, current_content: Any
) -> str | None:
    """Why the request form cannot be submitted as filled in (the message to show), or None if it can."""
    missing = []
    if not EMAIL_PATTERN.fullmatch((actor or "").strip()):
        missing.append("your email")
    if not (reason or "").strip():
        missing.append("a reason")
    if action == governance.CORRECTED and not (new_content or "").strip():
        missing.append("the new content")
    if missing:
        return "Please give " + " and ".join(missing) + ". Nothing was written."
    if action == governance.CORRECTED and (new_content or "").strip() == str(current_content).strip():
        return "The new content is the same as the current one. Nothing was written."
    return None


def changed_atoms(refs: Sequence[governance.AtomRef], states: Mapping[str, dict]) -> list[str]:
    """Atoms of a request that are no longer live, or no longer at the version the page showed."""
    return [r.atom_id for r in refs if r.atom_id not in states or states[r.atom_id]["version"] != r.version]


def request_records(
    events: Sequence[dict[str, Any]],
    refs: Sequence[governance.AtomRef],
    *,
    action: str,
    org_id: str,
    reason: str,
    content: str | None,
    requested_at: dt.datetime,
    file_name: str,
) -> list[dict[str, Any]]:
    """One session record per event written to the inbox, for "Your requests" and its status."""
    by_id = {r.atom_id: r for r in refs}
    records = []
    for event in events:
        ref = by_id[event["payload"]["atom_id"]]
        records.append(
            {
                "event_id": event["event_id"],
                "event_name": action,
                "org_id": org_id,
                "atom_id": ref.atom_id,
                "entity_type": ref.entity_type,
                "entity_id": ref.entity_id,
                "reason": reason,
                "content": content,
                "base_version": ref.version,
                "requested_at": requested_at,
                "file": file_name,
            }
        )
    return records


def dedupe_hits(hits: pl.DataFrame, limit: int) -> pl.DataFrame:
    """Search hits with identical text (same type, same snippet) as one hit, best first, at most `limit`.

    A note copied onto many entities would otherwise fill the list with identical cards. Each kept hit is
    the best-scored copy, with `copies` (how many) and `entities` (`type id` of each copy, best first).
    """
    if hits.is_empty():
        return hits.with_columns(pl.lit(0, dtype=pl.UInt32).alias("copies"), pl.lit([]).alias("entities"))
    return (
        hits.with_row_index("order")
        .with_columns(pl.concat_str(pl.col("entity_type"), pl.lit(" "), pl.col("entity_id")).alias("entity"))
        .group_by("atom_type", "snippet", maintain_order=True)
        .agg(
            pl.all().exclude("entity").first(),
            pl.len().alias("copies"),
            pl.col("entity").alias("entities"),
        )
        .sort("order")
        .drop("order")
        .head(limit)
    )
