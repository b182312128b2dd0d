"""Past snapshots beside the live one: where they live, and keeping them erased.

`workstream snapshot` (dagster_project/commands/snapshot.py) builds them; this module is the part the
pipeline needs without Dagster: the folder they live in, and the scrub.

The live snapshot's event log is a view over a Parquet file a later publish deletes, so a past
snapshot carries its events as a table (`marts.events`): one self-contained DuckDB file.

A redaction (or any other scrub of the event log) that comes later must reach these files too: the
publish step calls `scrub_past_snapshots`, which compares each file's events with the warehouse's
scrubbed log and erases every text the log no longer holds from every table of the file.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa

from dagster_project.settings import HomePaths
from dagster_project.warehouse.store import path_literal

AS_OF_DIR = "as-of"
# Scrubbed strings shorter than this are not hunted outside the event log (see governance.MIN_SECRET_CHARS).
MIN_SCRUB_CHARS = 4
# A build's scratch home (`<home>/<prefix><pid>-…`) and its file before it takes its name (beside it).
SCRATCH_PREFIX = ".as-of-build-"
STAGED_PREFIX = ".as-of-staged-"


def as_of_dir(paths: HomePaths) -> Path:
    """Where past snapshots live by default, and the folder the scrub and the readers look in."""
    return paths.home / AS_OF_DIR


def list_past_snapshots(home: Path) -> list[Path]:
    """The past snapshots under `<home>/as-of/`, newest name first (temporary files are skipped)."""
    folder = home / AS_OF_DIR
    if not folder.is_dir():
        return []
    return sorted(
        (p for p in folder.glob("*.duckdb") if not p.name.startswith(".")), key=lambda p: p.name, reverse=True
    )


def scrub_past_snapshots(paths: HomePaths) -> int:
    """Bring every past snapshot under `<home>/as-of/` in line with the scrubbed event log; returns how
    many files changed. Called by the publish step whenever it rewrites the warehouse after a scrub.

    A file that cannot be scrubbed (not a DuckDB database, damaged) is deleted: it may hold the text,
    and a past snapshot can always be built again."""
    _remove_abandoned(paths)
    changed = 0
    for path in list_past_snapshots(paths.home):
        try:
            changed += scrub_past_snapshot(path, paths.warehouse)
        except duckdb.Error:
            path.unlink(missing_ok=True)
            Path(f"{path}.wal").unlink(missing_ok=True)
            changed += 1
    return changed


def _remove_abandoned(paths: HomePaths) -> None:
    """Delete the scratch homes and staged files of builds whose process is gone (killed mid-way):
    they hold copies of the log the scrub would otherwise never reach."""
    leftovers = [*paths.home.glob(f"{SCRATCH_PREFIX}*"), *as_of_dir(paths).glob(f"{STAGED_PREFIX}*")]
    for path in leftovers:
        pid = path.name.split("-")[3] if path.name.count("-") >= 4 else ""
        if pid.isdigit() and _alive(int(pid)):
            continue  # a build still running: it scrubs its own file before placing it
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def scrub_past_snapshot(path: Path, warehouse: Path) -> bool:
    """Erase from one past snapshot every text the warehouse's event log no longer holds.

    Its events are compared with the log by key: where a payload differs (a redaction or another
    scrub rewrote it), the file takes the log's payload, and each string the scrub replaced is replaced
    the same way in every text column of every other table (atoms, cards, quarantine rows, …). The
    atoms the log's audit trail says were redacted leave the atoms and the search index is rebuilt.
    Returns whether anything changed.

    The file is only ever read: the scrubbed copy is written to a fresh file (rewritten once more, as
    free blocks keep old data) that replaces it atomically, so a reader holding it open (the API, a
    dashboard query) never blocks the scrub and sees the old file or the new one.
    """
    fresh = path.with_name(f"{STAGED_PREFIX}{os.getpid()}-{path.name}")
    fresh.unlink(missing_ok=True)
    try:
        if not _scrub_into(path, warehouse, fresh):
            return False
        from dagster_project.memory.governance import rewrite_duckdb_file

        rewrite_duckdb_file(fresh)
        os.replace(fresh, path)
        Path(f"{path}.wal").unlink(missing_ok=True)
        return True
    finally:
        fresh.unlink(missing_ok=True)
        Path(f"{fresh}.wal").unlink(missing_ok=True)


def _scrub_into(path: Path, warehouse: Path, fresh: Path) -> bool:
    """Write the scrubbed copy of `path` to `fresh`; False (and nothing written) when none is needed."""
    con = duckdb.connect(str(fresh))
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"attach {path_literal(path)} as past (read_only)")
        con.execute(f"attach {path_literal(warehouse)} as wh (read_only)")
        if not _has_table(con, "marts", "events", catalog="past"):
            return False
        rows = con.execute(
            """select a.org_id, a.event_id, a.payload::varchar, w.payload::varchar
               from past.marts.events a join wh.raw.events w using (org_id, event_id)
               where a.payload::varchar is distinct from w.payload::varchar"""
        ).fetchall()
        redacted = (
            con.execute(
                "select distinct org_id, atom_id from wh.core.memory_audit where action = 'redact'"
            ).fetchall()
            if _has_table(con, "core", "memory_audit", catalog="wh")
            else []
        )
        gone = _present_atoms(con, redacted, catalog="past")
        if not rows and not gone:
            return False
        own = con.execute("select current_database()").fetchone()[0]
        con.execute('copy from database past to "' + own.replace('"', '""') + '"')
        con.execute("detach past")
        con.execute("begin")
        if rows:
            con.register("scrub_new_payloads", _payload_frame(rows))
            con.execute(
                """update marts.events e set payload = s.payload::json from scrub_new_payloads s
                   where e.org_id = s.org_id and e.event_id = s.event_id"""
            )
            con.unregister("scrub_new_payloads")
        cards = _card_texts(con)
        _replace_everywhere(con, _replacements(rows))
        if gone:
            _drop_atoms(con, gone)
        _renew_etags(con, cards)
        _bump_version(con)
        con.execute("commit")
        con.execute("detach wh")
        if _has_table(con, "marts", "memory_atoms"):
            from dagster_project.memory.search import build_index

            build_index(con)
        con.execute("checkpoint")
    finally:
        con.close()
    return True


def _has_table(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, *, catalog: str | None = None
) -> bool:
    return bool(
        con.execute(
            """select count(*) from information_schema.tables
               where table_catalog = coalesce($catalog, current_database())
                 and table_schema = $schema and table_name = $table""",
            {"catalog": catalog, "schema": schema, "table": table},
        ).fetchone()[0]
    )


def _payload_frame(rows: list[tuple]) -> pa.Table:
    return pa.table(
        {
            "org_id": [r[0] for r in rows],
            "event_id": [r[1] for r in rows],
            "payload": [r[3] for r in rows],
        }
    )


def _replacements(rows: list[tuple]) -> dict[str, str]:
    """Each string an old payload held that the log's payload no longer holds, with what replaced it."""
    found: dict[str, str] = {}

    def walk(old: object, new: object) -> None:
        if isinstance(old, str):
            if old != new and len(old) >= MIN_SCRUB_CHARS:
                found[old] = new if isinstance(new, str) else ""
        elif isinstance(old, dict):
            for key, value in old.items():
                walk(value, new.get(key) if isinstance(new, dict) else None)
        elif isinstance(old, list):
            others = new if isinstance(new, list) else []
            for i, value in enumerate(old):
                walk(value, others[i] if i < len(others) else None)

    for _org, _event, old, new in rows:
        walk(orjson.loads(old) if old else {}, orjson.loads(new) if new else {})
    return found


def _text_columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str, str]]:
    """(schema, table, column, type) of every text column of the file's own tables, but the event log's
    payloads (already the log's) and the search index (rebuilt from the atoms afterwards)."""
    return con.execute(
        """select c.table_schema, c.table_name, c.column_name, c.data_type
           from information_schema.columns c
           join information_schema.tables t
             on t.table_catalog = c.table_catalog and t.table_schema = c.table_schema
            and t.table_name = c.table_name
           where c.table_catalog = current_database() and t.table_type = 'BASE TABLE'
             and c.data_type in ('VARCHAR', 'JSON', 'VARCHAR[]')
             and c.table_schema not like 'fts_%'
             and not (c.table_schema = 'marts' and c.table_name = 'events' and c.column_name = 'payload')
           order by 1, 2, 3"""
    ).fetchall()


def _replace_everywhere(con: duckdb.DuckDBPyConnection, replacements: dict[str, str]) -> None:
    """Replace each scrubbed string (as text and in its JSON-escaped form) in every text column."""
    pairs: dict[str, str] = {}
    for secret, replacement in sorted(replacements.items(), key=lambda kv: len(kv[0]), reverse=True):
        pairs.setdefault(secret, replacement)
        escaped = orjson.dumps(secret).decode()[1:-1]
        pairs.setdefault(escaped, orjson.dumps(replacement).decode()[1:-1])
    if not pairs:
        return
    params: dict[str, str] = {}
    for i, (secret, replacement) in enumerate(pairs.items()):
        params[f"s{i}"], params[f"r{i}"] = secret, replacement
    for schema, table, column, data_type in _text_columns(con):
        name = ".".join('"' + part.replace('"', '""') + '"' for part in (schema, table, column))
        relation = name.rsplit(".", 1)[0]
        col = '"' + column.replace('"', '""') + '"'

        def replaced(expr: str) -> str:
            for i in range(len(pairs)):
                expr = f"replace({expr}, $s{i}, $r{i})"
            return expr

        def found(expr: str) -> str:
            return "(" + " or ".join(f"contains({expr}, $s{i})" for i in range(len(pairs))) + ")"

        if data_type == "VARCHAR[]":
            # Element by element: a list's text form quotes and escapes its strings.
            value = f"list_transform({col}, x -> {replaced('x')})"
            hit = f"list_bool_or(list_transform({col}, x -> {found('x')}))"
        elif data_type == "JSON":
            value, hit = f"({replaced(f'{col}::varchar')})::json", found(f"{col}::varchar")
        else:
            value, hit = replaced(col), found(col)
        con.execute(f"update {relation} set {col} = {value} where {hit}", params)


# What a card's etag hashes (dbt/models/marts/memory/memory_cards.sql): what the card shows.
CARD_SHOWN = ("key_facts", "recent_activity", "decisions", "risks", "top_atoms")
CARD_KEY = ("org_id", "entity_type", "entity_id")


def _card_etag_sql() -> str:
    return "'\"' || md5(" + " || ".join(f"cast({c} as varchar)" for c in CARD_SHOWN) + ") || '\"'"


def _card_texts(con: duckdb.DuckDBPyConnection) -> bool:
    """Keep what each card shows before the scrub (False when the file has no cards to keep)."""
    columns = {
        r[0]
        for r in con.execute(
            """select column_name from information_schema.columns
           where table_catalog = current_database() and table_schema = 'marts' and table_name = 'memory_cards'"""
        ).fetchall()
    }
    if not {*CARD_SHOWN, *CARD_KEY, "etag"} <= columns:
        return False
    con.execute(
        f"create temp table scrub_cards_before as select {', '.join(CARD_KEY)}, {_card_etag_sql()} as shown "
        "from marts.memory_cards"
    )
    return True


def _renew_etags(con: duckdb.DuckDBPyConnection, kept: bool) -> None:
    """A card whose shown text the scrub changed gets a new etag, as a rebuild would give it: a client
    revalidating its cached copy must get the scrubbed card, not a 304 for the text it holds."""
    if not kept:
        return
    key = " and ".join(f"c.{k} = b.{k}" for k in CARD_KEY)
    con.execute(
        f"""update marts.memory_cards c set etag = {_card_etag_sql()}
            from scrub_cards_before b where {key} and b.shown <> {_card_etag_sql()}"""
    )
    con.execute("drop table scrub_cards_before")


def _bump_version(con: duckdb.DuckDBPyConnection) -> None:
    """A scrubbed file is a new version of the snapshot (`<version>+s<n>`): readers cache by version."""
    if not _has_table(con, "marts", "snapshot_info"):
        return
    con.execute(
        r"""update marts.snapshot_info set snapshot_version =
                regexp_replace(snapshot_version, '\+s\d+$', '') || '+s'
                || (coalesce(try_cast(regexp_extract(snapshot_version, '\+s(\d+)$', 1) as integer), 0) + 1)"""
    )


def _present_atoms(
    con: duckdb.DuckDBPyConnection, redacted: list[tuple[str, str]], *, catalog: str
) -> list[tuple[str, str]]:
    if not redacted or not _has_table(con, "marts", "memory_atoms", catalog=catalog):
        return []
    con.register(
        "scrub_redacted_atoms",
        pa.table({"org_id": [r[0] for r in redacted], "atom_id": [r[1] for r in redacted]}),
    )
    try:
        return con.execute(
            f"""select org_id, atom_id from "{catalog}".marts.memory_atoms
                semi join scrub_redacted_atoms using (org_id, atom_id) order by all"""
        ).fetchall()
    finally:
        con.unregister("scrub_redacted_atoms")


def _drop_atoms(con: duckdb.DuckDBPyConnection, atoms: list[tuple[str, str]]) -> None:
    """A redacted atom leaves the atoms, as it does at every as-of of a build (the index follows)."""
    con.register(
        "scrub_gone_atoms",
        pa.table({"org_id": [a[0] for a in atoms], "atom_id": [a[1] for a in atoms]}),
    )
    try:
        con.execute(
            """delete from marts.memory_atoms m
               where exists (select 1 from scrub_gone_atoms g where g.org_id = m.org_id and g.atom_id = m.atom_id)"""
        )
    finally:
        con.unregister("scrub_gone_atoms")
