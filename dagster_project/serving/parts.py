"""The event log's immutable Parquet parts: a publish writes only the rows that changed.

Readers open one snapshot file that a publish replaces whole (`os.replace`), and DuckDB does not let a
writer change a file readers hold open; so the large, append-mostly event log lives outside it, in
Parquet parts under `<home>/snapshots/parts/`, and the snapshot's `marts.events` is a view over the
parts it lists. A part is never changed once written: a publish reuses every part whose rows are still
exactly the log's and writes new parts for the rest.

What "still exactly" means: the log's rows are grouped into *segments*, one per file they came in with
(`source_file`) and calendar month of their event time (a drop's rows arrive together, and only a scrub
or a later as-of time changes them afterwards; a large import's file spans months, and a scrub or an
expiry touches a few of them). Each segment's fingerprint is its row count and the XOR of its rows'
hashes, taken from the warehouse at every publish (a scan, far cheaper than compressing and writing the
rows). The snapshot file keeps its manifest (`publish.parts`: part, segment, rows, fingerprint, the log's
columns); a part is reused when every segment it holds has the same fingerprint and columns now, else its
segments are written again. The segments to write are packed in segment order into parts of at most
`part_rows` rows, or one segment that is larger (a segment is never split), so a redaction rewrites the
parts that held the text, each of bounded size, and an append writes only the new drop.

Parts accumulate one per publish; when the small ones (under half of `part_rows`) would be more than
`max_parts`, the smallest are merged into the new parts until half remain (each row is rewritten about
log(n) times over a history, not once per publish). A part file is deleted once neither the new snapshot
nor the one it replaces lists it: a reader that opened the previous snapshot keeps reading it; one that
holds a snapshot older than that loses the event log's parts and is reopened by the reader's retry.
After a redaction only the new snapshot's parts stay, as no older copy of the log may keep the erased
text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.settings import HomePaths
from dagster_project.warehouse.store import path_literal

PARTS_DIR = "parts"
MANIFEST_SCHEMA = "publish"
MANIFEST = f"{MANIFEST_SCHEMA}.parts"
# Small parts the log may be spread over before the smallest are merged; readers list every part in one scan.
MAX_PARTS = 16
# About how many rows a part holds (a segment larger than this is one part): what a redaction rewrites.
PART_ROWS = 250_000
# The order rows are written in within a part, so a reader's filter on an org and a time skips row groups.
EVENTS_ORDER = "org_id, occurred_at, event_id"
# A row's segment: its month, then its file ('' for none), so the segments sort in time order.
SEGMENT = "strftime(e.occurred_at, '%Y-%m') || ' ' || coalesce(e.source_file, '')"
_GENERATION = re.compile(r"\.?events-(\d+)\.parquet")


@dataclass(frozen=True)
class PartsPlan:
    """The parts the new snapshot lists: those kept from the live snapshot and the ones written now."""

    parts: list[str]  # file names under the parts folder, sorted
    written: list[str]  # the new parts, in the order written
    rows_written: int
    events: int
    merged: int  # kept-able parts merged into the new one (compaction)


def parts_dir(paths: HomePaths) -> Path:
    return paths.snapshots / PARTS_DIR


def _fingerprints(con: duckdb.DuckDBPyConnection) -> None:
    """`pub_now`: each segment of the warehouse's event log with its row count and fingerprint."""
    # A row's hash does not see column names: the columns are part of every segment's fingerprint, so a
    # renamed or retyped column writes every part again rather than mixing two layouts in one view.
    columns = con.execute(
        """select string_agg(column_name || ' ' || data_type, ', ' order by ordinal_position)
           from information_schema.columns
           where table_catalog = current_database() and table_schema = 'marts' and table_name = 'events'"""
    ).fetchone()[0]
    con.execute(
        f"""create or replace temp table pub_now as
            select {SEGMENT} as segment, count(*)::bigint as rows, bit_xor(hash(e))::ubigint as fingerprint,
                   $columns::varchar as columns
            from marts.events e group by all""",
        {"columns": columns},
    )


def _previous_manifest(con: duckdb.DuckDBPyConnection, live: Path) -> None:
    """`pub_prev`: the live snapshot's manifest (empty when there is none, or the file is not readable)."""
    con.execute(
        "create or replace temp table pub_prev "
        "(part varchar, segment varchar, rows bigint, fingerprint ubigint, columns varchar)"
    )
    if not live.exists():
        return
    try:
        con.execute(f"attach {path_literal(live)} as pub_live (read_only)")
    except duckdb.Error:
        return  # a damaged live file: write every part again
    try:
        has = con.execute(
            "select count(*) from duckdb_tables() where database_name = 'pub_live' "
            "and schema_name = ? and table_name = 'parts'",
            [MANIFEST_SCHEMA],
        ).fetchone()[0]
        if has:
            con.execute(f"insert into pub_prev by name select * from pub_live.{MANIFEST}")
    finally:
        con.execute("detach pub_live")


def previous_parts(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The part files the live snapshot (about to be replaced) lists."""
    return {p for (p,) in con.execute("select distinct part from pub_prev").fetchall()}


def _next_name(folder: Path) -> str:
    """A name no file in the folder has had in this home's life so far: numbered by generation, one past
    the highest there (publishes may share a pinned clock, so the version cannot name the file)."""
    generations = [int(m.group(1)) for p in folder.iterdir() if (m := _GENERATION.fullmatch(p.name))]
    return f"events-{max(generations, default=0) + 1:08d}.parquet"


def plan_and_write(
    con: duckdb.DuckDBPyConnection,
    paths: HomePaths,
    *,
    max_parts: int = MAX_PARTS,
    part_rows: int = PART_ROWS,
) -> PartsPlan:
    """Fingerprint the log, keep the live snapshot's parts that still match it, write new parts for the
    rest (plus the smallest kept parts when there are too many small ones), and leave the new manifest
    in the temp table `pub_manifest` for `write_manifest`. Needs `marts.events` in the warehouse."""
    folder = parts_dir(paths)
    folder.mkdir(parents=True, exist_ok=True)
    _fingerprints(con)
    _previous_manifest(con, paths.serving)
    # A part is kept when every segment it lists has the same rows and fingerprint now, and its file is
    # still there. Segments a part lists that the log no longer holds (rows gone) count as changed.
    candidates = con.execute(
        """select p.part, sum(p.rows)::bigint as rows,
                  bool_and(n.rows is not null) as same
           from pub_prev p left join pub_now n
             on n.segment is not distinct from p.segment and n.rows = p.rows and n.fingerprint = p.fingerprint
            and n.columns is not distinct from p.columns
           group by p.part"""
    ).fetchall()
    kept = sorted(
        ((rows, part) for part, rows, same in candidates if same and (folder / part).is_file()),
    )
    pending = con.execute(
        """select count(*) from pub_now n where not exists (
               select 1 from pub_prev p where p.part = any($kept)
               and p.segment is not distinct from n.segment)""",
        {"kept": [part for _, part in kept]},
    ).fetchone()[0]
    # Parts of half the size or more stay as they are until a change in them; the small ones (a drop's
    # each) are merged now and then: the smallest, until half the limit remain besides the new parts.
    small = [(rows, part) for rows, part in kept if rows < part_rows // 2]
    merged: list[str] = []
    if len(small) + (1 if pending else 0) > max_parts:
        keep_count = max(max_parts // 2 - 1, 0)
        merged = [part for _, part in small[: len(small) - keep_count]]
    keep_names = sorted(part for _, part in kept if part not in set(merged))
    con.execute(
        """create or replace temp table pub_write as
           select n.* from pub_now n where not exists (
               select 1 from pub_prev p where p.part = any($kept) and p.segment is not distinct from n.segment)""",
        {"kept": keep_names},
    )
    sizes = con.execute("select segment, rows from pub_write order by segment nulls first").fetchall()
    slots = pack(sizes, part_rows)
    con.execute(
        "create or replace temp table pub_slots as select unnest($segments) as segment, unnest($slots) as slot",
        {"segments": [segment for segment, _ in sizes], "slots": slots},
    )
    rows_written = sum(rows for _, rows in sizes)
    # With nothing kept a part is written even when empty: the view needs a file with the columns.
    todo = sorted(set(slots)) or ([] if keep_names else [0])
    written: list[str] = []
    con.execute("create or replace temp table pub_written (slot bigint, part varchar)")
    for slot in todo:
        name = _next_name(folder)
        con.execute(
            f"""copy (select e.* from marts.events e semi join pub_slots w
                      on {SEGMENT} is not distinct from w.segment and w.slot = {int(slot)}
                      order by {EVENTS_ORDER})
                to {path_literal(folder / name)} (format parquet, compression zstd, row_group_size 500000)"""
        )
        con.execute("insert into pub_written values (?, ?)", [slot, name])
        written.append(name)
    con.execute(
        """create or replace temp table pub_manifest as
           select p.part, p.segment, p.rows, p.fingerprint, p.columns from pub_prev p where p.part = any($kept)
           union all
           select o.part, w.segment, w.rows, w.fingerprint, w.columns
           from pub_write w
           join pub_slots s on s.segment is not distinct from w.segment
           join pub_written o on o.slot = s.slot""",
        {"kept": keep_names},
    )
    parts = sorted([*keep_names, *written])
    events = con.execute("select coalesce(sum(rows), 0)::bigint from pub_now").fetchone()[0]
    return PartsPlan(parts, written, rows_written, events, len(merged))


def pack(sizes: list[tuple[str | None, int]], part_rows: int) -> list[int]:
    """Each segment's new part (0, 1, …) for segments of these sizes, in this order: whole segments, a
    new part when the next segment would take the current one past `part_rows` (so a part holds at most
    `part_rows` rows, or one segment that is larger)."""
    slots: list[int] = []
    slot, filled = 0, 0
    for _, rows in sizes:
        if filled and filled + rows > part_rows:
            slot, filled = slot + 1, 0
        slots.append(slot)
        filled += rows
    return slots


def write_manifest(con: duckdb.DuckDBPyConnection, catalog: str) -> None:
    """Store the new manifest in the new snapshot file (attached as `catalog`)."""
    con.execute(f"create schema {catalog}.{MANIFEST_SCHEMA}")
    con.execute(f"create table {catalog}.{MANIFEST} as select * from pub_manifest order by part, segment")


def events_view_sql(paths: HomePaths, parts: list[str]) -> str:
    """The body of `marts.events`: the listed parts, by absolute path (a view's relative path would be
    resolved against each reader's working directory, not the snapshot's folder)."""
    folder = parts_dir(paths).resolve()
    files = ", ".join(path_literal(folder / part) for part in parts)
    return f"select * from read_parquet([{files}])"


def remove_unlisted(paths: HomePaths, keep: set[str]) -> list[Path]:
    """Delete every part file (and half-written leftover) under the parts folder not in `keep`."""
    folder = parts_dir(paths)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name not in keep:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
