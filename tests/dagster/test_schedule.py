"""The nightly schedule requests the pipeline job at 02:00 UTC."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from dagster_project.defs.automation import nightly_rebuild_schedule


def test_schedule_requests_a_run():
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 28, 2, 0, tzinfo=UTC))
    result = nightly_rebuild_schedule.evaluate_tick(context)
    assert len(result.run_requests) == 1
    assert nightly_rebuild_schedule.job_name == "full_build_job"  # tests before it publishes
