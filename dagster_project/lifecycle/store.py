"""The lifecycle engine's tables in the warehouse (schema `core`): what the apply step writes.

Every entity row carries the `cluster_id` of the group of entities whose events were folded together
(a candidate, the signals it links and the pursuit it was promoted to). A re-fold replaces exactly the
rows of the clusters it touched, in one transaction, so an interrupted apply leaves the old rows and
a rerun writes the same new ones. dbt reads these tables as sources (`source('core', …)`).

Each table is declared once, below (`CORE`): name, meaning, columns with their DuckDB types. The DDL is
generated from it, the apply's row schemas can be (`polars_schema`), and a test holds dbt's source
declarations (dbt/models/staging/lifecycle/_lifecycle__sources.yml) to the same columns in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB type
    not_null: bool = False


@dataclass(frozen=True)
class CoreTable:
    """One `core` table; a clustered one ends with the internal `cluster_id` the apply adds on write."""

    name: str
    doc: str
    columns: tuple[Column, ...]  # without `cluster_id` for a clustered table
    clustered: bool = True

    @property
    def all_columns(self) -> tuple[Column, ...]:
        """Every column in table order, `cluster_id` included."""
        return (*self.columns, Column("cluster_id", "varchar", True)) if self.clustered else self.columns

    @property
    def ddl(self) -> str:
        spec = ",\n".join(
            f"    {c.name} {c.type}{' not null' if c.not_null else ''}" for c in self.all_columns
        )
        return f"-- {self.doc}\ncreate table if not exists core.{self.name} (\n{spec}\n);"


def _table(name: str, doc: str, columns: str, *, clustered: bool = True) -> CoreTable:
    """A table from `name type [not null]` lines (`#` lines are comments)."""
    parsed = []
    for line in columns.strip().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        not_null = line.endswith(" not null")
        column, kind = line.removesuffix(" not null").split(None, 1)
        parsed.append(Column(column, kind, not_null))
    return CoreTable(name, doc, tuple(parsed), clustered)


CORE: tuple[CoreTable, ...] = (
    _table(
        "signals",
        "Current state of every signal, one row per (org_id, signal_id).",
        """
        org_id varchar not null
        signal_id varchar not null
        status varchar not null
        owner varchar
        source_type varchar
        created_at timestamptz not null
        first_touched_at timestamptz
        dismissed_at timestamptz
        linked_at timestamptz
        linked_candidate_id varchar
        linked_candidate_ids varchar[]
        entered_state_at timestamptz
        last_event_at timestamptz
        """,
    ),
    _table(
        "candidates",
        "Current state of every candidate, one row per (org_id, candidate_id).",
        """
        org_id varchar not null
        candidate_id varchar not null
        status varchar not null
        owner varchar
        title varchar
        client_id varchar
        value_band varchar
        tags varchar[]
        signal_ids varchar[]
        pursuit_id varchar
        entered_state_at timestamptz
        created_at timestamptz not null
        last_event_at timestamptz
        """,
    ),
    _table(
        "pursuits",
        "Current state of every pursuit, one row per (org_id, pursuit_id).",
        """
        org_id varchar not null
        pursuit_id varchar not null
        candidate_id varchar not null
        stage varchar not null
        owner varchar
        capture_lead varchar
        client_id varchar
        due_date date
        forecast_value_usd double
        compliance_score double
        pink_checklist json
        pink_missing varchar[]
        pink_completion_pct double
        red_checklist json
        red_missing varchar[]
        red_completion_pct double
        proposals_sent integer
        first_proposal_sent_at timestamptz
        latest_proposal_id varchar
        latest_proposal_version integer
        outcome varchar
        reason_code varchar
        reason varchar
        missing_reason boolean
        entered_state_at timestamptz
        created_at timestamptz not null
        closed_at timestamptz
        last_event_at timestamptz
        """,
    ),
    _table(
        "client_parts",
        (
            "Clients exist once referenced: each cluster contributes what it knows (first reference; fields from "
            "client.updated), and the `clients` mart aggregates the parts per client."
        ),
        """
        org_id varchar not null
        client_id varchar not null
        name varchar
        domain varchar
        industry varchar
        created_at timestamptz not null
        last_event_at timestamptz
        # Where the client came from (extension: importers set them); after the columns above, so an older
        # warehouse gains them at the end (`_add_missing_columns`).
        source_system varchar
        source_id varchar
        """,
    ),
    _table(
        "contact_records",
        (
            "Every source record that names a person: a contact (its contact events) or a signal's sender "
            "(`signal.created`'s contact fields); identity resolution decides which records are one person."
        ),
        """
        org_id varchar not null
        record_type varchar not null
        record_id varchar not null
        source_system varchar
        source_id varchar
        name varchar
        email varchar
        phone varchar
        title varchar
        client_id varchar
        company_name varchar
        company_domain varchar
        owner varchar
        signal_ids varchar[]
        erased_at timestamptz
        first_seen_at timestamptz not null
        last_seen_at timestamptz
        """,
    ),
    _table(
        "user_records",
        (
            "Every user of the org an event names (`user.*`): the people `owner`, `capture_lead` and `actor` "
            "hold, one row per (org_id, user_id); the `users` mart publishes them."
        ),
        """
        org_id varchar not null
        user_id varchar not null
        name varchar
        email varchar
        title varchar
        role varchar
        active boolean
        source_system varchar
        source_id varchar
        erased_at timestamptz
        first_seen_at timestamptz not null
        last_seen_at timestamptz
        """,
    ),
    _table(
        "identity_decisions",
        "Explicit merges and splits of contacts and clients (they override the matcher).",
        """
        org_id varchar not null
        entity_type varchar not null
        entity_id varchar not null
        other_id varchar not null
        decision varchar not null
        event_id varchar not null
        occurred_at timestamptz not null
        actor varchar
        """,
    ),
    _table(
        "transitions",
        "Every state change the fold applied (warned ones flagged).",
        """
        org_id varchar not null
        entity_type varchar not null
        entity_id varchar not null
        from_state varchar
        to_state varchar not null
        occurred_at timestamptz not null
        event_id varchar not null
        warned boolean not null
        """,
    ),
    _table(
        "rejected_events",
        "Every event the fold refused or warned about, with the rule it broke.",
        """
        org_id varchar not null
        event_id varchar not null
        event_name varchar not null
        entity_type varchar not null
        entity_id varchar not null
        occurred_at timestamptz not null
        rule varchar not null
        detail varchar
        outcome varchar not null
        """,
    ),
    _table(
        "event_outcomes",
        "One row per accepted event the apply step has judged: applied | warned | rejected | ignored.",
        """
        org_id varchar not null
        event_id varchar not null
        event_name varchar not null
        entity_type varchar not null
        entity_id varchar not null
        occurred_at timestamptz not null
        outcome varchar not null
        """,
    ),
    _table(
        "config_registry",
        "Each org's config values with the time span each was in force.",
        """
        org_id varchar not null
        key varchar not null
        value json
        effective_from timestamptz
        effective_to timestamptz
        event_id varchar
        source varchar not null
        """,
        clustered=False,
    ),
    _table(
        "memory_atoms",
        (
            "Memory atoms captured from the cluster's events (not redacted; expiry and relevance are judged in "
            "dbt at the as-of time, since they move with time even when no event does)."
        ),
        """
        org_id varchar not null
        atom_id varchar not null
        entity_type varchar not null
        entity_id varchar not null
        client_id varchar
        atom_type varchar not null
        content varchar not null
        source varchar not null
        source_system varchar
        source_url varchar
        trust_weight double not null
        tags varchar[]
        rule varchar
        classified_by varchar
        actor varchar
        occurred_at timestamptz not null
        expires_at timestamptz
        expires_explicit boolean not null
        content_hash varchar not null
        version integer not null
        event_id varchar not null
        corrected_at timestamptz
        last_audit_id varchar
        """,
    ),
    _table(
        "memory_audit",
        (
            "Governance audit: who, when, why and content hashes of each correction and redaction (never "
            "content)."
        ),
        """
        org_id varchar not null
        audit_id varchar not null
        action varchar not null
        atom_id varchar not null
        entity_type varchar
        entity_id varchar
        actor varchar
        occurred_at timestamptz not null
        reason varchar
        content_hash varchar
        old_content_hash varchar
        new_content_hash varchar
        version integer
        """,
    ),
    _table(
        "entity_clusters",
        "Which cluster every entity (and every entity an event links to) belongs to.",
        """
        org_id varchar not null
        entity_type varchar not null
        entity_id varchar not null
        cluster_id varchar not null
        # The entity's earliest event in its last fold (null: none): lets a re-fold skip older log row groups.
        first_event_at timestamptz
        """,
        clustered=False,
    ),
    _table(
        "cluster_changes",
        "Which clusters each apply write replaced, numbered by write: incremental dbt models rebuild the "
        "rows of the clusters written since their last build (dbt/macros/incremental.sql).",
        """
        org_id varchar not null
        cluster_id varchar not null
        # One number per apply write, increasing: a model remembers the last one it has taken in.
        seq bigint not null
        """,
        clustered=False,
    ),
    _table(
        "run_clock",
        "The run's clock, the one stored copy of its as-of: what the core tables (and dbt) are computed as "
        "of, and the clock of the run that computed them (one row; warehouse/store.py reads and writes it).",
        """
        as_of timestamptz not null
        now timestamptz not null
        """,
        clustered=False,
    ),
)
CORE_BY_NAME = {t.name: t for t in CORE}
CORE_TABLES = tuple(CORE_BY_NAME)
CORE_DDL = "create schema if not exists core;\n" + "\n".join(t.ddl for t in CORE) + "\n"

# How the apply's polars frames carry each DuckDB type (JSON travels as text, timestamps in UTC).
_POLARS = {
    "varchar": pl.Utf8,
    "json": pl.Utf8,
    "varchar[]": pl.List(pl.Utf8),
    "timestamptz": pl.Datetime("us", "UTC"),
    "date": pl.Date,
    "double": pl.Float64,
    "integer": pl.Int32,
    "bigint": pl.Int64,
    "boolean": pl.Boolean,
}


def polars_schema(table: str) -> dict[str, pl.DataType]:
    """The polars schema of a table's rows as the fold returns them (no `cluster_id`: added on write)."""
    return {c.name: _POLARS[c.type] for c in CORE_BY_NAME[table].columns}


def ensure_core_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(CORE_DDL)
    _add_first_event_at(con)
    _add_missing_columns(con)
    _replace_apply_state(con)


def _add_missing_columns(con: duckdb.DuckDBPyConnection) -> None:
    """Upgrade a warehouse from before a nullable column was declared (an extension): add it, empty. The
    apply names its columns on insert, so the column's place in an upgraded table does not matter."""
    present = set(
        con.execute(
            "select table_name, column_name from information_schema.columns where table_schema = 'core'"
        ).fetchall()
    )
    for table in CORE:
        for column in table.all_columns:
            if (table.name, column.name) not in present and not column.not_null:
                con.execute(f"alter table core.{table.name} add column {column.name} {column.type}")


def _replace_apply_state(con: duckdb.DuckDBPyConnection) -> None:
    """Upgrade a warehouse from before `core.run_clock`: its `core.apply_state` row (the as-of the tables
    hold) moves over, so the first run after the upgrade still re-folds what its moved as-of touches."""
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'core' and table_name = 'apply_state'"
    ).fetchone()[0]
    if not exists:
        return
    con.execute("begin transaction")
    try:
        if not con.execute("select count(*) from core.run_clock").fetchone()[0]:
            con.execute("insert into core.run_clock select as_of, applied_at from core.apply_state")
        con.execute("drop table core.apply_state")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def _add_first_event_at(con: duckdb.DuckDBPyConnection) -> None:
    """Upgrade a warehouse from before `entity_clusters.first_event_at`: add it and fill it from the log
    (each entity's earliest event of any kind: never later than its earliest folded one, so a valid bound)."""
    has_column = con.execute(
        """select count(*) from information_schema.columns
           where table_schema = 'core' and table_name = 'entity_clusters' and column_name = 'first_event_at'"""
    ).fetchone()[0]
    if has_column:
        return
    has_log = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'raw' and table_name = 'events'"
    ).fetchone()[0]
    # One transaction: a crash between adding and filling the column must not leave it added but empty
    # (the next run would see the column and never fill it).
    con.execute("begin transaction")
    try:
        con.execute("alter table core.entity_clusters add column first_event_at timestamptz")
        if has_log:
            con.execute(
                """update core.entity_clusters c set first_event_at = f.first_event_at
                   from (select org_id, entity_type, entity_id, min(occurred_at) as first_event_at
                         from raw.events group by all) f
                   where c.org_id = f.org_id and c.entity_type = f.entity_type and c.entity_id = f.entity_id"""
            )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
