"""The identity step of a run: read what the apply left in `core`, resolve each org whose inputs changed,
write the `identity` tables that dbt reads (schema `identity`, one transaction).

Why a Python step before dbt: Splink runs from Python, and every served table must be a dbt model, so
the matches land in warehouse tables and the marts (`contacts`, `identity_links`, `identity_conflicts`,
`identity_pairs`) select from them. An org is re-resolved only when its inputs moved: a fingerprint of
its contact records, clients, decisions, identity config and the model version is kept per org.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import duckdb
import orjson
import polars as pl

from dagster_project.config.registry import DEFAULTS
from dagster_project.identity import model, training
from dagster_project.identity.erasure import ERASURES_DDL
from dagster_project.identity.resolve import (
    FEATURE_SCHEMA,
    Carry,
    OrgIdentity,
    resolve_clients,
    resolve_people,
)

IDENTITY_DDL = """
create schema if not exists identity;
-- One row per source record (a contact, a signal's sender, a client): the person or company it is.
create table if not exists identity.links (
    org_id varchar not null,
    entity_type varchar not null,
    canonical_id varchar not null,
    record_type varchar not null,
    record_id varchar not null,
    source_system varchar not null,
    source_id varchar not null,
    match_rule varchar not null,
    match_probability double not null,
    model_version varchar not null,
    -- How the org's matcher parameters were chosen: rules_only, fixed, fixed_not_converged, trained.
    model_parameters varchar
);
-- Every pair the probabilistic model scored at or above the review probability, explained.
create table if not exists identity.pairs (
    org_id varchar not null,
    entity_type varchar not null,
    left_id varchar not null,
    right_id varchar not null,
    match_probability double not null,
    match_weight double not null,
    explanation json not null,
    linked boolean not null,
    model_version varchar not null
);
-- Pairs waiting for a person's decision (a possible match, one email on two clients).
create table if not exists identity.conflicts (
    org_id varchar not null,
    entity_type varchar not null,
    kind varchar not null,
    left_id varchar not null,
    right_id varchar not null,
    detail varchar
);
-- Per org: the fingerprint of the inputs its rows were resolved from.
create table if not exists identity.org_state (
    org_id varchar not null,
    fingerprint varchar not null
);
-- Per person record of the last resolution: what the matcher compared, and the fields it came from
-- (`inputs`), so the next resolution parses and compares again only the records that changed.
create table if not exists identity.features (
    org_id varchar not null,
    unique_id varchar not null,
    first_name varchar,
    last_name varchar,
    email varchar,
    email_local varchar,
    phone varchar,
    company varchar,
    client_id varchar,
    inputs varchar not null
);
"""
TABLES = ("links", "pairs", "conflicts")
CONFIG_KEYS = (
    "identity.default_region",
    "identity.matcher_min_records",
    "identity.match_probability",
    "identity.train_min_records",
    "identity.max_block_size",
)


@dataclass
class IdentityReport:
    orgs_resolved: list[str] = field(default_factory=list)
    orgs_removed: list[str] = field(default_factory=list)
    # Of `orgs_resolved`, those whose matcher compared only the blocks of changed records.
    orgs_carried: list[str] = field(default_factory=list)
    records: int = 0
    # Matcher blocks left out as too large, over the orgs resolved (docs/identity.md).
    skipped_blocks: int = 0
    skipped_pairs: int = 0


def ensure_identity_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(IDENTITY_DDL)
    # A warehouse from before training gains the column; its orgs are re-resolved (new fingerprint).
    con.execute("alter table identity.links add column if not exists model_parameters varchar")
    # What the org's rows were resolved under (config, model, training): a carry needs the same.
    con.execute("alter table identity.org_state add column if not exists settings varchar")
    con.execute(ERASURES_DDL)


_RECORD_COLUMNS = "record_type, record_id, source_system, source_id, name, email, phone, client_id, company_domain, erased_at"


def _fingerprints(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Per org, a hash of everything its identity rows depend on: of each input line's MD5, sorted, so
    order never matters (sorting the digests, not the lines themselves, which the sort held whole)."""
    rows = con.execute(
        f"""
        with parts as (
            select org_id, 'r' as kind, concat_ws('|', {_RECORD_COLUMNS.replace(", ", ", '|', ")}) as line
            from core.contact_records
            union all
            select org_id, 'c', concat_ws('|', client_id, max(domain), max(source_system), max(source_id))
            from core.client_parts group by org_id, client_id
            union all
            select org_id, 'd', concat_ws('|', entity_type, entity_id, other_id, decision, event_id, occurred_at)
            from core.identity_decisions
            union all
            select org_id, 'k', concat_ws('|', key, value::varchar)
            from core.config_registry where effective_to is null and list_contains($keys, key)
        )
        select org_id, md5(string_agg(md5(kind || line), '' order by md5(kind || line))) from parts group by org_id
        """,
        {"keys": list(CONFIG_KEYS)},
    ).fetchall()
    return {org: f"{model.MODEL_VERSION}:{training.VERSION}:{digest}" for org, digest in rows}


def _config(con: duckdb.DuckDBPyConnection, org_id: str) -> dict[str, Any]:
    values = dict(DEFAULTS)
    for key, value in con.execute(
        "select key, value from core.config_registry where org_id = ? and effective_to is null", [org_id]
    ).fetchall():
        values[key] = orjson.loads(value) if isinstance(value, str) else value
    return values


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def settings_of(config: dict[str, Any]) -> str:
    """The settings an org's rows are resolved under: its identity config, the model and the training."""
    described = orjson.dumps(
        [model.MODEL_VERSION, training.VERSION, [[key, config[key]] for key in CONFIG_KEYS]]
    )
    return hashlib.sha256(described).hexdigest()[:16]


@contextmanager
def _explanation_codes(con: duckdb.DuckDBPyConnection, org_id: str) -> Iterator[pl.Series]:
    """The org's distinct pair explanations, numbered from 0 in the registered relation
    `identity_explanations` (text, code) for a query to join; yields them as a Categorical to gather
    by those numbers. A large org's explanations are one of a few texts: read as text for every pair,
    even a batch at a time, they took more memory than the pairs themselves."""
    texts = con.execute(
        "select distinct explanation::varchar as text from identity.pairs where org_id = ? order by text",
        [org_id],
    ).pl()["text"]
    numbered = pl.DataFrame({"text": texts, "code": pl.int_range(texts.len(), dtype=pl.UInt32, eager=True)})
    con.register("identity_explanations", numbered.to_arrow())
    try:
        yield texts.cast(model.PAIR_SCHEMA["explanation"])
    finally:
        con.unregister("identity_explanations")


def _decoded(rows: pl.DataFrame, texts: pl.Series) -> pl.DataFrame:
    """`rows` with its `explanation_code` column turned back into the `explanation` it numbers."""
    return rows.with_columns(texts.gather(rows["explanation_code"]).alias("explanation")).drop(
        "explanation_code"
    )


def _carried_pairs(con: duckdb.DuckDBPyConnection, org_id: str) -> pl.DataFrame:
    """The org's stored contact pairs as a frame of `model.PAIR_SCHEMA`, read a batch at a time."""
    schema = {c: t for c, t in model.PAIR_SCHEMA.items() if c != "explanation"}
    with _explanation_codes(con, org_id) as texts:
        batches = con.execute(
            """select p.left_id as left, p.right_id as right, p.match_probability as probability,
                      p.match_weight as weight, x.code as explanation_code
               from identity.pairs p
               left join identity_explanations x on x.text = p.explanation::varchar
               where p.org_id = ? and p.entity_type = 'contact'""",
            [org_id],
        ).to_arrow_reader(200_000)
        coded = pl.concat(
            [
                pl.DataFrame(schema={**schema, "explanation_code": pl.UInt32}),
                *(pl.from_arrow(b) for b in batches),
            ]
        )
        return _decoded(coded, texts).select(*model.PAIR_SCHEMA).cast(model.PAIR_SCHEMA)


def _carry(con: duckdb.DuckDBPyConnection, org_id: str, settings: str) -> Carry | None:
    """The org's last resolution, when it was made under these settings."""
    kept = con.execute("select settings from identity.org_state where org_id = ?", [org_id]).fetchone()
    if kept is None or kept[0] != settings:
        return None
    features = con.execute(
        f"select {', '.join(FEATURE_SCHEMA)} from identity.features where org_id = ?", [org_id]
    ).pl()
    pairs = _carried_pairs(con, org_id)
    return Carry(features.cast(FEATURE_SCHEMA), pairs)


def resolve_org(con: duckdb.DuckDBPyConnection, org_id: str) -> OrgIdentity:
    """One org's identity rows from the core tables (as the apply left them, already as of the run)."""
    config = _config(con, org_id)
    settings = settings_of(config)
    records = con.execute(
        f"select {_RECORD_COLUMNS} from core.contact_records where org_id = ? order by all", [org_id]
    ).pl()
    clients = _rows(
        con,
        """select client_id, max(name) as name, max(domain) as domain, max(source_system) as source_system,
                  max(source_id) as source_id
           from core.client_parts where org_id = ? group by client_id order by client_id""",
        [org_id],
    )
    decisions = _rows(
        con,
        "select entity_type, entity_id, other_id, decision, event_id, occurred_at "
        "from core.identity_decisions where org_id = ? order by occurred_at, event_id",
        [org_id],
    )
    people = resolve_people(
        org_id,
        records,
        decisions,
        region=str(config["identity.default_region"]),
        min_records=int(config["identity.matcher_min_records"]),
        threshold=float(config["identity.match_probability"]),
        train_min_records=int(config["identity.train_min_records"]),
        max_block_size=int(config["identity.max_block_size"]),
        carry=_carry(con, org_id, settings),
    )
    people.settings = settings
    companies = resolve_clients(org_id, clients, decisions)
    people.links = pl.concat([people.links, companies.links])
    return people


# Two seeds: a row's two hashes together are its 128-bit fingerprint in a carried write's comparison.
_ROW_SEEDS = (0x5EED, 0xA11CE)


def _row_hashes(frame: pl.DataFrame) -> pl.DataFrame:
    """Each row of `frame` as two 64-bit hashes of all its columns (nulls hash alike, as they compare)."""
    return pl.DataFrame([frame.hash_rows(seed).alias(f"h{i}") for i, seed in enumerate(_ROW_SEEDS)])


def _write(
    con: duckdb.DuckDBPyConnection, table: str, org: str, frame: pl.DataFrame | None, *, carried: bool
) -> None:
    """The org's rows of `identity.<table>` become `frame`'s (none: no rows). After a carried resolution
    the rows already there are left alone: it changes few of an org's rows, and rewriting them all made
    each commit write the org's tables again. The rows are compared by their 128-bit hashes (joining
    the stored and the new rows on every column held both whole, with a hash table of each: a large
    org's pairs were the resolution's peak), the stored rows read a batch at a time with their row
    ids, and the stale ones deleted by row id. An org resolved from nothing is replaced whole (comparing
    every row cost more than writing it). Call it inside a transaction (`_replace`): a row id names a
    row only until the table's next change."""
    if frame is None or frame.is_empty() or not carried:
        con.execute(f"delete from identity.{table} where org_id = ?", [org])
    if frame is None or frame.is_empty():
        return
    if carried:
        schema = dict(frame.schema)
        coded = "explanation" in frame.columns  # the pairs: each explanation read as its number
        columns = ", ".join(
            "x.code as explanation_code" if c == "explanation" else f"t.{c}" for c in frame.columns
        )
        join = "left join identity_explanations x on x.text = t.explanation::varchar" if coded else ""
        wanted = _row_hashes(frame)
        stored = [pl.DataFrame(schema={"h0": pl.UInt64, "h1": pl.UInt64, "stored_row": pl.Int64})]
        with _explanation_codes(con, org) if coded else nullcontext() as texts:
            batches = con.execute(
                f"select t.rowid as stored_row, {columns} from identity.{table} t {join} where t.org_id = ?",
                [org],
            ).to_arrow_reader(200_000)
            for batch in batches:
                rows = pl.from_arrow(batch)
                if coded:
                    rows = _decoded(rows, texts)
                hashes = _row_hashes(rows.select(frame.columns).cast(schema))
                stored.append(hashes.with_columns(rows["stored_row"].cast(pl.Int64)))
        known = pl.concat(stored)
        # One join each way over the whole org (a join per batch built the new rows' hash table again
        # for every batch).
        fresh = wanted.with_row_index("i").join(known, on=["h0", "h1"], how="anti")["i"]
        stale = known.join(wanted, on=["h0", "h1"], how="anti").select("stored_row")
        frame = frame[fresh.sort()]
        con.register("identity_stale", stale.to_arrow())
        try:
            con.execute(
                f"delete from identity.{table} where rowid in (select stored_row from identity_stale)"
            )
        finally:
            con.unregister("identity_stale")
        if frame.is_empty():
            return
    columns = ", ".join(frame.columns)
    con.register("identity_rows", frame.to_arrow())
    try:
        con.execute(
            f"insert into identity.{table} (org_id, {columns}) select $org, {columns} from identity_rows",
            {"org": org},
        )
    finally:
        con.unregister("identity_rows")


def _replace(
    con: duckdb.DuckDBPyConnection, org: str, result: OrgIdentity | None, fingerprint: str | None
) -> None:
    """One org's identity rows and fingerprint replaced (removed, without a result), in one transaction."""
    con.execute("begin transaction")
    try:
        carried = result is not None and result.changed_records is not None
        for table in TABLES:
            frame = getattr(result, table).drop("org_id") if result is not None else None
            _write(con, table, org, frame, carried=carried)
        _write(con, "features", org, result.features if result is not None else None, carried=carried)
        con.execute("delete from identity.org_state where org_id = ?", [org])
        if fingerprint is not None:
            con.execute(
                "insert into identity.org_state (org_id, fingerprint, settings) values (?, ?, ?)",
                [org, fingerprint, result.settings if result is not None else None],
            )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while one org is resolved: the step makes a few tuples and
    dicts per record and per scored pair, none of them in a cycle, and each full pass of the collector
    walked all of them again (benchmarks/README.md, *Identity resolution*). Reference counting still
    frees them; the collector runs again as soon as the org is written, and catches any cycle then."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def resolve_identities(con: duckdb.DuckDBPyConnection) -> IdentityReport:
    """Re-resolve every org whose inputs changed since the last run; drop the rows of orgs that left.
    Reads no clock: its inputs are already as of the run."""
    ensure_identity_schema(con)
    report = IdentityReport()
    current = _fingerprints(con)
    kept = dict(con.execute("select org_id, fingerprint from identity.org_state").fetchall())
    changed = sorted(org for org, fp in current.items() if kept.get(org) != fp)
    removed = sorted(set(kept) - set(current))
    if not changed and not removed:
        return report
    # One org at a time, each resolved, written and fingerprinted in its own transaction: holding every
    # org's rows at once grew with the history (benchmarks/README.md). A run that dies between two orgs
    # leaves the rest's old rows and fingerprints, so the next run re-resolves exactly those.
    for org in removed:
        _replace(con, org, None, None)
    skipped = []
    for org in changed:
        with _collector_paused():
            result = resolve_org(con, org)
            _replace(con, org, result, current[org])
        report.records += result.links.height
        if result.changed_records is not None:
            report.orgs_carried.append(org)
        skipped += result.skipped_blocks
        del result
    report.orgs_resolved, report.orgs_removed = changed, removed
    report.skipped_blocks, report.skipped_pairs = len(skipped), sum(b.pairs for b in skipped)
    return report
