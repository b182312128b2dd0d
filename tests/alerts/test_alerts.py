"""Breach alerts: exactly once, retractions, suppression of old breaches, sinks incl. a real local webhook."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dagster_project.defs.alerting import AlertSinksResource, sla_alerts, sla_breach_sensor
from dagster_project.defs.resources import RunClockResource, WorkstreamResource
from dagster_project.settings import ENV_HOME, ENV_NOW
from dagster_project.sla import alerts
from tests.counting import CountingConnection

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


def _snapshot(
    path: Path, clocks: list[tuple], *, built_at: datetime = NOW, published_at: datetime = NOW
) -> Path:
    """A published snapshot with `marts.sla_clocks` (org, item_type, item_id, metric, start, deadline, stop)
    and `marts.snapshot_info` (built as of `built_at`, published at `published_at`), and the warehouse it
    was published from beside it: the same clocks, and the run clock (as of `built_at`, on the clock
    `published_at`) of the run that built them."""
    _clocks_file(path, clocks, "snapshot_info", [built_at, published_at])
    _clocks_file(path.with_name("warehouse.duckdb"), clocks, "run_clock", [built_at, published_at])
    return path


def _clocks_file(path: Path, clocks: list[tuple], info: str, times: list[datetime]) -> None:
    tmp = path.with_suffix(".tmp")
    con = duckdb.connect(str(tmp))
    con.execute("SET TimeZone = 'UTC'")
    con.execute("create schema marts")
    con.execute(
        "create table marts.sla_clocks (org_id varchar, item_type varchar, item_id varchar, metric varchar, "
        "started_at timestamptz, deadline_at timestamptz, stopped_at timestamptz)"
    )
    if clocks:
        con.executemany("insert into marts.sla_clocks values (?, ?, ?, ?, ?, ?, ?)", clocks)
    if info == "snapshot_info":
        con.execute(
            "create table marts.snapshot_info as select 'v'::varchar as snapshot_version, "
            "?::timestamptz as built_at, ?::timestamptz as published_at, 0::bigint as events",
            times,
        )
    else:
        con.execute("create schema core")
        con.execute(
            "create table core.run_clock as select ?::timestamptz as as_of, ?::timestamptz as now", times
        )
    con.close()
    tmp.replace(path)


def _clock(item: str, deadline: datetime, stop: datetime | None = None, org: str = "acme") -> tuple:
    return (org, "signal", item, "triage", deadline - 24 * H, deadline, stop)


@pytest.fixture
def home(tmp_path):
    return tmp_path


def _cycle(
    home: Path,
    now: datetime,
    *,
    url: str | None = None,
    post=alerts.post_json,
    max_age=alerts.DEFAULT_MAX_AGE,
):
    breaches, met = alerts.read_clocks(home / "serving.duckdb", now)
    with alerts.connect_path(home / "control.sqlite") as con:
        created = alerts.record(
            con,
            alerts.pending_alerts(con, breaches, met),
            now=now,
            sinks=alerts.sinks_for(url),
            max_age=max_age,
        )
        report = alerts.deliver(con, now=now, webhook_url=url, post=post, logger=lambda _m: None)
        rows = alerts.alert_rows(con)
    return created, report, rows


def test_open_clock_past_deadline_alerts_once(home):
    _snapshot(home / "serving.duckdb", [_clock("s1", NOW - H), _clock("s2", NOW + H)])
    created, report, rows = _cycle(home, NOW)
    assert [(a.kind, a.item_id, a.status) for a in created] == [("breach", "s1", "active")]
    assert report.delivered == 2  # table + log
    again, _, rows_again = _cycle(home, NOW + timedelta(minutes=1))  # a re-read tick / a repeated run
    assert again == [] and len(rows_again) == len(rows) == 2


def test_a_stop_at_the_deadline_is_on_time_one_second_later_is_a_breach(home):
    deadline = NOW - H
    _snapshot(
        home / "serving.duckdb",
        [_clock("on-time", deadline, deadline), _clock("late", deadline, deadline + timedelta(seconds=1))],
    )
    created, _, _ = _cycle(home, NOW)
    assert [a.item_id for a in created] == ["late"]


def test_a_late_stop_event_retracts_the_breach(home):
    snap = home / "serving.duckdb"
    _snapshot(snap, [_clock("s1", NOW - H)])
    _cycle(home, NOW)
    _snapshot(snap, [_clock("s1", NOW - H, NOW - 2 * H)])  # a late touch that occurred before the deadline
    created, _, _ = _cycle(home, NOW + H)
    assert [(a.kind, a.item_id) for a in created] == [("retraction", "s1")]
    assert _cycle(home, NOW + 2 * H)[0] == []


def test_breaches_older_than_max_age_are_recorded_but_not_alerted(home):
    _snapshot(home / "serving.duckdb", [_clock("old", NOW - 25 * H), _clock("new", NOW - 23 * H)])
    created, report, rows = _cycle(home, NOW, url="http://127.0.0.1:9/never")
    assert {(a.item_id, a.status) for a in created} == {("old", "suppressed"), ("new", "active")}
    sinks = {(r[4], r[10]) for r in rows}
    assert ("old", "table") in sinks and ("old", "log") not in sinks and ("old", "webhook") not in sinks
    assert ("new", "webhook") in sinks


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []
    fail_first = 0

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if _Hook.fail_first > 0:
            _Hook.fail_first -= 1
            self.send_response(503)
        else:
            _Hook.received.append(body)
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    _Hook.received, _Hook.fail_first = [], 0
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


def test_webhook_gets_a_json_post(home, webhook):
    _snapshot(home / "serving.duckdb", [_clock("s1", NOW - H)])
    _, report, _ = _cycle(home, NOW, url=webhook)
    assert report.delivered == 3
    assert _Hook.received[0]["item_id"] == "s1" and _Hook.received[0]["kind"] == "breach"


def test_webhook_failures_retry_with_backoff_then_deliver(home, webhook):
    _snapshot(home / "serving.duckdb", [_clock("s1", NOW - H)])
    _Hook.fail_first = 2
    _, report, _ = _cycle(home, NOW, url=webhook)
    assert (report.delivered, report.retrying) == (2, 1)  # table and log are not held up
    assert _cycle(home, NOW + timedelta(seconds=29), url=webhook)[1].retrying == 0  # not due before 30 s
    assert _cycle(home, NOW + timedelta(seconds=30), url=webhook)[1].retrying == 1  # second failure → 1 min
    assert _cycle(home, NOW + timedelta(seconds=89), url=webhook)[1].delivered == 0
    assert _cycle(home, NOW + timedelta(seconds=90), url=webhook)[1].delivered == 1
    assert len(_Hook.received) == 1


def test_an_unreachable_webhook_ends_failed_and_never_raises(home):
    _snapshot(home / "serving.duckdb", [_clock("s1", NOW - H)])
    t = NOW
    for _ in range(alerts.WEBHOOK_MAX_ATTEMPTS):
        _cycle(home, t, url="http://127.0.0.1:9/unreachable")
        t += timedelta(hours=1)
    rows = _cycle(home, t, url="http://127.0.0.1:9/unreachable")[2]
    webhook_rows = [r for r in rows if r[10] == "webhook"]
    assert webhook_rows[0][11] == "failed" and "Connection" in webhook_rows[0][13]


def test_a_backlog_of_table_and_log_deliveries_is_written_in_one_transaction_and_webhooks_outside_it(home):
    # A first load can record a six-figure backlog: one synced transaction per delivery took minutes.
    clocks = [_clock(f"s{i}", NOW - H - timedelta(minutes=i)) for i in range(30)]
    _snapshot(home / "serving.duckdb", clocks)
    breaches, met = alerts.read_clocks(home / "serving.duckdb", NOW)
    posted_in_transaction: list[bool] = []
    with alerts.connect_path(home / "control.sqlite") as con:
        alerts.record(
            con, alerts.pending_alerts(con, breaches, met), now=NOW, sinks=alerts.sinks_for("http://hook")
        )
        updates: list[tuple[str, bool]] = []
        con.set_trace_callback(
            lambda sql: updates.append((sql, con.in_transaction)) if sql.startswith("update") else None
        )
        report = alerts.deliver(
            con,
            now=NOW,
            webhook_url="http://hook",
            post=lambda _url, _body: posted_in_transaction.append(con.in_transaction),
            logger=lambda _m: None,
        )
        con.set_trace_callback(None)
        rows = alerts.alert_rows(con)
    assert report.delivered == 90 and {r[11] for r in rows} == {"delivered"}
    in_transaction: dict[str, set[bool]] = {}
    for sql, in_tx in updates:
        sink = sql.rsplit("and sink = '", 1)[1].rstrip("'")
        in_transaction.setdefault(sink, set()).add(in_tx)
    assert in_transaction == {"table": {True}, "log": {True}, "webhook": {False}}
    assert posted_in_transaction == [False] * 30


def test_a_backlogs_transactions_stay_short_so_the_outboxs_writers_never_wait_long(home, monkeypatch):
    """The control store also holds the outbox, whose writers expect millisecond locks: a backlog is
    committed every `DELIVERY_BATCH` updates, not held in one long transaction."""
    monkeypatch.setattr(alerts, "DELIVERY_BATCH", 10)
    _snapshot(home / "serving.duckdb", [_clock(f"s{i}", NOW - H - timedelta(minutes=i)) for i in range(30)])
    breaches, met = alerts.read_clocks(home / "serving.duckdb", NOW)
    with alerts.connect_path(home / "control.sqlite") as con:
        alerts.record(con, alerts.pending_alerts(con, breaches, met), now=NOW, sinks=alerts.sinks_for(None))
        statements: list[str] = []
        con.set_trace_callback(statements.append)
        report = alerts.deliver(con, now=NOW, webhook_url=None, logger=lambda _m: None)
        con.set_trace_callback(None)
    assert report.delivered == 60
    updates_per_transaction = [
        chunk.count("update") for chunk in " ".join(s.split(" ", 1)[0] for s in statements).split("commit")
    ]
    assert updates_per_transaction == [10, 10, 10, 10, 10, 10, 0]


# ------------------------------------------------------------------------------------------- sensor


def _tick(instance, cursor=None):
    return sla_breach_sensor(dg.build_sensor_context(instance=instance, cursor=cursor))


@pytest.fixture
def sensor_home(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_HOME, str(tmp_path))
    monkeypatch.setenv(ENV_NOW, NOW.isoformat())
    return tmp_path


def test_sensor_nothing_new_skips(sensor_home):
    _snapshot(sensor_home / "serving.duckdb", [_clock("s1", NOW + H)])
    with dg.instance_for_test() as instance:
        result = _tick(instance)
    assert not result.run_requests


def test_sensor_one_and_many_new_breaches_request_one_run(sensor_home):
    snap = sensor_home / "serving.duckdb"
    _snapshot(snap, [_clock("s1", NOW - H)])
    with dg.instance_for_test() as instance:
        one = _tick(instance)
        assert one.run_requests[0].tags["workstream/pending_alerts"] == "1"
        _snapshot(snap, [_clock(f"s{i}", NOW - H) for i in range(5)])
        many = _tick(instance, one.cursor)
        assert many.run_requests[0].tags["workstream/pending_alerts"] == "5"


def test_sensor_failed_tick_reread_never_alerts_twice(sensor_home):
    _snapshot(sensor_home / "serving.duckdb", [_clock("s1", NOW - H)])
    with dg.instance_for_test() as instance:
        first = _tick(instance)
        reread = _tick(instance)  # the first tick's cursor was never stored
        assert first.run_requests and reread.run_requests
        _cycle(sensor_home, NOW)  # the run(s) it launched
        _cycle(sensor_home, NOW)
        assert not _tick(instance, first.cursor).run_requests
    with alerts.connect_path(sensor_home / "control.sqlite") as con:
        assert con.execute("select count(*) from alerts").fetchone()[0] == 1


# ------------------------------------------------------------------------------------- as-of and alerts


def _alert_step(home: Path, *, now: datetime, as_of: datetime | None = None, url: str = "") -> dict:
    """The `sla_alerts` asset, as a run with this clock (and `--as-of`) executes it; its metadata."""
    result = dg.materialize(
        [sla_alerts],
        resources={
            "workstream": WorkstreamResource(home=str(home), inbox=str(home / "inbox")),
            "clock": RunClockResource(now=now.isoformat(), as_of=as_of.isoformat() if as_of else ""),
            "alert_sinks": AlertSinksResource(webhook_url=url),
        },
        raise_on_error=False,
    )
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    (mat,) = result.asset_materializations_for_node("sla_alerts")
    return {k: v.value for k, v in mat.metadata.items()}


def _alert_count(home: Path) -> int:
    with alerts.connect_path(home / "control.sqlite") as con:
        return con.execute("select count(*) from alerts").fetchone()[0]


def _snapshot_alerts(home: Path) -> int:
    con = duckdb.connect(str(home / "serving.duckdb"), read_only=True)
    try:
        exists = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'marts' and table_name = 'alerts'"
        ).fetchone()[0]
        return con.execute("select count(*) from marts.alerts").fetchone()[0] if exists else 0
    finally:
        con.close()


def test_a_run_as_of_the_past_records_and_delivers_no_alerts(home, webhook):
    """A past view shows a clock open that was met afterwards: that is no breach, and nothing pages."""
    as_of = NOW - 48 * H
    # An alert recorded earlier whose webhook delivery is still waiting for a retry.
    _snapshot(home / "serving.duckdb", [_clock("earlier", NOW - 30 * H)])
    _Hook.fail_first = 1
    _cycle(home, NOW - 3 * H, url=webhook)
    _Hook.received.clear()
    before = _alert_count(home)
    # The past view: the signal's clock was open at the as-of; its deadline has passed since.
    _snapshot(home / "serving.duckdb", [_clock("met-later", NOW - 40 * H)], built_at=as_of, published_at=NOW)
    figures = _alert_step(home, now=NOW, as_of=as_of, url=webhook)
    assert figures["new_alerts"] == 0 and "alerts are about now" in figures["skipped"]
    assert _alert_count(home) == before
    assert _snapshot_alerts(home) == 0  # the snapshot's alerts were not patched either
    assert _Hook.received == []  # not even the due retry: a past view pages nobody


def test_a_run_as_of_its_own_clock_reads_the_clocks_at_its_as_of(home):
    """Within the tolerance the run is about now; its breaches are those of its as-of, not of its clock."""
    as_of = NOW + timedelta(minutes=4)
    _snapshot(
        home / "serving.duckdb",
        [_clock("s1", NOW + timedelta(minutes=2)), _clock("s2", NOW + timedelta(minutes=10))],
        built_at=as_of,
        published_at=NOW,
    )
    figures = _alert_step(home, now=NOW, as_of=as_of)
    assert figures["new_alerts"] == 1
    with alerts.connect_path(home / "control.sqlite") as con:
        assert [r[0] for r in con.execute("select item_id from alerts")] == ["s1"]


def test_the_alert_job_records_nothing_from_a_snapshot_built_as_of_the_past(home):
    """The job the breach sensor launches runs as of now, but reads a live snapshot a past run published."""
    _snapshot(home / "serving.duckdb", [_clock("s1", NOW - 30 * H)], built_at=NOW - 48 * H, published_at=NOW)
    figures = _alert_step(home, now=NOW + H)
    assert figures["new_alerts"] == 0 and "built as of" in figures["skipped"]
    assert _alert_count(home) == 0


def test_the_breach_sensor_skips_a_snapshot_built_as_of_the_past(sensor_home):
    _snapshot(
        sensor_home / "serving.duckdb", [_clock("s1", NOW - H)], built_at=NOW - 48 * H, published_at=NOW
    )
    with dg.instance_for_test() as instance:
        result = _tick(instance)
    assert not getattr(result, "run_requests", None)
    assert "alerts are about now" in (result.skip_message if isinstance(result, dg.SkipReason) else "")


def test_the_breach_sensor_alerts_from_a_snapshot_built_as_of_its_own_clock_hours_ago(sensor_home):
    """A deadline that passed since the last build is still noticed without a rebuild."""
    _snapshot(
        sensor_home / "serving.duckdb",
        [_clock("s1", NOW - H)],
        built_at=NOW - 5 * H,
        published_at=NOW - 5 * H,
    )
    with dg.instance_for_test() as instance:
        assert _tick(instance).run_requests


@pytest.mark.parametrize(("ahead", "refused"), [(timedelta(minutes=5), False), (timedelta(minutes=6), True)])
def test_a_run_refuses_an_as_of_later_than_its_clock_by_more_than_five_minutes(home, ahead, refused):
    _snapshot(home / "serving.duckdb", [])
    result = dg.materialize(
        [sla_alerts],
        resources={
            "workstream": WorkstreamResource(home=str(home), inbox=str(home / "inbox")),
            "clock": RunClockResource(now=NOW.isoformat(), as_of=(NOW + ahead).isoformat()),
            "alert_sinks": AlertSinksResource(),
        },
        raise_on_error=False,
    )
    assert result.success is not refused
    errors = []
    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None) if event.is_failure else None
        while error is not None:
            errors.append(error.message)
            error = error.cause
    assert any("later than the clock" in text for text in errors) is refused


def _control_alerts(home: Path) -> list[tuple]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute("select item_id, kind, sink from control.alerts order by all").fetchall()
    finally:
        con.close()


def test_the_alert_step_leaves_the_recorded_alerts_in_the_warehouse_for_the_next_publish(home):
    """dbt's `marts.alerts` reads the warehouse's `control.alerts`: the step refreshes it after recording."""
    _snapshot(home / "serving.duckdb", [_clock("s1", NOW - H), _clock("s2", NOW + H)])
    figures = _alert_step(home, now=NOW)
    assert figures["new_alerts"] == 1
    assert _control_alerts(home) == [("s1", "breach", "log"), ("s1", "breach", "table")]
    assert figures["alert_rows"] == 2


def test_the_alert_step_never_rewrites_the_published_snapshot(home):
    """The snapshot is written once per run, by the publish; new alerts reach it at the next publish."""
    snapshot = _snapshot(home / "serving.duckdb", [_clock("s1", NOW - H)])
    before = (snapshot.stat().st_ino, snapshot.read_bytes())
    assert _alert_step(home, now=NOW)["new_alerts"] == 1
    assert (snapshot.stat().st_ino, snapshot.read_bytes()) == before
    assert _snapshot_alerts(home) == 0


def test_the_alert_step_and_the_sensor_never_read_every_clock_into_python(sensor_home, monkeypatch):
    """Only clocks with an alert still to record leave DuckDB: a large history's thousands of alerted
    breaches cost the step and every sensor tick a query, not a Python object each."""
    clocks = [_clock(f"s{i}", NOW - H - timedelta(minutes=i)) for i in range(5)]
    _snapshot(sensor_home / "serving.duckdb", clocks)

    def every_clock(*_args, **_kwargs):
        raise AssertionError("every clock was read into Python")

    monkeypatch.setattr(alerts, "_clocks_from", every_clock)
    with dg.instance_for_test() as instance:
        assert _tick(instance).run_requests[0].tags["workstream/pending_alerts"] == "5"
    assert _alert_step(sensor_home, now=NOW)["new_alerts"] == 5
    assert _alert_step(sensor_home, now=NOW + H)["new_alerts"] == 0


def test_the_alert_log_is_copied_into_the_warehouse_only_when_it_changed(home):
    """Each run copies the log twice (after the apply, after the alert step); an unchanged log is
    left as it is, and every change (a new alert, a retry's attempt, a delivery) is copied."""
    _snapshot(home / "serving.duckdb", [_clock("s1", NOW - H), _clock("s2", NOW - 2 * H)])
    warehouse = duckdb.connect(str(home / "copy.duckdb"))
    warehouse.execute("SET TimeZone = 'UTC'")

    def copy() -> tuple[int, int]:
        counting = CountingConnection(warehouse)
        count = alerts.write_alerts_table(counting, home / "control.sqlite")
        with alerts.connect_path(home / "control.sqlite") as con:
            expected = alerts.alert_rows(con)
        copied = warehouse.execute(
            "select org_id, alert_id, kind, item_type, item_id, metric, strftime(started_at, '%Y-%m-%dT%H:%M:%S.%fZ'),"
            " strftime(breached_at, '%Y-%m-%dT%H:%M:%S.%fZ'), strftime(created_at, '%Y-%m-%dT%H:%M:%S.%fZ'),"
            " strftime(delivered_at, '%Y-%m-%dT%H:%M:%S.%fZ'), sink, delivery_status, attempts, last_error,"
            " alert_status from control.alerts order by org_id, created_at, alert_id, sink"
        ).fetchall()
        assert copied == expected and count == len(expected)
        return count, counting.statements.count("delete from control.alerts")

    failing = "http://127.0.0.1:9/unreachable"
    _cycle(home, NOW, url=failing)
    assert copy() == (6, 1)
    assert copy() == (6, 0)  # nothing changed
    _cycle(home, NOW + 2 * H, url=failing)  # only the webhook retries' attempts change
    assert copy() == (6, 1)
    assert copy() == (6, 0)
    _snapshot(home / "serving.duckdb", [_clock("s1", NOW - H), _clock("s2", NOW - 2 * H), _clock("s3", NOW)])
    _cycle(home, NOW + 3 * H)  # a new alert, no webhook
    assert copy() == (8, 1)
    warehouse.close()
