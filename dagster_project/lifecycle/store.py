"""The lifecycle engine's tables in the warehouse (schema `core`): what the apply step writes.

Every entity row carries the `cluster_id` of the group of entities whose events were folded together
(a candidate, the signals it links and the pursuit it was promoted to). A re-fold replaces exactly the
rows of the clusters it touched, in one transaction, so an interrupted apply leaves the old rows and
a rerun writes the same new ones. dbt reads these tables as sources (`source('core', …)`).
"""

from __future__ import annotations

import duckdb

from dagster_project.warehouse.store import RUN_CLOCK_DDL

CORE_TABLES = (
    "signals",
    "candidates",
    "pursuits",
    "client_parts",
    "transitions",
    "rejected_events",
    "event_outcomes",
    "config_registry",
    "memory_atoms",
    "memory_audit",
    "entity_clusters",
    "run_clock",
)

CORE_DDL = """
create schema if not exists core;
create table if not exists core.signals (
    org_id varchar not null,
    signal_id varchar not null,
    status varchar not null,
    owner varchar,
    source_type varchar,
    created_at timestamptz not null,
    first_touched_at timestamptz,
    dismissed_at timestamptz,
    linked_at timestamptz,
    linked_candidate_id varchar,
    linked_candidate_ids varchar[],
    entered_state_at timestamptz,
    last_event_at timestamptz,
    cluster_id varchar not null
);
create table if not exists core.candidates (
    org_id varchar not null,
    candidate_id varchar not null,
    status varchar not null,
    owner varchar,
    title varchar,
    client_id varchar,
    value_band varchar,
    tags varchar[],
    signal_ids varchar[],
    pursuit_id varchar,
    entered_state_at timestamptz,
    created_at timestamptz not null,
    last_event_at timestamptz,
    cluster_id varchar not null
);
create table if not exists core.pursuits (
    org_id varchar not null,
    pursuit_id varchar not null,
    candidate_id varchar not null,
    stage varchar not null,
    owner varchar,
    capture_lead varchar,
    client_id varchar,
    due_date date,
    forecast_value_usd double,
    compliance_score double,
    pink_checklist json,
    pink_missing varchar[],
    pink_completion_pct double,
    red_checklist json,
    red_missing varchar[],
    red_completion_pct double,
    proposals_sent integer,
    first_proposal_sent_at timestamptz,
    latest_proposal_id varchar,
    latest_proposal_version integer,
    outcome varchar,
    reason_code varchar,
    reason varchar,
    missing_reason boolean,
    entered_state_at timestamptz,
    created_at timestamptz not null,
    closed_at timestamptz,
    last_event_at timestamptz,
    cluster_id varchar not null
);
-- Clients exist once referenced: each cluster contributes what it knows (first reference; fields from
-- client.updated), and the `clients` mart aggregates the parts per client.
create table if not exists core.client_parts (
    org_id varchar not null,
    client_id varchar not null,
    name varchar,
    domain varchar,
    industry varchar,
    created_at timestamptz not null,
    last_event_at timestamptz,
    cluster_id varchar not null
);
create table if not exists core.transitions (
    org_id varchar not null,
    entity_type varchar not null,
    entity_id varchar not null,
    from_state varchar,
    to_state varchar not null,
    occurred_at timestamptz not null,
    event_id varchar not null,
    warned boolean not null,
    cluster_id varchar not null
);
create table if not exists core.rejected_events (
    org_id varchar not null,
    event_id varchar not null,
    event_name varchar not null,
    entity_type varchar not null,
    entity_id varchar not null,
    occurred_at timestamptz not null,
    rule varchar not null,
    detail varchar,
    outcome varchar not null,
    cluster_id varchar not null
);
-- One row per accepted event the apply step has judged: applied | warned | rejected | ignored.
create table if not exists core.event_outcomes (
    org_id varchar not null,
    event_id varchar not null,
    event_name varchar not null,
    entity_type varchar not null,
    entity_id varchar not null,
    occurred_at timestamptz not null,
    outcome varchar not null,
    cluster_id varchar not null
);
create table if not exists core.config_registry (
    org_id varchar not null,
    key varchar not null,
    value json,
    effective_from timestamptz,
    effective_to timestamptz,
    event_id varchar,
    source varchar not null
);
-- Memory atoms captured from the cluster's events (not redacted; expiry and relevance are judged in dbt
-- at the as-of time, since they move with time even when no event does).
create table if not exists core.memory_atoms (
    org_id varchar not null,
    atom_id varchar not null,
    entity_type varchar not null,
    entity_id varchar not null,
    client_id varchar,
    atom_type varchar not null,
    content varchar not null,
    source varchar not null,
    source_system varchar,
    source_url varchar,
    trust_weight double not null,
    tags varchar[],
    rule varchar,
    classified_by varchar,
    actor varchar,
    occurred_at timestamptz not null,
    expires_at timestamptz,
    expires_explicit boolean not null,
    content_hash varchar not null,
    version integer not null,
    event_id varchar not null,
    corrected_at timestamptz,
    last_audit_id varchar,
    cluster_id varchar not null
);
-- Governance audit: who, when, why and content hashes of each correction and redaction (never content).
create table if not exists core.memory_audit (
    org_id varchar not null,
    audit_id varchar not null,
    action varchar not null,
    atom_id varchar not null,
    entity_type varchar,
    entity_id varchar,
    actor varchar,
    occurred_at timestamptz not null,
    reason varchar,
    content_hash varchar,
    old_content_hash varchar,
    new_content_hash varchar,
    version integer,
    cluster_id varchar not null
);
-- Which cluster every entity (and every entity an event links to) belongs to.
create table if not exists core.entity_clusters (
    org_id varchar not null,
    entity_type varchar not null,
    entity_id varchar not null,
    cluster_id varchar not null,
    -- The entity's earliest event in its last fold (null: none): lets a re-fold skip older log row groups.
    first_event_at timestamptz
);
"""


def ensure_core_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(CORE_DDL)
    con.execute(RUN_CLOCK_DDL)
    _add_first_event_at(con)
    _replace_apply_state(con)


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
