"""The drop benchmark reads each Dagster step's start and end from a run's log."""

from benchmarks.drop import step_events

LOG = """\
2026-12-06 16:50:21 +0000 - dagster - DEBUG - ingest_build_publish_job - b337b288 - 11640 - lifecycle_apply - STEP_START - Started execution of step "lifecycle_apply".
2026-12-06 16:52:56 +0000 - dagster - INFO - ingest_build_publish_job - b337b288 - lifecycle_apply - batch 1: 100,000 claimed
2026-12-06 16:53:00 +0000 - dagster - DEBUG - ingest_build_publish_job - b337b288 - 11640 - lifecycle_apply - STEP_SUCCESS - Finished execution of step "lifecycle_apply" in 2m39s.
2026-12-06 16:53:01 +0000 - dagster - DEBUG - ingest_build_publish_job - b337b288 - 11640 - dbt_build - STEP_FAILURE - Execution of step "dbt_build" failed.
"""


def test_each_step_start_and_end_is_read_from_the_run_log_and_other_lines_are_skipped() -> None:
    assert step_events(LOG.splitlines()) == [
        ("lifecycle_apply", "STEP_START"),
        ("lifecycle_apply", "STEP_SUCCESS"),
        ("dbt_build", "STEP_FAILURE"),
    ]


def test_the_run_tree_s_memory_includes_a_child_s_resident_pages() -> None:
    import subprocess
    import sys
    import time

    from benchmarks.drop import tree_usage

    code = "import sys, time; b = bytearray(200 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); print(1, flush=True); time.sleep(30)"
    # The parent here is a shell, so the 200 MB are only in its child: the tree's sum must find them.
    shell = subprocess.Popen(["sh", "-c", f'"{sys.executable}" -c "{code}"'], stdout=subprocess.PIPE)
    try:
        assert shell.stdout is not None and shell.stdout.readline().strip() == b"1"
        time.sleep(0.1)
        cpu, rss = tree_usage(shell.pid)
        assert rss >= 200
        assert cpu >= 0
    finally:
        subprocess.run(["pkill", "-P", str(shell.pid)], check=False)
        shell.kill()
        shell.wait()
