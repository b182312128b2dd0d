"""The analyst pages' shared period: a date range chosen in the sidebar, and the previous period it is
compared with.

A period is whole UTC days, `start` to `end` inclusive. The presets count back from the day of the
snapshot's as-of time (`built_at`), never from the wall clock, so a past snapshot (time travel) or a
snapshot published yesterday shows the period its data covers. The previous period has the same number
of days and ends the day before the period starts: "quarter to date" on 10 May (40 days) is compared with
the 40 days before 1 April, not with the whole previous quarter, so the two are equally long.

Queries take the period as a half-open UTC interval (`start_ts` <= t < `end_ts`) so a timestamp on the
last day counts and one at midnight after it does not. `period_metric` draws a KPI with its change
against the previous period; when the previous period holds nothing to compare with, no change is shown
rather than a change from zero.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

import streamlit as st

from dagster_project.settings import default_clock
from streamlit_app.lib import ui
from streamlit_app.lib.queries import snapshot as queries

# Session-state key (and URL query parameter) of the preset; the custom range's key starts with RANGE_KEY.
PERIOD_KEY = "period"
RANGE_KEY = "period_range"

PRESETS: dict[str, str] = {
    "last_7": "Last 7 days",
    "last_30": "Last 30 days",
    "last_90": "Last 90 days",
    "qtd": "Quarter to date",
    "ytd": "Year to date",
    "custom": "Custom range",
}
# A month of activity: long enough to hold closes and SLA clocks, short enough to read as "lately".
DEFAULT_PRESET = "last_30"

Kind = Literal["count", "ratio", "points", "usd"]
Better = Literal["higher", "lower", "neither"]
# How a change is coloured: green when it goes the way that is better, red when not, grey when neither.
DELTA_COLORS: dict[str, Literal["normal", "inverse", "off"]] = {
    "higher": "normal",
    "lower": "inverse",
    "neither": "off",
}


@dataclass(frozen=True)
class Period:
    """Whole UTC days from `start` to `end`, both included."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"a period ends on or after its start: {self.start} to {self.end}")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def previous(self) -> Period:
        """As many days, ending the day before this period starts."""
        end = self.start - dt.timedelta(days=1)
        return Period(end - dt.timedelta(days=self.days - 1), end)

    @property
    def start_ts(self) -> dt.datetime:
        """Midnight UTC at the start of the first day (included)."""
        return dt.datetime.combine(self.start, dt.time(), tzinfo=dt.UTC)

    @property
    def end_ts(self) -> dt.datetime:
        """Midnight UTC after the last day (excluded)."""
        return dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)

    def text(self) -> str:
        """`2024-04-11 – 2024-05-10 (30 days)`."""
        days = "1 day" if self.days == 1 else f"{self.days} days"
        return f"{self.start.isoformat()} – {self.end.isoformat()} ({days})"


def anchor_date(snapshot: queries.Snapshot) -> dt.date:
    """The UTC day the presets count back from: that of the snapshot's as-of time.

    A snapshot without an info row has no as-of time; then the project's injectable clock stands in.
    """
    moment = snapshot.built_at if snapshot.built_at is not None else default_clock().now()
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return moment.date()


def preset_period(preset: str, anchor: dt.date) -> Period:
    """The period a preset names, ending on `anchor` (an unknown preset is the default one)."""
    if preset == "last_7":
        return Period(anchor - dt.timedelta(days=6), anchor)
    if preset == "last_90":
        return Period(anchor - dt.timedelta(days=89), anchor)
    if preset == "qtd":
        return Period(dt.date(anchor.year, 3 * ((anchor.month - 1) // 3) + 1, 1), anchor)
    if preset == "ytd":
        return Period(dt.date(anchor.year, 1, 1), anchor)
    return Period(anchor - dt.timedelta(days=29), anchor)


def custom_period(picked: Any, fallback: Period) -> Period:
    """A custom range from `st.date_input`: both ends, one day while only the start is picked, or the
    fallback while nothing is."""
    dates = [d for d in (picked if isinstance(picked, tuple | list) else (picked,)) if d is not None]
    if not dates:
        return fallback
    return Period(min(dates), max(dates))


def sidebar(snapshot: queries.Snapshot) -> Period:
    """The period control in the sidebar; the period it chose.

    The preset travels in the URL (`?period=last_90`), so a link opens on the same period; anything in
    the URL that is not a preset falls back to the default.
    """
    anchor = anchor_date(snapshot)
    if st.session_state.get(PERIOD_KEY) not in PRESETS:
        st.session_state.pop(PERIOD_KEY, None)
    with ui.page_sidebar():
        preset = st.selectbox(
            "Period",
            list(PRESETS),
            index=list(PRESETS).index(DEFAULT_PRESET),
            format_func=PRESETS.__getitem__,
            key=PERIOD_KEY,
            bind="query-params",
            help="Every number with a change below counts this period, against the same number of days "
            "right before it. Presets end on the day of the data's as-of time.",
        )
        period = preset_period(preset, anchor)
        if preset == "custom":
            # Keyed by snapshot version: a new publish starts from the default range of its own as-of day.
            picked = st.date_input(
                "Dates",
                value=(period.start, period.end),
                max_value=anchor,
                format="YYYY-MM-DD",
                key=f"{RANGE_KEY}_{snapshot.version}",
            )
            period = custom_period(picked, period)
        st.caption(f"**{period.text()}**  \ncompared with {period.previous.text()}")
    return period


def change(current: float | None, previous: float | None, kind: Kind) -> str | int | None:
    """`current − previous` as `st.metric` shows it: `+12`, `-3`, `+4.5 pp`, `+$1,200`; 0 when
    unchanged (a grey delta without an arrow); None when either side is unknown.

    Ratios (0–1) and percentages (0–100) change in percentage points, never in percent of themselves.
    """
    if current is None or previous is None:
        return None
    diff = (current - previous) * (100 if kind == "ratio" else 1)
    if kind in ("ratio", "points"):
        diff = round(diff, 1)
        return 0 if diff == 0 else f"{diff:+.1f} pp"
    if kind == "usd":
        diff = round(diff)
        return 0 if diff == 0 else f"{'-' if diff < 0 else '+'}${abs(diff):,.0f}"
    diff = int(diff)
    return 0 if diff == 0 else f"{diff:+,}"


def value_text(value: float | None, kind: Kind) -> str:
    """A KPI value formatted like the rest of the pages."""
    if kind == "ratio":
        return ui.format_pct(value)
    if kind == "points":
        return ui.format_pct_points(value)
    if kind == "usd":
        return ui.format_usd(value)
    return ui.format_int(None if value is None else int(value))


def period_metric(
    column: Any,
    label: str,
    current: float | None,
    previous: float | None,
    period: Period,
    *,
    kind: Kind = "count",
    better: Better = "higher",
    compare: bool = True,
    help: str | None = None,
) -> None:
    """One KPI for the period with its change against the previous period.

    `compare` is False when the previous period holds nothing to compare with (no events, no eligible
    clock, no close): then no change is drawn at all, since a change from nothing says nothing.
    """
    delta = change(current, previous, kind) if compare else None
    column.metric(
        label,
        value_text(current, kind),
        delta=delta,
        delta_color=DELTA_COLORS[better],
        delta_description=None if delta is None else f"vs previous {period.days} days",
        help=help,
    )


def no_previous_caption(period: Period) -> str:
    """Said under the KPIs when the previous period has nothing to compare with."""
    return f"No change shown: nothing to compare with in the previous period ({period.previous.text()})."
