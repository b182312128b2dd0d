"""The one table of benchmark results and its 100M projection, on small fake results files."""

from __future__ import annotations

import json
import sys

import pytest

from benchmarks import record, table


def _run_results(
    events: int, *, ingest_s: float, ingest_rss: float, apply_s: float, apply_rss: float
) -> dict:
    """A `benchmarks.run` results file as `make bench` writes it (only the keys the table reads)."""
    return {
        "events": events,
        "ingest_ratio": 2.5,
        "ingest": {"seconds": ingest_s, "cpu_seconds": ingest_s * 2, "peak_rss_mb": ingest_rss},
        "apply_history": {
            "claimed": events,
            "apply_seconds": apply_s,
            "apply_cpu_seconds": apply_s,
            "peak_rss_mb": apply_rss,
        },
        "date": f"2026-12-0{1 if events < 5_000_000 else 2}T10:00:00+00:00",
        "commit": f"c{events}",
    }


def _write(bench, name: str, data: dict) -> None:
    (bench / f"results-{name}.json").write_text(json.dumps(data))


@pytest.fixture
def bench(tmp_path):
    _write(
        tmp_path,
        "1000000",
        _run_results(1_000_000, ingest_s=10, ingest_rss=1_000, apply_s=400, apply_rss=1_500),
    )
    _write(
        tmp_path,
        "10000000",
        _run_results(10_000_000, ingest_s=100, ingest_rss=1_900, apply_s=4_000, apply_rss=6_000),
    )
    _write(
        tmp_path,
        "api-1000000",
        {
            "results": {"noop": {"p99_ms": 900.0}, "card_200": {"p99_ms": 17.5}, "search": {"p99_ms": 60.0}},
            "size": 1_000_000,
            "date": "2026-12-03T00:00:00+00:00",
            "commit": "abc1234",
            "peak_rss_mb": 800.0,
        },
    )
    (tmp_path / "results-broken.json").write_text("{not json")
    return tmp_path


def test_the_table_has_each_steps_figure_with_its_size_rss_date_and_commit(bench):
    text = table.render(table.read_all(bench))
    ingest_10m = next(line for line in text.splitlines() if line.startswith("| ingest | 10,000,000 |"))
    assert "100.00 s" in ingest_10m and "200.0 s" in ingest_10m  # wall, then CPU
    assert "1,900 MB" in ingest_10m and "2026-12-02" in ingest_10m and "c10000000" in ingest_10m


def test_a_standard_size_without_a_result_says_not_measured(bench):
    lines = table.render(table.read_all(bench)).splitlines()
    assert "| ingest | 5M | not measured | | | | | |" in lines
    assert "| ingest | 1k | not measured | | | | | |" in lines
    assert not any(line.startswith("| ingest | 1M |") for line in lines)  # measured: its row has figures


def test_the_api_row_is_the_slowest_route_not_the_transport_baseline(bench):
    api = next(f for f in table.read_all(bench) if f.step == "api_p99")
    assert (api.value, api.unit, api.note) == (60.0, "ms", "search")


def test_a_newer_figure_of_the_same_step_and_size_replaces_the_older(bench):
    newer = _run_results(1_000_000, ingest_s=8, ingest_rss=900, apply_s=300, apply_rss=1_400)
    newer["date"] = "2026-12-05T00:00:00+00:00"
    _write(bench, "1000000-again", newer)
    best = table.latest(table.read_all(bench))
    assert best[("ingest", 1_000_000)].value == 8


def test_a_line_through_two_sizes_projects_their_growth_to_the_target():
    line = table.fit([(1_000_000, 10.0), (10_000_000, 100.0)])
    assert line.at(100_000_000) == pytest.approx(1_000.0)
    assert line.reaches(50.0) == pytest.approx(5_000_000)


def test_a_flat_line_never_reaches_a_limit_and_one_size_cannot_be_fitted():
    assert table.fit([(1, 5.0), (10, 5.0)]).reaches(10.0) is None
    with pytest.raises(ValueError, match="two different sizes"):
        table.fit([(1_000, 5.0), (1_000, 6.0)])


def test_the_step_whose_memory_reaches_the_machines_first_is_named_with_its_remedy(bench):
    projections = table.project(table.read_all(bench), ram_mb=24_000)
    by_step = {p.step: p for p in projections}
    # apply: 1,500 MB at 1M and 6,000 MB at 10M, so 500 MB per M events from 1,000 MB: 24 GB at 46M.
    assert by_step["apply"].breaks_at == pytest.approx(46_000_000)
    assert by_step["ingest"].breaks_at == pytest.approx(231_000_000)  # 100 MB per M from 900 MB
    assert table.first_to_break(projections).step == "apply"
    text = table.render_projection(projections, 100_000_000, 24_000)
    assert "not a measurement" in text
    assert f"Breaks first: **{table.LABELS['apply']}**" in text and table.REMEDIES["apply"] in text
    assert "api_p99" not in by_step  # measured at one size: nothing to fit


def test_no_step_is_projected_without_two_sizes(tmp_path):
    _write(tmp_path, "1000", _run_results(1_000, ingest_s=1, ingest_rss=300, apply_s=2, apply_rss=300))
    projections = table.project(table.read_all(tmp_path), ram_mb=24_000)
    assert projections == []
    assert "nothing to project" in table.render_projection(projections, 100_000_000, 24_000)


def test_a_saved_result_carries_its_size_the_pinned_date_the_commit_and_a_peak_rss(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKSTREAM_NOW", "2026-12-06T12:00:00Z")
    path = record.save("demo", {"seconds": 1.5}, size=1_000, bench=tmp_path)
    saved = json.loads(path.read_text())
    assert path.name == "results-demo.json"
    assert saved["size"] == 1_000 and saved["seconds"] == 1.5
    assert saved["date"].startswith("2026-12-06T12:00:00")
    assert saved["commit"] == record.commit() and saved["commit"] != ""
    assert saved["peak_rss_mb"] > 0


def test_a_script_s_own_peak_rss_is_kept_over_the_drivers():
    assert record.stamp({"peak_rss_mb": 1234.0}, size=1)["peak_rss_mb"] == 1234.0


def test_a_timed_child_reports_its_cpu_and_peak_rss_and_a_failing_one_raises_with_its_output():
    timing = record.timed_child([sys.executable, "-c", "b = bytearray(64 * 2**20); print('ok')"])
    assert timing["peak_rss_mb"] >= 64 and timing["cpu_seconds"] > 0 and timing["seconds"] > 0
    with pytest.raises(Exception, match="returned non-zero") as failed:
        record.timed_child([sys.executable, "-c", "print('said why'); raise SystemExit(3)"])
    assert "said why" in failed.value.output


def test_two_nearby_sizes_are_one_size_measured_twice_and_not_a_line(tmp_path):
    """`make bench` times a first run of the 1k set and of its 901-event history: no growth to fit there."""
    small = {"events": 1_000, "split": {"history": 901, "increment": 99}, "date": "2026-12-06T00:00:00+00:00"}
    small |= {
        "run_1k": {"seconds": 390.0, "peak_rss_mb": 617.0},
        "run_n": {"seconds": 458.0, "peak_rss_mb": 609.0},
    }
    _write(tmp_path, "1000", small)
    assert table.project(table.read_all(tmp_path), ram_mb=24_000) == []
    big = {
        "events": 1_000_000,
        "split": {"history": 990_000},
        "run_n": {"seconds": 4_390.0, "peak_rss_mb": 1_617.0},
    }
    _write(tmp_path, "1000000", big | {"date": "2026-12-07T00:00:00+00:00"})
    (line,) = table.project(table.read_all(tmp_path), ram_mb=24_000)
    assert line.sizes == (1_000, 990_000)  # the newer of the two nearby sizes; both dated the same day
    assert line.time.rate == pytest.approx((4_390.0 - 390.0) / (990_000 - 1_000))


def test_a_whole_run_step_by_step_is_a_first_run_from_no_home_and_a_drop_on_a_history(tmp_path):
    """`benchmarks.drop` results: the size of a first load is its snapshot's, a drop's its history's."""
    common = {"cpu_seconds": 1.0, "peak_rss_mb": 500.0, "date": "2026-12-07T00:00:00+00:00", "commit": "c"}
    steps = {"lifecycle_apply": {"wall_s": 9.0}, "raw_ingest": {"wall_s": 1.0}}
    _write(
        tmp_path,
        "drop-first",
        {
            **common,
            "steps": steps,
            "seconds": 300.0,
            "first_load": True,
            "size": 990_015,
            "history_events": 0,
        },
    )
    _write(
        tmp_path,
        "drop-next",
        {
            **common,
            "steps": steps,
            "seconds": 70.0,
            "first_load": False,
            "size": 1_000_015,
            "history_events": 990_015,
        },
    )
    found = {(f.step, f.size): f for f in table.read_all(tmp_path)}
    assert found[("first_run", 990_015)].value == 300.0
    assert found[("drop", 990_015)].value == 70.0 and "lifecycle_apply" in found[("drop", 990_015)].note
