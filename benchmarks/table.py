"""One table of the current benchmark results, and a projection to 100M events from their growth.

    python -m benchmarks.table [--bench DIR] [--target EVENTS] [--ram-mb MB]

Reads every `results-*.json` the benchmarks wrote under `data/bench/` (`benchmarks.record`) and prints, as
Markdown, one row per step and size: ingest, apply, whole first run, the 10k drop's whole run,
freshness, page load (AppTest) and the read API's p99, each with its CPU time where measured, peak RSS,
date and commit. A standard size (1k / 1M / 5M / 10M events) with no result says "not measured".

Then a projection, not a measurement: for each step measured at two sizes or more, a straight line
(least squares, value = fixed + rate × events) through the latest figure of each size, for its time and
for its peak RSS, read at `--target` events; the step whose RSS line crosses the machine's memory at the
fewest events is the one that breaks first, with what would be done about it. A straight line is the
simplest growth the figures allow; a step that grows faster than linearly (a sort, a join without an
index) is under-projected, so the projection is a lower bound.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from benchmarks.record import BENCH

STANDARD_SIZES = (1_000, 1_000_000, 5_000_000, 10_000_000)
TARGET = 100_000_000

# (key, label, which standard sizes the benchmarks measure it at)
STEPS = (
    ("ingest", "ingest", STANDARD_SIZES),
    ("apply", "apply (first load)", STANDARD_SIZES),
    ("first_run", "whole first run", STANDARD_SIZES),
    ("drop", "10k drop (whole run on the history)", STANDARD_SIZES),
    ("freshness", "freshness under `serve` (p95)", STANDARD_SIZES),
    ("page_load", "page load, AppTest (worst page's cold median)", STANDARD_SIZES),
    ("api_p99", "read API p99 (slowest kind)", STANDARD_SIZES),
    ("crm_import", "CRM import (rows)", ()),
    ("crm_first_run", "CRM whole first run (`--skip-tests`)", ()),
)
LABELS = {key: label for key, label, _ in STEPS}

# What would be done when a step's memory or time outgrows the machine (from the profiles in
# benchmarks/README.md): the projection names it beside the step that breaks first.
REMEDIES = {
    "ingest": "read JSON Lines in batches and keep fewer files in flight (or the stage on disk)",
    "apply": "fold the common case set-based in DuckDB and bound each batch's Python heap",
    "first_run": "incremental dbt marts and an incremental snapshot instead of full rebuilds",
    "drop": "incremental dbt marts and snapshot, identity re-resolved per changed block, not per org",
    "freshness": "a per-drop dbt selection on incremental models",
    "page_load": "precomputed marts for the org-wide aggregates and a cache warmed after publish",
    "api_p99": "per-org postings and card rows read by key only",
    "crm_import": "stream each export file in chunks instead of loading an object whole",
    "crm_first_run": "as the apply and the whole first run",
}


@dataclass(frozen=True)
class Figure:
    step: str
    size: int  # events (rows for the CRM import)
    value: float  # seconds, or milliseconds for the API
    unit: str
    cpu_s: float | None
    peak_rss_mb: float | None
    date: str | None
    commit: str | None
    source: str
    note: str = ""


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def figures(source: str, data: dict) -> list[Figure]:
    """The table's figures in one results file (any benchmark's; unknown keys are ignored)."""
    date, commit = data.get("date"), data.get("commit")

    def fig(step, size, value, *, unit="s", cpu=None, rss=None, note=""):
        return Figure(step, int(size), float(value), unit, _num(cpu), _num(rss), date, commit, source, note)

    out: list[Figure] = []
    if isinstance(data.get("ingest"), dict) and "events" in data:
        ingest = data["ingest"]
        out.append(
            fig(
                "ingest",
                data["events"],
                ingest["seconds"],
                cpu=ingest.get("cpu_seconds"),
                rss=ingest.get("peak_rss_mb"),
                note=f"ingest / raw load {data['ingest_ratio']:.2f}" if "ingest_ratio" in data else "",
            )
        )
    if isinstance(data.get("apply_history"), dict):
        h = data["apply_history"]
        out.append(
            fig(
                "apply",
                h["claimed"],
                h["apply_seconds"],
                cpu=h.get("apply_cpu_seconds"),
                rss=h.get("peak_rss_mb"),
                note=f"{h['claimed'] / max(h['apply_seconds'], 1e-9):,.0f} events/s",
            )
        )
    history = (data.get("split") or {}).get("history")
    for key, size, step in (("run_1k", 1_000, "first_run"), ("run_n", history, "first_run")):
        run = data.get(key)
        if isinstance(run, dict) and size:
            out.append(
                fig(step, size, run["seconds"], cpu=run.get("cpu_seconds"), rss=run.get("peak_rss_mb"))
            )
    if isinstance(data.get("run_increment"), dict) and history:
        run, increment = data["run_increment"], data["split"].get("increment")
        note = f"{increment:,}-event drop" if increment else ""
        out.append(
            fig(
                "drop",
                history,
                run["seconds"],
                cpu=run.get("cpu_seconds"),
                rss=run.get("peak_rss_mb"),
                note=note,
            )
        )
    # `benchmarks.drop`: a whole run step by step, a first load (from no home) or a drop on a history.
    if isinstance(data.get("steps"), dict) and "seconds" in data and "first_load" in data:
        slowest = next(iter(data["steps"]), "")
        first = bool(data["first_load"])
        size = data.get("size") if first else data.get("history_events")
        if size:
            out.append(
                fig(
                    "first_run" if first else "drop",
                    size,
                    data["seconds"],
                    cpu=data.get("cpu_seconds"),
                    rss=data.get("peak_rss_mb"),
                    note=f"`benchmarks.drop`; slowest step {slowest}" if slowest else "`benchmarks.drop`",
                )
            )
    pages = data.get("page_loads")
    # `benchmarks.pages` files only (they name the org loaded); `make bench` embeds the same loads.
    if isinstance(pages, list) and pages and "org" in data and (size := data.get("size")):
        worst = max(pages, key=lambda p: p["cold_median_s"])
        out.append(
            fig(
                "page_load",
                size,
                worst["cold_median_s"],
                cpu=worst.get("cold_cpu_median_s"),
                rss=data.get("peak_rss_mb"),
                note=f"{worst['page']}; warm ≤ {max(p['warm_median_s'] for p in pages):.2f} s",
            )
        )
    if "p95_s" in data and "base_events" in data:
        out.append(
            fig(
                "freshness",
                data["base_events"],
                data["p95_s"],
                rss=data.get("largest_serve_process_rss_mb"),
                note=f"median {data['median_s']:.1f} s over {data.get('drops', '?')} drops",
            )
        )
    kinds = data.get("results")
    if isinstance(kinds, dict) and set(kinds) - {"noop"} and "size" in data:
        # `noop` is the test transport's own baseline, not a route of the API.
        slowest = max((k for k in kinds if k != "noop"), key=lambda k: kinds[k]["p99_ms"])
        out.append(
            fig(
                "api_p99",
                data["size"],
                kinds[slowest]["p99_ms"],
                unit="ms",
                rss=data.get("peak_rss_mb"),
                note=slowest,
            )
        )
    if "import_s" in data and "rows" in data:
        out.append(
            fig(
                "crm_import",
                data["rows"],
                data["import_s"],
                cpu=data.get("import_cpu_s"),
                rss=data.get("import_peak_mb"),
                note=f"→ {data.get('events', 0):,} events",
            )
        )
        if "run_s" in data:
            out.append(
                fig(
                    "crm_first_run",
                    data["events"],
                    data["run_s"],
                    cpu=data.get("run_cpu_s"),
                    rss=data.get("run_peak_mb"),
                )
            )
    return out


def read_all(bench: Path = BENCH) -> list[Figure]:
    """Every figure under `bench`, the files in name order; a file that is not JSON is skipped."""
    found: list[Figure] = []
    for path in sorted(bench.glob("results-*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            found.extend(figures(path.name, data))
    return found


def size_label(size: int) -> str:
    for scale, suffix in ((1_000_000, "M"), (1_000, "k")):
        if size >= scale:
            return f"{size / scale:.3g}{suffix}"
    return str(size)


def _standard(size: int) -> int | None:
    """The standard size a measured size stands for (within a factor of 1.5), if any."""
    for standard in STANDARD_SIZES:
        if standard / 1.5 <= size <= standard * 1.5:
            return standard
    return None


def latest(found: list[Figure]) -> dict[tuple[str, int], Figure]:
    """The newest figure of each step at each size (older dates, then undated, lose)."""
    best: dict[tuple[str, int], Figure] = {}
    for f in found:
        key = (f.step, f.size)
        if key not in best or (f.date or "") >= (best[key].date or ""):
            best[key] = f
    return best


def _cell(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def render(found: list[Figure]) -> str:
    """The Markdown table: every latest figure, and "not measured" for each standard size without one."""
    best = latest(found)
    lines = [
        "| step | size | figure | CPU | peak RSS | date | commit | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, label, sizes in STEPS:
        rows = sorted((f for (step, _), f in best.items() if step == key), key=lambda f: f.size)
        covered = {_standard(f.size) for f in rows}
        missing = [s for s in sizes if s not in covered]
        for f in rows:
            value = f"{f.value:,.1f} {f.unit}" if f.unit == "ms" else f"{f.value:,.2f} s"
            lines.append(
                f"| {label} | {f.size:,} | {value} | {_cell(f.cpu_s, ',.1f')}{' s' if f.cpu_s is not None else ''} "
                f"| {_cell(f.peak_rss_mb, ',.0f')}{' MB' if f.peak_rss_mb is not None else ''} "
                f"| {(f.date or '—')[:10]} | {f.commit or '—'} | {f.note} |"
            )
        for size in missing:
            lines.append(f"| {label} | {size_label(size)} | not measured | | | | | |")
    return "\n".join(lines)


@dataclass(frozen=True)
class Line:
    """value ≈ fixed + rate × size, fitted by least squares."""

    fixed: float
    rate: float

    def at(self, size: float) -> float:
        return self.fixed + self.rate * size

    def reaches(self, value: float) -> float | None:
        """The size at which the line reaches `value`; None if it never does (flat or falling)."""
        if self.rate <= 0:
            return None
        return max((value - self.fixed) / self.rate, 0.0)


def fit(points: list[tuple[float, float]]) -> Line:
    """The least-squares line through (size, value) points at two sizes or more."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        raise ValueError("a line needs figures at two different sizes")
    rate = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    return Line(mean_y - rate * mean_x, rate)


@dataclass(frozen=True)
class Projection:
    step: str
    sizes: tuple[int, ...]
    time: Line
    unit: str
    rss: Line | None  # None when fewer than two sizes have a peak RSS
    breaks_at: float | None  # events at which the RSS line reaches the machine's memory


# Sizes closer than this factor are one size measured twice (`make bench` times a first run of the 1k
# set and of its 901-event history): a line through them would be noise, not growth.
SAME_SIZE = 1.5


def _distinct_sizes(rows: list[Figure]) -> list[Figure]:
    """`rows` (sorted by size) with sizes within `SAME_SIZE` of the previous kept one merged, the newer kept."""
    kept: list[Figure] = []
    for f in rows:
        if kept and f.size <= kept[-1].size * SAME_SIZE:
            if (f.date or "") >= (kept[-1].date or ""):
                kept[-1] = f
            continue
        kept.append(f)
    return kept


def project(found: list[Figure], ram_mb: float) -> list[Projection]:
    """A line per step measured at two distinct sizes or more (the latest figure of each size)."""
    best = latest(found)
    out = []
    for key, _, _ in STEPS:
        rows = sorted((f for (step, _), f in best.items() if step == key), key=lambda f: f.size)
        rows = _distinct_sizes(rows)
        if len(rows) < 2:
            continue
        with_rss = [(f.size, f.peak_rss_mb) for f in rows if f.peak_rss_mb is not None]
        rss = fit(with_rss) if len({s for s, _ in with_rss}) >= 2 else None
        breaks = rss.reaches(ram_mb) if rss else None
        sizes = tuple(f.size for f in rows)
        out.append(Projection(key, sizes, fit([(f.size, f.value) for f in rows]), rows[0].unit, rss, breaks))
    return out


def first_to_break(projections: list[Projection]) -> Projection | None:
    candidates = [p for p in projections if p.breaks_at is not None]
    return min(candidates, key=lambda p: p.breaks_at) if candidates else None


def render_projection(projections: list[Projection], target: int, ram_mb: float) -> str:
    if not projections:
        return "No step is measured at two sizes: nothing to project."
    lines = [
        f"Projection to {size_label(target)} events: a straight line through the measured sizes, "
        "not a measurement.",
        "",
        f"| step | sizes fitted | fitted rate | projected at {size_label(target)} | RSS rate | "
        f"projected peak RSS | reaches {ram_mb:,.0f} MB at |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in projections:
        per = 1_000_000
        rss_rate = f"{p.rss.rate * per:,.0f} MB / M events" if p.rss else "—"
        rss_at = f"{p.rss.at(target):,.0f} MB" if p.rss else "—"
        breaks = size_label(round(p.breaks_at)) + " events" if p.breaks_at is not None else "never (flat)"
        if p.rss is None:
            breaks = "—"
        lines.append(
            f"| {LABELS[p.step]} | {', '.join(size_label(s) for s in p.sizes)} "
            f"| {p.time.rate * per:,.3g} {p.unit} / M events | {p.time.at(target):,.0f} {p.unit} "
            f"| {rss_rate} | {rss_at} | {breaks} |"
        )
    first = first_to_break(projections)
    lines.append("")
    if first is None:
        lines.append(
            f"No fitted peak RSS reaches {ram_mb:,.0f} MB: memory does not break first on these figures."
        )
    else:
        lines.append(
            f"Breaks first: **{LABELS[first.step]}**, its peak RSS reaching the machine's {ram_mb:,.0f} MB at "
            f"≈ {size_label(round(first.breaks_at))} events; what would be done: {REMEDIES[first.step]}."
        )
    return "\n".join(lines)


def machine_ram_mb() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", type=Path, default=BENCH)
    parser.add_argument("--target", type=int, default=TARGET)
    parser.add_argument("--ram-mb", type=float, default=None, help="default: this machine's memory")
    args = parser.parse_args(argv)
    found = read_all(args.bench)
    ram = args.ram_mb if args.ram_mb and math.isfinite(args.ram_mb) else machine_ram_mb()
    text = render(found) + "\n\n" + render_projection(project(found, ram), args.target, ram)
    print(text)
    return text


if __name__ == "__main__":
    main()
