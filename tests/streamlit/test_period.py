"""The analyst pages' shared period: the sidebar control, the previous period it is compared with, and
the KPIs' changes against it.

The fixture snapshot is as of 2024-05-10 and holds data from 1 to 9 May only, so by default (the last
30 days) the previous period (12 March to 10 April) is empty. Tests that need a previous period publish
rows into it, as a new publish would.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
from conftest import signed_in_app
from snapshot_fixture import BUILT_AT, ORG_A, expected
from streamlit.proto.Metric_pb2 import Metric as MetricProto
from streamlit.testing.v1 import AppTest

from streamlit_app.lib import period

OVERVIEW = "app_pages/overview.py"
FUNNEL = "app_pages/funnel_velocity.py"
SLA = "app_pages/sla_compliance.py"
PIPELINE_HEALTH = "app_pages/pipeline_health.py"
WIN_LOSS = "app_pages/win_loss.py"
WORKLOAD = "app_pages/owner_workload.py"
QUALITY_GATES = "app_pages/quality_gates.py"
ANALYST_PAGES = (OVERVIEW, FUNNEL, SLA, PIPELINE_HEALTH, WIN_LOSS, WORKLOAD, QUALITY_GATES)

AS_OF_DAY = BUILT_AT.date()  # 2024-05-10


def _at(day: dt.date, hour: int = 9) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


def _open(page: str, *, url_period: str | None = None) -> AppTest:
    at = signed_in_app()
    if url_period is not None:
        at.query_params["period"] = url_period
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metric(at: AppTest, label: str):
    matches = [m for m in at.metric if m.label == label]
    assert len(matches) == 1, f"metric {label!r}: {[m.label for m in at.metric]}"
    return matches[0]


def _choose(at: AppTest, preset: str) -> None:
    next(s for s in at.sidebar.selectbox if s.label == "Period").set_value(preset).run()
    assert not at.exception, [e.value for e in at.exception]


def _publish(snapshot: Path, sql: str, rows: list[tuple], version: str) -> None:
    """Add rows to the published snapshot as a new publish would (a new version, so no stale cache)."""
    with duckdb.connect(str(snapshot)) as con:
        con.executemany(sql, rows)
        con.execute("UPDATE marts.snapshot_info SET snapshot_version = ?", [version])


def _add_closes(snapshot: Path, closes: list[tuple[str, str, dt.date]]) -> None:
    """Closed acme pursuits (id, outcome, close day) with a reason and no forecast value."""
    _publish(
        snapshot,
        """
        INSERT INTO marts.pursuits (org_id, pursuit_id, stage, outcome, reason_code, missing_reason,
                                    created_at, closed_at, entered_state_at, last_event_at, built_at,
                                    proposals_sent, pink_checklist, red_checklist, pink_missing, red_missing)
        VALUES (?, ?, ?, ?, 'price', false, ?, ?, ?, ?, ?, 0, '{}', '{}', [], [])
        """,
        [
            (
                ORG_A,
                pid,
                outcome,
                outcome,
                _at(day) - dt.timedelta(days=3),
                _at(day),
                _at(day),
                _at(day),
                BUILT_AT,
            )
            for pid, outcome, day in closes
        ],
        "with-closes",
    )


# ------------------------------------------------------------------------------------ the period itself


@pytest.mark.parametrize("preset", list(period.PRESETS))
def test_the_previous_period_is_as_long_and_ends_the_day_before_the_period_starts(preset: str) -> None:
    current = period.preset_period(preset, AS_OF_DAY)
    before = current.previous
    assert before.days == current.days
    assert before.end == current.start - dt.timedelta(days=1)
    assert before.end_ts == current.start_ts  # back to back, no gap and no overlap


def test_presets_end_on_the_as_of_day_and_count_back_from_it() -> None:
    assert period.preset_period("last_7", AS_OF_DAY) == period.Period(dt.date(2024, 5, 4), AS_OF_DAY)
    assert period.preset_period("last_30", AS_OF_DAY).start == dt.date(2024, 4, 11)
    assert period.preset_period("last_90", AS_OF_DAY).days == 90
    assert period.preset_period("qtd", AS_OF_DAY).start == dt.date(2024, 4, 1)
    assert period.preset_period("ytd", AS_OF_DAY).start == dt.date(2024, 1, 1)
    # Quarter to date on 10 May is 40 days; it is compared with the 40 days before 1 April.
    assert period.preset_period("qtd", AS_OF_DAY).previous == period.Period(
        dt.date(2024, 2, 21), dt.date(2024, 3, 31)
    )


def test_a_period_counts_whole_utc_days_as_a_half_open_interval() -> None:
    day = period.Period(dt.date(2024, 5, 2), dt.date(2024, 5, 3))
    assert day.start_ts == dt.datetime(2024, 5, 2, tzinfo=dt.UTC)
    assert day.end_ts == dt.datetime(2024, 5, 4, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="ends on or after its start"):
        period.Period(dt.date(2024, 5, 3), dt.date(2024, 5, 2))


def test_a_custom_range_being_picked_reads_as_one_day_and_an_empty_one_as_the_fallback() -> None:
    fallback = period.preset_period("last_30", AS_OF_DAY)
    start = dt.date(2024, 5, 2)
    assert period.custom_period((start,), fallback) == period.Period(start, start)
    assert period.custom_period((), fallback) == fallback
    assert period.custom_period((start, dt.date(2024, 5, 6)), fallback).days == 5


@pytest.mark.parametrize(
    ("current", "previous", "kind", "shown"),
    [
        (12, 5, "count", "+7"),
        (5, 12, "count", "-7"),
        (1234, 0, "count", "+1,234"),
        (7, 7, "count", 0),
        (0.5, 0.25, "ratio", "+25.0 pp"),
        (97.5, 100.0, "points", "-2.5 pp"),
        (1000.0, 2500.0, "usd", "-$1,500"),
        (None, 3, "count", None),
    ],
)
def test_the_change_is_current_minus_previous(current, previous, kind, shown) -> None:
    assert period.change(current, previous, kind) == shown


# ------------------------------------------------------------------------------------------- the pages


def test_every_analytic_page_has_the_period_under_the_organisation_and_no_change_without_a_previous_one(
    snapshot_home: Path,
) -> None:
    # One session visits the pages in turn (each page's run draws all of its elements afresh): a new
    # session per page would run the app's first page again each time.
    at = _open(ANALYST_PAGES[0])
    for page in ANALYST_PAGES:
        if page != ANALYST_PAGES[0]:
            at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        control = next(s for s in at.sidebar.selectbox if s.label == "Period")
        assert control.value == period.DEFAULT_PRESET, page
        sidebar = " ".join(c.value for c in at.sidebar.caption)
        assert "**2024-04-11 – 2024-05-10 (30 days)**" in sidebar, page
        assert "compared with 2024-03-12 – 2024-04-10 (30 days)" in sidebar, page
        labels = [getattr(node, "label", None) for node in at.sidebar]
        assert labels.index("Organisation") < labels.index("Period") < labels.index("Sign out"), page
        # The fixture's previous period is empty: no change is shown, and the page says why.
        assert [m.label for m in at.metric if m.proto.delta] == [], page
        assert any("No change shown" in c.value for c in at.caption), page


def test_the_period_filters_the_numbers(snapshot_home: Path) -> None:
    # Two closes long before the default period: counted only once the period reaches back to them.
    _add_closes(snapshot_home / "serving.duckdb", [("p-old-1", "won", dt.date(2024, 2, 20)),
                                                   ("p-old-2", "won", dt.date(2024, 2, 21))])  # fmt: skip
    at = _open(WIN_LOSS)
    assert _metric(at, "Won").value == "1"  # p-a2, closed 7 May
    _choose(at, "ytd")
    assert _metric(at, "Won").value == "3"
    _choose(at, "last_7")  # 4 to 10 May still holds p-a2
    assert _metric(at, "Won").value == "1"


def test_the_previous_period_is_the_same_length_right_before_and_the_delta_is_current_minus_previous(
    snapshot_home: Path,
) -> None:
    # Last 30 days = 11 April – 10 May, previous = 12 March – 10 April: 10 April is in the previous
    # period, 11 March in neither.
    _add_closes(
        snapshot_home / "serving.duckdb",
        [
            ("p-prev-won", "won", dt.date(2024, 4, 10)),
            ("p-prev-lost", "lost", dt.date(2024, 3, 12)),
            ("p-too-old", "won", dt.date(2024, 3, 11)),
        ],
    )
    at = _open(WIN_LOSS)
    won, lost, rate = _metric(at, "Won"), _metric(at, "Lost"), _metric(at, "Win rate")
    # Now: 1 won, 2 lost (fixture). Before: 1 won, 1 lost.
    assert (won.value, won.proto.delta) == ("1", "0")
    assert (lost.value, lost.proto.delta) == ("2", "+1")
    assert (rate.value, rate.proto.delta) == ("33%", f"{(1 / 3 - 1 / 2) * 100:+.1f} pp")
    assert "vs previous 30 days" in lost.proto.delta_description
    # More losses is bad news (red); a lower win rate too.
    assert lost.proto.color == MetricProto.MetricColor.RED
    assert rate.proto.color == MetricProto.MetricColor.RED
    assert not any("No change shown" in c.value for c in at.caption)


def test_a_breach_rate_going_up_is_red_and_compliance_going_down_is_red(snapshot_home: Path) -> None:
    # The previous period: four triage clocks of acme, all met (0 % breached, 100 % compliance).
    met = [
        (ORG_A, "signal", f"sig-prev-{n}", "triage", _at(dt.date(2024, 4, 1)), 24.0,
         _at(dt.date(2024, 4, 2)), _at(dt.date(2024, 4, 1), 10), 1.0, "met", True, False, BUILT_AT)
        for n in range(4)
    ]  # fmt: skip
    _publish(snapshot_home / "serving.duckdb", "INSERT INTO marts.sla_clocks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
             met, "with-previous-clocks")  # fmt: skip
    at = _open(SLA)
    # In the period acme's triage has 9 met clocks and 1 breached (the fixture).
    breach = _metric(at, "Triage breach rate")
    assert (breach.value, breach.proto.delta) == ("10%", "+10.0 pp")
    assert breach.proto.color == MetricProto.MetricColor.RED
    compliance = _metric(at, "Triage compliance")
    assert (compliance.value, compliance.proto.delta) == ("90%", "-10.0 pp")
    assert compliance.proto.color == MetricProto.MetricColor.RED
    # Proposal had no eligible clock before: no change, rather than a change from nothing.
    assert _metric(at, "Proposal compliance").proto.delta == ""


def test_overview_events_change_against_the_previous_period(snapshot_home: Path) -> None:
    _publish(
        snapshot_home / "serving.duckdb",
        "INSERT INTO marts.event_volume_daily (org_id, event_date, event_name, entity_type, events) "
        "VALUES (?, ?, ?, ?, ?)",
        [(ORG_A, dt.date(2024, 4, 10), "signal.created", "signal", 50)],
        "with-april",
    )
    at = _open(OVERVIEW)
    events = _metric(at, "Events")
    assert events.value == f"{expected(ORG_A).events:,}"
    assert events.proto.delta == f"{expected(ORG_A).events - 50:+,}"
    assert events.proto.color == MetricProto.MetricColor.GRAY  # volume is neither good nor bad


def test_a_period_that_is_not_a_preset_in_the_url_falls_back_to_the_default(snapshot_home: Path) -> None:
    at = _open(OVERVIEW, url_period="'; DROP TABLE marts.events; --")
    assert next(s for s in at.sidebar.selectbox if s.label == "Period").value == period.DEFAULT_PRESET
    assert _metric(at, "Events").value == f"{expected(ORG_A).events:,}"


def test_the_chosen_period_stays_when_switching_pages(snapshot_home: Path) -> None:
    at = _open(WIN_LOSS)
    _choose(at, "ytd")
    at.switch_page(SLA).run()
    assert next(s for s in at.sidebar.selectbox if s.label == "Period").value == "ytd"
    at.switch_page("app_pages/today.py").run()
    at.switch_page(OVERVIEW).run()
    assert next(s for s in at.sidebar.selectbox if s.label == "Period").value == "ytd"
