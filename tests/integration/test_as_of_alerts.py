"""`workstream run --as-of` end to end: a past view pages nobody; alerts are about now."""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from dagster_project.cli import app
from dagster_project.settings import ENV_NOW
from dagster_project.sla import alerts
from tests.events_factory import event, write_jsonl

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
# Two signals created 30 h ago: their triage deadlines passed 6 h ago, within the alert max age.
CREATED = NOW - timedelta(hours=30)


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        _Hook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    _Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


def _signal_events() -> list[dict]:
    def at(hours: float) -> str:
        return (CREATED + timedelta(hours=hours)).isoformat()

    return [
        event("met-created", entity_id="sig-met", occurred_at=at(0)),
        event("met-touched", event_name="signal.touched", entity_id="sig-met", occurred_at=at(2), payload={}),
        event("late-created", entity_id="sig-late", occurred_at=at(0)),
    ]


def _run(inbox: Path, home: Path, *extra: str) -> str:
    result = CliRunner().invoke(
        app, ["run", "--inbox", str(inbox), "--home", str(home), "--skip-tests", *extra]
    )
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def _snapshot_alerts(home: Path) -> list[tuple]:
    con = duckdb.connect(str(home / "serving.duckdb"), read_only=True)
    try:
        return con.execute("select kind, item_id, sink from marts.alerts order by all").fetchall()
    finally:
        con.close()


def test_a_past_as_of_run_pages_nobody_and_a_run_as_of_now_alerts_only_the_real_breach(
    tmp_path, monkeypatch, webhook
):
    monkeypatch.setenv(ENV_NOW, NOW.isoformat())
    monkeypatch.setenv("WORKSTREAM_ALERT_WEBHOOK", webhook)
    monkeypatch.setenv("COLUMNS", "250")  # the summary table on one line per row
    inbox, home = tmp_path / "inbox", tmp_path / "home"
    inbox.mkdir()
    write_jsonl(inbox / "signals.jsonl", _signal_events())
    os.utime(inbox / "signals.jsonl", (1_700_000_000, 1_700_000_000))  # settled, not being written

    # As of one hour after creation both clocks are open, and both deadlines have passed by now.
    past = _run(inbox, home, "--as-of", (CREATED + timedelta(hours=1)).isoformat())
    assert _Hook.received == []
    with alerts.connect_path(home / "control.sqlite") as con:
        assert con.execute("select count(*) from alerts").fetchone()[0] == 0
    assert _snapshot_alerts(home) == []
    assert "none recorded or delivered" in past and "alerts are about now" in past

    # As of now, only the signal nobody touched is a breach: one alert, one webhook call.
    current = _run(inbox, home)
    assert "1 new (1 active, 0 suppressed)" in current
    assert [(a["kind"], a["item_id"]) for a in _Hook.received] == [("breach", "sig-late")]
    assert {item for _, item, _ in _snapshot_alerts(home)} == {"sig-late"}
