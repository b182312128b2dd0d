"""Page furniture shared by the router and every page: snapshot/org context, empty states, formatting.

Pages start with `page_context(title)`: it renders the title and, when there is nothing to show,
the matching empty state before stopping the page, so no page ever queries without a snapshot and
an org, nor for an org the signed-in user may not read.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import polars as pl
import streamlit as st

from streamlit_app.lib import auth, db, settings
from streamlit_app.lib.queries import snapshot as queries

# Session-state key of the org selector; also the URL query parameter (`?org=acme`).
ORG_KEY = "org"


@dataclass(frozen=True)
class PageContext:
    """What every page needs: the snapshot being read and the org it is scoped to."""

    snapshot: queries.Snapshot
    org_id: str


def no_snapshot_message(path: Path | str | None = None) -> None:
    """The empty state before the first publish: how to get data, not a traceback."""
    where = path if path is not None else settings.snapshot_path()
    st.info(
        "**No data yet.** No snapshot has been published at "
        f"`{where}`.\n\n"
        "Run `workstream run` to ingest the inbox and publish one (or `make demo` for sample data), "
        "then reload this page.",
        icon=":material/hourglass_empty:",
    )


def time_travel_banner(snapshot: queries.Snapshot) -> None:
    """Above every page while a past snapshot is chosen, so nobody takes it for the live data."""
    st.warning(
        f"**As of {format_ts(snapshot.built_at)}** · time travel: a past snapshot "
        f"(`{Path(snapshot.path).name}`), not the live data. Choose *Live* under **Time travel** in the "
        "sidebar to go back.",
        icon=":material/history:",
    )


def time_travel_label(name: str) -> str:
    """A time-travel choice as the sidebar lists it: the live data, or "as of …" a past snapshot."""
    if name == queries.LIVE:
        return "Live (latest)"
    path = next((p for p in settings.past_snapshot_paths() if p.name == name), None)
    try:
        snapshot = queries.snapshot_at(path) if path is not None else None
    except (db.SnapshotMissing, db.SnapshotUnavailable, db.SnapshotIncompatible):
        snapshot = None  # a file that cannot be read is listed by its name instead
    return f"as of {format_ts(snapshot.built_at)}" if snapshot and snapshot.built_at else name


def refreshing_message() -> None:
    """Shown when the snapshot is being swapped or locked and retries ran out."""
    st.info("The data is being refreshed. Reload the page in a few seconds.", icon=":material/sync:")


def incompatible_message(detail: str) -> None:
    """Shown when the snapshot predates a table or column the dashboard reads."""
    st.error(
        "The published snapshot does not have what this page needs; it was probably written by an "
        f"older pipeline. Re-publish it with `workstream run`.\n\n`{detail}`",
        icon=":material/error:",
    )


# One refusal for an org the user may not read and one that does not exist, repeating nothing of the URL.
ORG_REFUSED = (
    "**This organisation cannot be shown.** It does not exist in this snapshot or your account has no "
    "access to it. Nothing of any organisation is shown; choose one of yours in the sidebar."
)


def org_refused() -> None:
    """Shown instead of any page when the URL asks for an org the user may not read, with a way back."""
    st.error(ORG_REFUSED, icon=":material/block:")
    if st.button("Show my organisations", key="org_refused_back"):
        del st.query_params[ORG_KEY]
        st.rerun()


# Where the running page's own sidebar controls go: set by the router on each run, per script thread.
_page_sidebar = threading.local()


def set_page_sidebar(container: Any) -> None:
    """The router's slot in the sidebar for the page about to run (under the organisation)."""
    _page_sidebar.container = container


def page_sidebar() -> Any:
    """The sidebar slot for the page's own controls; the sidebar's end when the router set none."""
    return getattr(_page_sidebar, "container", None) or st.sidebar


def page_context(title: str) -> PageContext:
    """Render the title; return the snapshot and selected org, or show the empty state and stop.

    The org is checked against the signed-in user's grants here too, so a page never queries an org they
    may not read whatever put it in the session.
    """
    st.title(title)
    snapshot = queries.current_snapshot()
    if snapshot is None:
        no_snapshot_message()
        st.stop()
    org_id = st.session_state.get(ORG_KEY)
    if not org_id:
        st.info(
            "This snapshot holds no organisations of yours yet: no events of theirs were accepted and no "
            "files of theirs ingested.",
            icon=":material/inbox:",
        )
        st.stop()
    if not auth.principal().can_read(org_id):
        st.error(ORG_REFUSED, icon=":material/block:")
        st.stop()
    return PageContext(snapshot=snapshot, org_id=org_id)


def format_ts(value: dt.datetime | None) -> str:
    """A UTC timestamp to the minute, or an em dash when unknown."""
    if value is None:
        return "—"
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%d %H:%M UTC")


def format_date(value: dt.date | None) -> str:
    """ISO date, or an em dash when unknown."""
    return "—" if value is None else value.isoformat()


def format_int(value: int | None) -> str:
    """Thousands-separated integer, em dash for None."""
    return "—" if value is None else f"{int(value):,}"


def format_pct(value: float | None) -> str:
    """A 0–1 ratio as a whole percentage (`76%`), em dash for None. A ratio short of 1 that would round to
    100% (439 of 440), or above 0 that would round to 0%, gets the decimals that keep it honest (`99.8%`,
    `0.2%`), up to two, then `<100%` / `>0%`."""
    if value is None:
        return "—"
    for digits in (0, 1, 2):
        text = f"{value:.{digits}%}"
        shown = float(text.removesuffix("%"))
        if not (value < 1 and shown >= 100) and not (value > 0 and shown <= 0):
            return text
    return "<100%" if value < 1 and value > 0.5 else ">0%"


def format_pct_points(value: float | None) -> str:
    """A percentage already on the 0–100 scale (as the SLA marts publish it): `97.5%`, `100%`; em dash for None."""
    if value is None:
        return "—"
    text = f"{value:.1f}".removesuffix(".0")
    return f"{text}%"


def format_hours(hours: float | None) -> str:
    """A number of hours as a duration (`4 d 14 h`, `3 h 05 min`), em dash for None."""
    return "—" if hours is None else format_duration(hours * 3_600)


def format_hours_number(hours: float | None) -> str:
    """Hours as the tables show them (`hours_column`): `12.0 h`, `1,234.5 h`; em dash for None."""
    return "—" if hours is None else f"{hours:,.1f} h"


def format_usd(value: float | None) -> str:
    """Whole US dollars with thousands separators, em dash for None."""
    return "—" if value is None else f"${value:,.0f}"


def format_duration(seconds: float | None) -> str:
    """A duration in the largest sensible units (`45 s`, `12 min 34 s`, `3 h 05 min`, `2 d 4 h`)."""
    if seconds is None:
        return "—"
    total = max(0, round(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


# Badges as words, so they read the same without an emoji font (a browser on a bare Linux box shows
# coloured-circle emoji as empty boxes).
BADGE_WORDS: dict[str, str] = {"red": "SLA breach", "amber": "Needs attention", "green": "On track"}
BADGE_COLORS: dict[str, str] = {"red": "red", "amber": "orange", "green": "green"}


def format_badge(badge: str | None) -> str:
    """A Today-panel badge as words (`SLA breach`, `Needs attention`, `On track`), em dash for None."""
    if badge is None:
        return "—"
    return BADGE_WORDS.get(badge, word(badge))


def badge_markdown(badge: str | None) -> str:
    """A Today-panel badge as a coloured Streamlit markdown badge with its words (no emoji)."""
    if badge is None:
        return ":gray-badge[—]"
    return f":{BADGE_COLORS.get(badge, 'gray')}-badge[{escape_markdown(format_badge(badge))}]"


# Codes the marts publish, as the pages show them: the one place a code becomes words. A code not listed
# reads as itself with underscores and dots as spaces and a capital first letter (`pink_review` ->
# `Pink review`, `pursuit.stage_changed` -> `Pursuit stage changed`).
WORDS: dict[str, str] = {
    # item types
    "candidate": "Candidate",
    "pursuit": "Pursuit",
    "signal": "Signal",
    "client": "Client",
    # SLA metrics and clock states
    "triage": "Triage",
    "proposal": "Proposal",
    "response": "Response",
    "running": "Running",
    "met": "Met",
    "breached": "Breached",
    "breached_open": "Breached, still open",
    "breached_resolved": "Breached, since stopped",
    # follow-up kinds
    "proposal_quiet": "Proposal gone quiet",
    "signal_quiet": "Signal waiting on a reply",
    "client_preference": "Client preference",
    # outcomes
    "won": "Won",
    "lost": "Lost",
    "no_bid": "No bid",
    # scoring
    "model": "Model trained on this org's closed pursuits",
    "prior": "Prior scorecard (too few closed pursuits to train on)",
    # pursuit stages (the colour-team reviews of a proposal) and lifecycle states
    "qual": "Qualification",
    "pink": "Pink review",
    "red": "Red review",
    "submit": "Submitted",
    "on_hold": "On hold",
    "promoted": "Promoted to a pursuit",
    "linked": "Linked to a candidate",
    # lifecycle rules an event can break (`rejected_events.rule`)
    "illegal_transition": "Move not allowed from this state",
    "unknown_entity": "Unknown item at that time",
    "gate:pink_incomplete": "Pink checklist incomplete at submit",
    "gate:red_incomplete": "Red checklist incomplete at close",
    "gate:no_sent_proposal": "Won without a sent proposal",
    "pursuit_id_taken": "Pursuit id already taken",
    "invalid_config": "Invalid configuration",
    # priority tiers
    "critical": "Critical",
    "high": "High",
    "medium": "Medium",
    "low": "Low",
}


def word(code: str | None) -> str:
    """A code as words (`WORDS`, else `pink_review` -> `Pink review`, `pursuit.stage_changed` ->
    `Pursuit stage changed`); em dash for None."""
    if code is None:
        return "—"
    if code in WORDS:
        return WORDS[code]
    text = code.replace("_", " ").replace(".", " ").strip()
    return text[:1].upper() + text[1:] if text else code


# The item page's URL path (`app.py`), and its query parameters.
ITEM_PAGE = "item"


def item_url(org_id: str, item_type: str, item_id: str) -> str:
    """A relative link to the item page of one candidate or pursuit (`item?org=..&type=..&id=..`)."""
    return f"{ITEM_PAGE}?{urlencode({'org': org_id, 'type': item_type, 'id': item_id})}"


# Item types with an item page; a signal's row has no link.
ITEM_PAGE_TYPES: tuple[str, ...] = ("candidate", "pursuit")


def item_links(
    df: pl.DataFrame, org_id: str, type_col: str = "item_type", id_col: str = "item_id"
) -> pl.Series:
    """The `open` column of a table of items: each row's item-page link, null where there is no page.

    Added after `for_display`, so a row without a page has no link rather than a link to "—".
    """
    return pl.Series(
        "open",
        [
            item_url(org_id, t, i) if t in ITEM_PAGE_TYPES and i is not None else None
            for t, i in zip(df[type_col], df[id_col], strict=True)
        ],
        dtype=pl.String,
    )


def link_column(**kwargs: Any) -> Any:
    """The column config of an `item_links` column: "Open" in each row that has a page."""
    return st.column_config.LinkColumn("Open", display_text="Open", width=52, **kwargs)


# What a table shows for a missing value (`st.dataframe(..., placeholder=MISSING)`), as text cells do.
MISSING = "—"


def for_display(df: pl.DataFrame, formatters: dict[str, Callable[[Any], str]] | None = None) -> pl.DataFrame:
    """A frame ready for `st.dataframe` in which no cell is missing: every gap reads "—", never "None".

    Columns in `formatters` become text through their formatter (which never sees None). Otherwise
    text columns get "—" for nulls, lists are joined with commas ("—" when empty), timestamps and
    dates are formatted like the rest of the page; numbers and booleans are left as they are: a number
    turned into text sorts as text ("87 d" after "115 d"), so numbers are formatted by the table's
    column config (`hours_column`, `percent_column`, ...) and their gaps by `placeholder=MISSING`.
    A formatter for a numeric column is refused (TypeError).
    """
    formatters = formatters or {}
    numeric = [name for name in formatters if name in df.columns and df.schema[name].is_numeric()]
    if numeric:
        raise TypeError(
            f"numeric column(s) {', '.join(numeric)} must stay numbers: format them with the column config"
        )
    columns = []
    for name, dtype in df.schema.items():
        values = df.get_column(name)
        if name in formatters:
            fmt = formatters[name]
            columns.append(pl.Series(name, ["—" if v is None else fmt(v) for v in values], dtype=pl.String))
        elif dtype == pl.String:
            columns.append(values.fill_null("—"))
        elif isinstance(dtype, pl.List):
            joined = [", ".join(str(x) for x in v) if v else "—" for v in values.to_list()]
            columns.append(pl.Series(name, joined, dtype=pl.String))
        elif isinstance(dtype, pl.Datetime):
            columns.append(pl.Series(name, [format_ts(v) for v in values.to_list()], dtype=pl.String))
        elif dtype == pl.Date:
            columns.append(pl.Series(name, [format_date(v) for v in values.to_list()], dtype=pl.String))
        else:
            columns.append(values)
    return pl.DataFrame(columns, schema={c.name: c.dtype for c in columns}) if columns else df


# Column configs for numbers, so each kind of quantity reads the same in every table and sorts as a number.
# Formats are printf-style strings the browser applies to the numeric value.


def header(column: str) -> str:
    """A column name as a table header: `first_seen_at` → "First seen", `client_id` → "Client ID"."""
    words = column.removesuffix("_at").split("_")
    words = ["ID" if w == "id" else "USD" if w == "usd" else w for w in words]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def labelled(frame: Any, column_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """`column_config` with a header (`header`) for every column of `frame` it does not configure, so no
    table shows a snake_case name."""
    config = dict(column_config or {})
    for column in frame.columns:
        config.setdefault(column, header(column))
    return config


def labelled_table(frame: Any, column_config: dict[str, Any] | None = None) -> Any:
    """`frame` as the tables show it (`for_display`): full width, no index, an em dash for a missing
    value, and every column headed in words (`labelled`)."""
    shown = for_display(frame)
    return st.dataframe(
        shown,
        width="stretch",
        hide_index=True,
        placeholder=MISSING,
        column_config=labelled(shown, column_config),
    )


def hours_column(label: str, **kwargs: Any) -> Any:
    """Hours (SLA thresholds, time over, time in stage), always in hours so two tables never disagree in
    units."""
    return st.column_config.NumberColumn(label, format="%.1f h", **kwargs)


def days_column(label: str, **kwargs: Any) -> Any:
    """Days, one decimal."""
    return st.column_config.NumberColumn(label, format="%.1f d", **kwargs)


def percent_points_column(label: str, **kwargs: Any) -> Any:
    """A percentage already on the 0–100 scale (the SLA marts' `*_pct`)."""
    return st.column_config.NumberColumn(label, format="%.1f%%", **kwargs)


def ratio_column(label: str, **kwargs: Any) -> Any:
    """A 0–1 ratio shown as a percentage."""
    return st.column_config.NumberColumn(label, format="percent", **kwargs)


def usd_column(label: str, **kwargs: Any) -> Any:
    """US dollars."""
    return st.column_config.NumberColumn(label, format="dollar", **kwargs)


def score_column(label: str, **kwargs: Any) -> Any:
    """A score with one decimal."""
    return st.column_config.NumberColumn(label, format="%.1f", **kwargs)


def scope_caption(ctx: PageContext) -> str:
    """The line under each page title: whose data and as of when."""
    snap = ctx.snapshot
    return (
        f"Organisation **{ctx.org_id}** · data as of **{format_ts(snap.built_at)}** "
        f"(published {format_ts(snap.published_at)})"
    )


# Markdown characters that could turn stored text into formatting, links, math or Streamlit directives.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>$~:#|])")


def escape_markdown(text: str | None) -> str:
    """Stored text made safe to show inside `st.markdown`: on one line, every markup character escaped."""
    if text is None:
        return "—"
    return _MARKDOWN_SPECIAL.sub(r"\\\1", re.sub(r"\s+", " ", str(text)))


def escape_snippet(snippet: str) -> str:
    """A search snippet (terms wrapped in `**`) escaped like `escape_markdown`, keeping the bold terms."""
    return "**".join(escape_markdown(part) for part in snippet.split("**"))


ATOM_BADGE_COLORS: dict[str, str] = {
    "decision": "blue",
    "risk": "red",
    "preference": "violet",
    "note": "gray",
    "status": "green",
}


def atom_badge(atom_type: str | None) -> str:
    """A memory atom's type as a coloured Streamlit markdown badge (`:red-badge[risk]`)."""
    if atom_type is None:
        return ":gray-badge[—]"
    return f":{ATOM_BADGE_COLORS.get(atom_type, 'orange')}-badge[{escape_markdown(atom_type)}]"
