"""Time travel: past snapshots under `<home>/as-of/` as a sidebar choice, with a clear "as of" banner.

The tests only read the snapshots, so the home with a past snapshot is built once for the module, and
tests that open the app the same way share one session."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from conftest import signed_in_app
from snapshot_fixture import ORG_A, build_snapshot, expected
from streamlit.testing.v1 import AppTest

from dagster_project.access.store import ENV_CHEAP_HASHES

PAST_NAME = "20240401T000000Z.duckdb"
PAST_AT = dt.datetime(2024, 4, 1, tzinfo=dt.UTC)


def _events(path: Path, org: str) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(
            "select sum(events) from marts.event_volume_daily where org_id = ?", [org]
        ).fetchone()[0]


@pytest.fixture(scope="module")
def past_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The fixture home plus one past snapshot: as of an earlier time, with fewer of org A's events, all
    before that time. The module's own home (the function-scoped fixtures are the tests')."""
    home = tmp_path_factory.mktemp("time-travel") / "home"
    home.mkdir()
    build_snapshot(home / "serving.duckdb")
    past = build_snapshot(home / "as-of" / PAST_NAME, version="past-test")
    with duckdb.connect(str(past)) as con:
        con.execute("update marts.snapshot_info set built_at = ?", [PAST_AT])
        con.execute(
            "delete from marts.event_volume_daily where org_id = ? and event_date > "
            "(select min(event_date) from marts.event_volume_daily where org_id = ?)",
            [ORG_A, ORG_A],
        )
        # A snapshot as of 1 April holds no later event: its days move back before it, into the period
        # the pages show by default (the 30 days up to the snapshot's as-of day).
        con.execute("update marts.event_volume_daily set event_date = event_date - 40")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WORKSTREAM_HOME", str(home))
        env.setenv("WORKSTREAM_INBOX", str(home.parent / "inbox"))
        env.setenv(ENV_CHEAP_HASHES, "1")
        yield home


def _app(**query: str) -> AppTest:
    at = signed_in_app()
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    at.switch_page("app_pages/overview.py").run()  # the app opens on Today; these read Overview's numbers
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metric(at: AppTest, label: str) -> str:
    (value,) = [m.value for m in at.metric if m.label == label]
    return value


def _banners(at: AppTest) -> list[str]:
    return [w.value for w in at.main.warning if "time travel" in w.value]


def test_the_live_snapshot_is_shown_without_a_banner_until_a_past_one_is_chosen_from_its_time(
    past_home: Path,
) -> None:
    at = _app()
    assert at.sidebar.selectbox(key="as_of").value == "live"
    # The choices read as of their time.
    assert at.sidebar.selectbox(key="as_of").options == ["Live (latest)", "as of 2024-04-01 00:00 UTC"]
    assert _banners(at) == []
    assert _metric(at, "Events") == f"{expected(ORG_A).events:,}"

    at.sidebar.selectbox(key="as_of").set_value(PAST_NAME).run()
    assert not at.exception, [e.value for e in at.exception]
    (banner,) = _banners(at)
    assert "As of 2024-04-01 00:00 UTC" in banner
    past_events = _events(past_home / "as-of" / PAST_NAME, ORG_A)
    assert past_events < expected(ORG_A).events
    assert _metric(at, "Events") == f"{past_events:,}"
    assert "**Data as of** 2024-04-01 00:00 UTC" in " ".join(c.value for c in at.sidebar.caption)


@pytest.mark.parametrize(
    "value", [PAST_NAME, "nope.duckdb", "../serving.duckdb", "/etc/passwd", "' OR 1=1 --", "as of 1999"]
)
def test_an_unknown_or_hostile_choice_in_the_url_falls_back_to_the_live_snapshot(
    past_home: Path, value: str
) -> None:
    at = _app(as_of=value)
    assert at.sidebar.selectbox(key="as_of").value == "live"
    assert _banners(at) == []
    assert _metric(at, "Events") == f"{expected(ORG_A).events:,}"


def test_no_time_travel_choice_without_past_snapshots(snapshot_home: Path) -> None:
    at = _app()
    assert [s for s in at.sidebar.selectbox if s.key == "as_of"] == []


def test_a_past_snapshot_chosen_by_url_counts_its_period_back_from_its_as_of_day_not_the_wall_clock(
    past_home: Path,
) -> None:
    # The URL carries the choice as the sidebar shows it (Streamlit binds a selectbox by its labels).
    at = _app(as_of="as of 2024-04-01 00:00 UTC")
    assert len(_banners(at)) == 1
    assert _metric(at, "Events") == f"{_events(past_home / 'as-of' / PAST_NAME, ORG_A):,}"
    sidebar = " ".join(c.value for c in at.sidebar.caption)
    assert "**2024-03-03 – 2024-04-01 (30 days)**" in sidebar
    at.sidebar.selectbox(key="as_of").set_value("live").run()
    assert "**2024-04-11 – 2024-05-10 (30 days)**" in " ".join(c.value for c in at.sidebar.caption)
