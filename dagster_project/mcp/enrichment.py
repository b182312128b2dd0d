"""Enrichment of new signals and contacts through MCP: operator-declared servers, org opt-in, calls
through the outbox.

Who decides what:

- The operator declares servers in `<home>/enrichment.toml`, or in the environment variable
  `WORKSTREAM_ENRICHMENT` (the same TOML, which wins per server name): a command to start over stdio
  or a streamable-HTTP URL, the tool to call, a timeout. Event data never declares a server.
- An org switches one on with its `enrichment` config key (`config.enrichment`): which declared
  server, how the answer's keys map onto `client.updated`'s fields, at most how many calls a minute.
  Only signals created and contacts first seen from the time the setting took effect on are enriched.

How a call goes: after a publish (the `mcp_enrichment` asset), each new signal or contact with a
company domain (or an email's domain) of an opted-in org (`enrichment_targets`) is enqueued in that
org's enrichment outbox, `<home>/enrichment/<org>.sqlite` (the same `control.outbox` queue: idempotent
enqueue, fenced claims, backoff, dead letters), with what will be sent. A drain then claims items one
at a time within the org's rate and a total time budget, sends only the domain, and records every call
(`enrichment_calls`: what was sent, the outcome, the attempt, the events it gave). An answer becomes a
`client.updated` event (and for a contact a `contact.updated` filling its empty company fields)
written to `<inbox>/enrichment/` as a JSON Lines file, so it is validated, logged and replayable like
any other event; its `event_id` is derived from the target's, so a replay or a retried call gives a
duplicate, not a second update. A timeout, a crash or a malformed answer fails the item (retried with
backoff, then a dead letter); a server that answers with a tool error (unknown domain) completes it
without an event. Nothing here can fail the run that calls it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import time
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson

from dagster_project.config.enrichment import (
    CLIENT_FIELDS,
    DEFAULT_RATE_PER_MINUTE,
    SERVER_NAME,
    check_enrichment,
)
from dagster_project.control import outbox
from dagster_project.mcp.enrich_client import Answer, Caller, CallFailed, Declared
from dagster_project.mcp.enrichment_targets import contact_targets, signal_targets
from dagster_project.serving import reader
from dagster_project.serving.reader import SYSTEM

log = logging.getLogger(__name__)

ENV_DECLARATIONS = "WORKSTREAM_ENRICHMENT"
FILE_NAME = "enrichment.toml"
CONFIG_KEY = "enrichment"
FIELD_MAX = 200  # a client name or industry longer than this is not a fact, it is a malformed answer
DRAIN_BUDGET_S = 30.0
WORKER = "enrichment"

CALLS_SCHEMA = """
create table if not exists enrichment_targets (
    org_id text not null, event_id text not null, entity_id text not null, domain text not null,
    client_id text not null, gaps text, primary key (org_id, event_id)
);
create table if not exists enrichment_calls (
    org_id text not null, event_id text not null, server text not null, tool text not null,
    sent text not null, outcome text not null, detail text, attempt integer not null,
    called_at text not null, result_event_id text
);
create index if not exists enrichment_calls_time on enrichment_calls (called_at);
"""


class EnrichmentConfigError(ValueError):
    """The operator's declarations cannot be read."""


@dataclass(frozen=True)
class OptIn:
    org_id: str
    server: str
    fields: Mapping[str, str]
    rate_per_minute: int
    since: datetime | None


@dataclass
class Summary:
    enqueued: int = 0
    calls: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    events_written: int = 0
    problems: list[str] = field(default_factory=list)

    def count(self, outcome: str) -> None:
        self.calls += 1
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


# --- declarations and opt-ins --------------------------------------------------------------------------


def declared_servers(home: Path, environ: Mapping[str, str] | None = None) -> dict[str, Declared]:
    """The servers the operator declared: `<home>/enrichment.toml`, then `WORKSTREAM_ENRICHMENT`."""
    environ = os.environ if environ is None else environ
    sources: list[tuple[str, str]] = []
    path = home / FILE_NAME
    if path.is_file():
        sources.append((str(path), path.read_text(encoding="utf-8")))
    if environ.get(ENV_DECLARATIONS):
        sources.append((ENV_DECLARATIONS, environ[ENV_DECLARATIONS]))
    servers: dict[str, Declared] = {}
    for where, text in sources:
        try:
            table = tomllib.loads(text).get("servers", {})
        except tomllib.TOMLDecodeError as exc:
            raise EnrichmentConfigError(f"{where}: not TOML: {exc}") from None
        if not isinstance(table, dict):
            raise EnrichmentConfigError(f"{where}: `servers` must be a table of servers")
        for name, spec in table.items():
            servers[name] = _declared(where, name, spec)
    return servers


def _declared(where: str, name: str, spec: Any) -> Declared:
    def bad(why: str) -> EnrichmentConfigError:
        return EnrichmentConfigError(f"{where}: server {name!r}: {why}")

    if not SERVER_NAME.match(name):
        raise bad("a name is lower case letters, digits, - and _")
    if not isinstance(spec, dict):
        raise bad("must be a table")
    command, url, tool = spec.get("command"), spec.get("url"), spec.get("tool")
    if (command is None) == (url is None):
        raise bad("needs exactly one of `command` (a list: program and arguments) or `url`")
    if command is not None and (
        not isinstance(command, list) or not command or not all(isinstance(c, str) for c in command)
    ):
        raise bad("`command` must be a non-empty list of strings")
    if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
        raise bad("`url` must be an http(s) URL")
    if not isinstance(tool, str) or not tool:
        raise bad("needs `tool`: the name of the tool to call")
    timeout = spec.get("timeout_s", 10)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not 0 < timeout <= 300:
        raise bad("`timeout_s` must be a number of seconds from 0 to 300")
    return Declared(name, tool, tuple(command or ()), url, float(timeout))


def opt_ins(con: duckdb.DuckDBPyConnection) -> list[OptIn]:
    """The orgs whose `enrichment` setting in force names a server (from the snapshot's registry)."""
    rows = con.execute(
        "select org_id, value, effective_from from marts.config_registry "
        "where key = ? and in_force order by org_id",
        [CONFIG_KEY],
    ).fetchall()
    found = []
    for org_id, value, since in rows:
        setting = orjson.loads(value) if isinstance(value, str) else value
        if not setting or check_enrichment(setting) is not None:
            continue
        fields = setting.get("fields") or {f: f for f in CLIENT_FIELDS}
        rate = setting.get("rate_limit_per_minute", DEFAULT_RATE_PER_MINUTE)
        found.append(OptIn(org_id, setting["server"], fields, rate, since))
    return found


def declarations_present(home: Path, environ: Mapping[str, str] | None = None) -> bool:
    """Whether the operator declared anything (the file or the variable): without either there is nothing
    to enrich and nothing to read, so callers can skip the work (and the launch of a run) altogether."""
    environ = os.environ if environ is None else environ
    return (home / FILE_NAME).is_file() or bool(environ.get(ENV_DECLARATIONS))


# --- the queue -----------------------------------------------------------------------------------------


def store_path(home: Path, org_id: str) -> Path:
    return home / "enrichment" / f"{org_id}.sqlite"


@contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    """The org's enrichment store: the outbox's tables and pragmas, plus targets and the call record."""
    with outbox.connect(path) as con:
        for statement in CALLS_SCHEMA.split(";"):
            if statement.strip():
                con.execute(statement)
        _migrate(con)
        yield con


def _migrate(con: sqlite3.Connection) -> None:
    """A store made when only signals were enriched: its target's id column is named for signals, and
    it has no contact gaps."""
    columns = {row[1] for row in con.execute("pragma table_info(enrichment_targets)")}
    if "signal_id" in columns:
        con.execute("alter table enrichment_targets rename column signal_id to entity_id")
    if "gaps" not in columns:
        con.execute("alter table enrichment_targets add column gaps text")


def new_targets(con: duckdb.DuckDBPyConnection, opt: OptIn) -> list[dict[str, Any]]:
    """The org's new signals and new contacts naming a domain (`enrichment_targets`), signals first."""
    return signal_targets(con, opt.org_id, opt.since) + contact_targets(con, opt.org_id, opt.since)


def enqueue(home: Path, opt: OptIn, targets: list[dict[str, Any]], now: datetime) -> int:
    """Queue the targets, signals or contacts (idempotent: one already queued, in any state, is left alone)."""
    if not targets:
        return 0
    with _connect(store_path(home, opt.org_id)) as con:
        con.execute("begin immediate")
        try:
            con.executemany(
                "insert or ignore into enrichment_targets values (?, ?, ?, ?, ?, ?)",
                [
                    (
                        s["org_id"],
                        s["event_id"],
                        s["entity_id"],
                        s["domain"],
                        s["client_id"],
                        None if s.get("gaps") is None else orjson.dumps(s["gaps"]).decode(),
                    )
                    for s in targets
                ],
            )
            added = outbox.enqueue(con, targets, now)  # joins the open transaction
            con.execute("commit")
        except BaseException:
            if con.in_transaction:
                con.execute("rollback")
            raise
    return added


def due_items(home: Path, now: datetime) -> int:
    """Calls a drain should make now, over every org's store: pending items whose backoff is over, and
    claims a stopped drain left behind (stale), which the next drain puts back in the queue."""
    folder = home / "enrichment"
    if not folder.is_dir():
        return 0
    stamp = outbox.to_text(now)
    horizon = outbox.to_text(now - timedelta(minutes=outbox.DEFAULT_STALE_CLAIM_MINUTES))

    def count(con: sqlite3.Connection) -> int:
        return con.execute(
            "select (select count(*) from outbox_items where status = 'pending' and next_attempt_at <= ?)"
            " + (select count(*) from outbox_items where status = 'claimed' and claimed_at < ?)",
            (stamp, horizon),
        ).fetchone()[0]

    return sum(outbox.read_store(path, count, 0) for path in sorted(folder.glob("*.sqlite")))


# --- the drain -----------------------------------------------------------------------------------------


def result_events(
    opt: OptIn, server: Declared, target: Mapping[str, Any], answer: Answer, now: datetime
) -> list[dict]:
    """The events an answer gives: `client.updated` (the mapped fields that hold text) for the client
    with the domain; for a contact also `contact.updated` filling the company fields its own events left
    empty (`gaps`), if any. Ids derive from the target's event, so a repeated call gives duplicates."""
    payload = {}
    for field_name, key in opt.fields.items():
        value = answer.facts.get(key)
        if isinstance(value, str) and value.strip():
            payload[field_name] = value.strip()
    payload.setdefault("domain", target["domain"])

    def made(salt: str, event_name: str, entity_type: str, entity_id: str, body: dict) -> dict:
        digest = hashlib.sha256(f"{server.name}\0{target['event_id']}{salt}".encode()).hexdigest()[:24]
        return {
            "event_id": f"enrich-{digest}",
            "org_id": opt.org_id,
            "occurred_at": outbox.to_text(now),
            "event_name": event_name,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "actor": f"enrichment:{server.name}",
            "payload": body,
        }

    events = [made("", "client.updated", "client", target["client_id"], payload)]
    if target.get("entity_type") == "contact":
        company = {"company_name": payload.get("name"), "company_domain": target["domain"]}
        company["client_id"] = target["client_id"]
        filled = {k: v for k, v in company.items() if k in (target.get("gaps") or ()) and v}
        if filled:
            events.append(made("\0contact", "contact.updated", "contact", target["entity_id"], filled))
    return events


def check_answer(answer: Answer, fields: Mapping[str, str]) -> str | None:
    """What makes an answer malformed, if anything: mapped values must be short text, and at least one
    mapped key must be there (an object of other things is not an answer to this question)."""
    for key in fields.values():
        value = answer.facts.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > FIELD_MAX):
            return f"answer key {key!r} is not text of at most {FIELD_MAX} characters"
    if not any(isinstance(answer.facts.get(key), str) for key in fields.values()):
        return f"the answer has none of the keys {', '.join(sorted(set(fields.values())))}"
    return None


def write_events(inbox: Path, org_id: str, events: list[dict], now: datetime) -> Path | None:
    """Write the events as one JSON Lines file in `<inbox>/enrichment/` (a `.tmp` the inbox skips, then
    renamed, so a run never reads half a file)."""
    if not events:
        return None
    folder = inbox / "enrichment"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    digest = hashlib.sha256(b"".join(e["event_id"].encode() for e in events)).hexdigest()[:12]
    final = folder / f"{org_id}-{stamp}-{digest}.jsonl"
    temp = final.with_name(final.name + ".tmp")
    temp.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    os.replace(temp, final)
    return final


def _record(
    con,
    org_id: str,
    event_id: str,
    server: Declared,
    sent: dict,
    outcome: str,
    detail: str | None,
    attempt: int,
    now: datetime,
    result: str | None,
) -> None:
    con.execute(
        "insert into enrichment_calls values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (org_id, event_id, server.name, server.tool, orjson.dumps(sent).decode(), outcome,
         (detail or "")[:500] or None, attempt, outbox.to_text(now), result),
    )  # fmt: skip


async def drain_org(
    home: Path, inbox: Path, opt: OptIn, server: Declared, now: datetime, deadline: float, summary: Summary
) -> None:
    """Call the server for the org's due items, one at a time, within its rate and the time budget."""
    events: list[dict] = []
    done: list[tuple[str, outbox.Key]] = []
    with _connect(store_path(home, opt.org_id)) as con:
        # A drain that stopped mid-call (a killed run) left its claim: once stale, it is queued again.
        outbox.recover_stale(con, now)
        window = outbox.to_text(now - timedelta(minutes=1))
        used = con.execute("select count(*) from enrichment_calls where called_at > ?", (window,)).fetchone()[
            0
        ]
        async with Caller(server) as caller:
            for _ in range(max(0, opt.rate_per_minute - used)):
                if time.monotonic() >= deadline:
                    break
                claim = outbox.claim(con, now=now, limit=1, worker=WORKER)
                if not claim:
                    break
                item = claim.items[0]
                row = con.execute(
                    "select event_id, domain, client_id, entity_id, gaps from enrichment_targets "
                    "where org_id = ? and event_id = ?",
                    item.key,
                ).fetchone()
                target = {
                    "event_id": row[0],
                    "domain": row[1],
                    "client_id": row[2],
                    "entity_type": item.entity_type,
                    "entity_id": row[3],
                    "gaps": orjson.loads(row[4]) if row[4] else None,
                }
                sent = {"domain": target["domain"]}
                try:
                    answer = await caller.call(sent, deadline=deadline)
                    problem = None if answer.refused else check_answer(answer, opt.fields)
                except CallFailed as exc:
                    answer, problem = None, None
                    outcome, detail = exc.outcome, str(exc)
                else:
                    if answer.refused:
                        outcome, detail = "refused", answer.text
                    elif problem is not None:
                        outcome, detail = "malformed", problem
                    else:
                        outcome, detail = "ok", None
                summary.count(outcome)
                if outcome in ("ok", "refused"):
                    given = result_events(opt, server, target, answer, now) if outcome == "ok" else []
                    produced = " ".join(e["event_id"] for e in given) or None
                    _record(con, *item.key, server, sent, outcome, detail, item.attempts, now, produced)
                    events.extend(given)
                    done.append((claim.token, item.key))
                else:
                    _record(con, *item.key, server, sent, outcome, detail, item.attempts, now, None)
                    outbox.fail(con, claim.token, item.key, f"{outcome}: {detail}", now)
        # The events reach the inbox before their items are marked done: a crash in between means one
        # more call and a duplicate event (same id), never a lost update.
        if write_events(inbox, opt.org_id, events, now) is not None:
            summary.events_written += len(events)
        for token, key in done:
            outbox.complete(con, token, [key], now)


async def enrich(
    home: Path,
    inbox: Path,
    now: datetime,
    *,
    budget_s: float = DRAIN_BUDGET_S,
    environ: Mapping[str, str] | None = None,
) -> Summary:
    """Queue the new signals and contacts of every opted-in org and call their servers; never raises."""
    summary = Summary()
    deadline = time.monotonic() + budget_s
    try:
        servers = declared_servers(home, environ)
        if not servers:
            return summary  # nothing declared: no enrichment, nothing read
        snapshot = home / "serving.duckdb"
        plans = reader.run(
            snapshot, lambda con: [(o, new_targets(con, o)) for o in opt_ins(con)], scope=SYSTEM
        )
    except Exception as exc:  # a broken declaration or snapshot stops enrichment, never the run
        summary.problems.append(f"enrichment skipped: {exc}")
        return summary
    for opt, targets in plans:
        server = servers.get(opt.server)
        if server is None:
            summary.problems.append(
                f"org {opt.org_id}: server {opt.server!r} is not declared by the operator"
            )
            continue
        try:
            summary.enqueued += enqueue(home, opt, targets, now)
            await drain_org(home, inbox, opt, server, now, deadline, summary)
        except Exception as exc:
            log.warning("enrichment of org %s stopped: %s", opt.org_id, exc)
            summary.problems.append(f"org {opt.org_id}: {type(exc).__name__}: {exc}")
    return summary


def run_enrichment(home: Path, inbox: Path, now: datetime, **kwargs: Any) -> Summary:
    """`enrich` from synchronous code (the end of a run)."""
    import anyio

    return anyio.run(lambda: enrich(home, inbox, now, **kwargs))


def calls(home: Path, org_id: str) -> list[dict[str, Any]]:
    """Every recorded call of the org, oldest first."""
    path = store_path(home, org_id)
    if not path.exists():
        return []
    with _connect(path) as con:
        cur = con.execute("select * from enrichment_calls order by called_at, rowid")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
