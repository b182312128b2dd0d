"""Dashboard page loads through Streamlit's test harness (AppTest) on a published snapshot.

    python -m benchmarks.pages HOME [--org ORG] [--repeats N] [PAGE ...]

PAGE is a file name under `streamlit_app/app_pages/` without `.py` (`today`, `item`, ...); `all` (the
default) is every page of the navigation, the item page included, which is opened as a row's link opens it
(`?org&type&id`, with the org's top-ranked pursuit on Today, or candidate when it has no pursuit).

The app shows nothing before sign-in, so the loads are those of an admin (`pages-bench@workstream.invalid`,
added to the home's access store on first use) whose session is put where the sign-in form puts it.

Each page is loaded `--repeats` times cold and then as many times warm, each load in a fresh AppTest (a new
browser session) after the router's first run:

- cold: Streamlit's data cache is cleared just before the page runs, so every query of the page and of
  the sidebar runs on the snapshot, as for the first viewer after a publish;
- warm: the cache is left as the previous load left it, as for the next viewer.

`st.cache_data` is process-wide, so without the clear a fresh AppTest is not cold. The median and the
worst wall time and the median CPU time of each are printed, then the whole as JSON; nothing is asserted
beyond the page rendering without an exception, a sign-in form or a missing item. Streamlit's warnings
about running without a server go to stderr (`2>/dev/null` to drop them).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import duckdb
import streamlit as st
from streamlit.testing.v1 import AppTest

from benchmarks.record import save, snapshot_events
from dagster_project import access
from dagster_project.settings import default_clock
from streamlit_app.lib import auth, navigation, ui

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "streamlit_app" / "app.py"
BENCH_USER = "pages-bench@workstream.invalid"
ITEM = "item"


def all_pages() -> list[str]:
    """Every page an admin can open, in navigation order (the hidden item page included)."""
    return [Path(spec.path).stem for specs in navigation.sections_for(True).values() for spec in specs]


def bench_principal(home: Path) -> access.Principal:
    found = access.principal_for_email(home, BENCH_USER, via="password")
    if found is not None and found.is_admin:
        return found
    principal, _, _ = access.add_user(home, BENCH_USER, "admin", now=default_clock().now(), actor="benchmark")
    return principal


def default_org(home: Path) -> str:
    """The org the selector opens on for an admin: the first of the snapshot's orgs."""
    with duckdb.connect(str(home / "serving.duckdb"), read_only=True) as con:
        row = con.execute("SELECT min(org_id) FROM marts.today_panel").fetchone()
    if row is None or row[0] is None:
        raise SystemExit(f"{home}: the snapshot's Today panel is empty; give --org")
    return row[0]


def top_item(home: Path, org: str) -> tuple[str, str]:
    """(type, id) of the org's top-ranked pursuit on Today, else its top candidate: the item page's
    fullest case (a pursuit also shows its win probability)."""
    with duckdb.connect(str(home / "serving.duckdb"), read_only=True) as con:
        row = con.execute(
            "SELECT item_type, item_id FROM marts.today_panel WHERE org_id = ? AND item_type IN (?, ?) "
            "ORDER BY item_type = 'pursuit' DESC, rank, item_id LIMIT 1",
            [org, *ui.ITEM_PAGE_TYPES],
        ).fetchone()
    if row is None:
        raise SystemExit(f"{org}: no candidate or pursuit on Today to open the item page with")
    return row[0], row[1]


def _load(home: Path, page: str, params: dict[str, str], *, cold: bool) -> tuple[float, float]:
    """Wall and CPU seconds of one page run in a new session, after the router's first run.

    AppTest runs the script in this process, so the process's CPU time (all threads, DuckDB's included)
    is the page's: on a shared machine the steadier figure, as wall time stretches with the load.
    """
    at = AppTest.from_file(str(APP), default_timeout=600)
    at.session_state[auth.SESSION_KEY] = access.start_session(
        home, bench_principal(home), now=default_clock().now()
    )
    at.query_params.update(params)
    at.run()  # sign-in, the router and the default page
    if cold:
        st.cache_data.clear()
    started, cpu_started = time.perf_counter(), time.process_time()
    at.switch_page(f"app_pages/{page}.py").run()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if at.exception:
        raise SystemExit(f"{page}: {at.exception[0].value}")
    if auth.PRINCIPAL_KEY not in at.session_state:
        raise SystemExit(f"{page}: the page stopped at the sign-in form")
    if page == ITEM and at.warning:
        raise SystemExit(f"{page}: {at.warning[0].value}")
    return elapsed, cpu


def load_times(home: Path, page: str, org: str, repeats: int = 5) -> dict:
    params = {"org": org}
    if page == ITEM:
        item_type, item_id = top_item(home, org)
        params |= {"type": item_type, "id": item_id}
    result: dict = {"page": page, "params": params, "repeats": repeats}
    for kind in ("cold", "warm"):
        walls, cpus = zip(
            *(_load(home, page, params, cold=kind == "cold") for _ in range(repeats)), strict=True
        )
        result |= {
            f"{kind}_median_s": statistics.median(walls),
            f"{kind}_max_s": max(walls),
            f"{kind}_cpu_median_s": statistics.median(cpus),
        }
    return result


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("home", type=Path)
    parser.add_argument("pages", nargs="*", default=["all"])
    parser.add_argument("--org", help="The org to open the pages on (default: the selector's first).")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_intermixed_args(argv)
    home = args.home.resolve()
    os.environ["WORKSTREAM_HOME"] = str(home)
    pages = all_pages() if args.pages == ["all"] else args.pages
    org = args.org or default_org(home)
    results = []
    for page in pages:
        r = load_times(home, page, org, args.repeats)
        results.append(r)
        print(
            f"page {page:<16} "
            + ", ".join(
                f"{kind} median {r[f'{kind}_median_s']:.2f} s (worst {r[f'{kind}_max_s']:.2f} s, "
                f"CPU median {r[f'{kind}_cpu_median_s']:.2f} s)"
                for kind in ("cold", "warm")
            )
            + f" over {r['repeats']} loads each; {org}, load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    events = snapshot_events(home / "serving.duckdb")
    save(f"pages-{events}", {"home": str(home), "org": org, "page_loads": results}, size=events)
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
