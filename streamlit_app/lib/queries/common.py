"""What the query families share: cache lifetime, the example-row cap and the name of a missing owner."""

from __future__ import annotations

CACHE_TTL_S = 300
EXAMPLE_ROWS = 50
# An entity without an owner is counted, filtered and shown under this name.
UNASSIGNED = "—"


# An item (candidate, pursuit or signal) by name rather than id: a candidate's title, a pursuit's
# candidate's title, else the client's name; a signal, which has no title, by its sender's company and
# where it came from ("Initrode Ltd (signal from email)"), else by where it came from alone.
# `item_title_joins(alias)` joins the marts naming the item whose type and id are columns of `alias` (a
# fixed table alias of the query, never user input); parameters: org_id x 4.
# Each ON clause compares an expression of the item's side with a column of the joined mart and nothing
# else: a LEFT JOIN condition that tests only the item's side (`item_type = 'pursuit' AND ...`) is not a
# join key to DuckDB, so it falls back to a nested-loop join over every item x every mart row. The CASE
# yields NULL for the other item types, which matches nothing, as the separate test did.
ITEM_TITLE = (
    "coalesce(it_c.title, it_cl.name, it_s.company_name || ' (signal from ' || it_s.source_type || ')', "
    "'Signal from ' || it_s.source_type)"
)
ITEM_CLIENT = "it_cl.name"


def item_title_joins(alias: str, type_col: str = "item_type", id_col: str = "item_id") -> str:
    """The LEFT JOINs behind `ITEM_TITLE` and `ITEM_CLIENT` for the items of `alias` (type and id in
    `type_col` and `id_col`)."""
    item_type, item_id = f"{alias}.{type_col}", f"{alias}.{id_col}"
    return f"""
    LEFT JOIN marts.pursuits AS it_p
           ON it_p.org_id = ? AND it_p.pursuit_id = CASE WHEN {item_type} = 'pursuit' THEN {item_id} END
    LEFT JOIN marts.candidates AS it_c
           ON it_c.org_id = ?
          AND it_c.candidate_id = coalesce(it_p.candidate_id,
                                           CASE WHEN {item_type} = 'candidate' THEN {item_id} END)
    LEFT JOIN marts.clients AS it_cl
           ON it_cl.org_id = ? AND it_cl.client_id = coalesce(it_p.client_id, it_c.client_id)
    LEFT JOIN marts.signals AS it_s
           ON it_s.org_id = ? AND it_s.signal_id = CASE WHEN {item_type} = 'signal' THEN {item_id} END
    """


# A user of the org (an owner, a capture lead, an actor) by name rather than id: the `users` mart's
# `display_name` (the name, else the id), and the id as given when the mart does not know the user, so a
# join never hides a row. `user_name_join(column, alias)` joins the user whose id `column` holds (a column
# of the query, never user input) under the fixed alias `alias`; `user_name(column, alias)` is the value to
# show. Parameters: org_id x 1 per join.
def user_name_join(column: str, alias: str = "un") -> str:
    """The LEFT JOIN behind `user_name(column, alias)`."""
    return f"LEFT JOIN marts.users AS {alias} ON {alias}.org_id = ? AND {alias}.user_id = {column}"


def user_name(column: str, alias: str = "un") -> str:
    """The name to show for the user id in `column` (joined by `user_name_join(column, alias)`)."""
    return f"coalesce({alias}.display_name, {column})"
