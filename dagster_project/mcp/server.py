"""`workstream mcp`: a read-only MCP server over the published snapshot (docs/mcp.md).

Every call authenticates its token (`gate`), resolves the one org it reads, and runs its query
(`reads`) on a short-lived `serving.reader` connection opened with `OrgScope([org])`: the rows of every
other org are not there to be read, whatever the arguments. Arguments are typed and bounded (the
SDK answers a schema violation with a tool error); an unknown item, a refused org, a missing snapshot
or an oversize answer is a tool error with a message, never a crash of the server.

Cards are also resources, `workstream://ORG/cards/TYPE/ID`. A watcher compares the snapshot file's
identity (`reader.snapshot_identity`: a publish swaps in a new inode) and, when it changes, tells
`subscriptions/listen` subscribers that the resource list changed and which cards read through this
process changed (their etag differs, or they are gone).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import anyio
import anyio.to_thread
import duckdb
import orjson
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.server.subscriptions import InMemorySubscriptionBus, ResourcesListChanged, ResourceUpdated
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import AwareDatetime, Field

from dagster_project.mcp import reads
from dagster_project.mcp.gate import Gate, Refused, TokenCheck
from dagster_project.serving import reader
from dagster_project.serving.reader import (
    SYSTEM,
    OrgScope,
    SnapshotIncompatible,
    SnapshotMissing,
    SnapshotUnavailable,
)
from dagster_project.settings import Clock, HomePaths, default_clock

log = logging.getLogger(__name__)
T = TypeVar("T")

# An answer larger than this is refused with a hint to narrow the call: a tool result goes into a
# model's context, where a megabyte of rows helps no one.
MAX_ANSWER_BYTES = 64_000
WATCH_INTERVAL_S = 1.0
TRACKED_URIS_MAX = 10_000
ORG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
ID_PATTERN = r"^[^\x00-\x1f\x7f]{1,128}$"  # ids as the contract takes them, without control characters
READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)

EntityType = Literal["signal", "candidate", "pursuit", "client"]
ItemType = Literal["signal", "candidate", "pursuit"]
AtomType = Literal["decision", "risk", "preference", "note", "status"]
Tier = Literal["critical", "high", "medium", "low"]
OrgArg = Annotated[
    str | None,
    Field(
        pattern=ORG_PATTERN,
        description="The org to read. Optional when the token grants exactly one org; `my_orgs` lists them.",
    ),
]
Id = Annotated[str, Field(pattern=ID_PATTERN, description="An id as the other tools return it.")]

INSTRUCTIONS = (
    "Workstream's sales memory and work queue for your org, read-only, from the latest published "
    "snapshot. Start with `today_panel` (what to do today, and why each item ranks where it does) or "
    "`memory_search`; open an entity with `memory_card`, an item's deadlines with `sla_status`; "
    "`pipeline_health` gives open pipeline and win/loss for a period. Ids in every answer work as "
    "arguments of the other tools."
)


def _answer(answer: reads.Answer) -> CallToolResult:
    body = orjson.dumps(answer.data, option=orjson.OPT_NON_STR_KEYS, default=str)
    if len(body) + len(answer.text) > MAX_ANSWER_BYTES:
        raise ToolError(
            f"the answer is over {MAX_ANSWER_BYTES:,} bytes: narrow the call (a lower `limit`, a filter)"
        )
    return CallToolResult(
        content=[TextContent(type="text", text=answer.text)], structured_content=orjson.loads(body)
    )


class Snapshot:
    """Reads of the live snapshot for one org, and the watch for a new publish."""

    def __init__(self, home: Path, gate: Gate) -> None:
        self.path = HomePaths(home).serving
        self.gate = gate
        self._known: tuple[reader.Identity | None, list[str]] = (None, [])
        self.etags: dict[str, tuple[tuple[str, str, str], str]] = {}  # uri -> (key, etag) read here

    def known_orgs(self) -> list[str]:
        """Every org in the current file (an admin's token reads them all), cached per file version."""
        identity = reader.snapshot_identity(self.path)
        if identity is None or self._known[0] != identity:
            orgs = reader.run(self.path, reads.known_orgs, scope=SYSTEM) if identity is not None else []
            self._known = (identity, orgs)
        return self._known[1]

    def read(self, org: str, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        try:
            return reader.run(self.path, work, scope=OrgScope([org]))
        except SnapshotMissing:
            raise ToolError("no snapshot has been published yet: run the pipeline first") from None
        except (SnapshotUnavailable, SnapshotIncompatible) as exc:
            raise ToolError(f"the snapshot cannot be read right now, retry shortly: {exc}") from None
        except reads.NotFound as exc:
            raise ToolError(str(exc)) from None
        except duckdb.Error as exc:
            log.warning("query failed: %s", str(exc).splitlines()[0])
            raise ToolError("the query failed on this snapshot; check the arguments") from None

    def remember(self, uri: str, key: tuple[str, str, str], etag: str) -> None:
        if len(self.etags) >= TRACKED_URIS_MAX and uri not in self.etags:
            self.etags.pop(next(iter(self.etags)))
        self.etags[uri] = (key, etag)

    def changed_uris(self) -> list[str]:
        """Cards read through this process whose etag changed (or that are gone) in the current file."""
        tracked = dict(self.etags)
        if not tracked:
            return []

        def etags(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str, str], str]:
            keys = [key for key, _ in tracked.values()]
            # Unnests in one select zip the three lists into rows, one per tracked card.
            rows = con.execute(
                "with wanted as (select unnest(?::varchar[]) as o, unnest(?::varchar[]) as t, "
                "unnest(?::varchar[]) as i) "
                "select org_id, entity_type, entity_id, etag from marts.memory_cards "
                "join wanted on org_id = o and entity_type = t and entity_id = i",
                [list(part) for part in zip(*keys, strict=True)],
            ).fetchall()
            return {(o, t, i): e for o, t, i, e in rows}

        current = reader.run(self.path, etags, scope=SYSTEM)
        changed = [uri for uri, (key, etag) in tracked.items() if current.get(key) != etag]
        for uri in changed:
            key = tracked[uri][0]
            if key in current:
                self.etags[uri] = (key, current[key])
            else:
                self.etags.pop(uri, None)
        return changed


def build_server(
    home: Path,
    *,
    token: str | None = None,
    http_port: int | None = None,
    clock: Clock | None = None,
    watch_interval_s: float = WATCH_INTERVAL_S,
) -> MCPServer:
    """The server for `home`: over stdio with `token` (the process's one token), or for HTTP (`http_port`
    set) with a bearer token on every request."""
    clock = clock or default_clock()
    gate = Gate(home, token=token, clock=clock)
    snap = Snapshot(home, gate)
    bus = InMemorySubscriptionBus()

    @asynccontextmanager
    async def lifespan(_server: MCPServer) -> AsyncIterator[dict[str, Any]]:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_watch, snap, bus, watch_interval_s)
            yield {}
            tg.cancel_scope.cancel()

    auth: dict[str, Any] = {}
    if http_port is not None:
        auth = {
            "token_verifier": TokenCheck(gate),
            "auth": AuthSettings(issuer_url=f"http://127.0.0.1:{http_port}", resource_server_url=None),
        }
    server = MCPServer(
        "workstream",
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        subscriptions=bus,
        log_level="WARNING",
        **auth,
    )

    async def org_of(ctx: Context, org_id: str | None) -> str:
        def resolve() -> str:
            principal = gate.principal(ctx.headers)
            return gate.org(principal, org_id, snap.known_orgs)

        try:
            return await anyio.to_thread.run_sync(resolve)
        except Refused as exc:
            raise ToolError(str(exc)) from None
        except (SnapshotMissing, SnapshotUnavailable, SnapshotIncompatible):
            raise ToolError("no snapshot can be read yet: run the pipeline first, or retry shortly") from None

    async def run(org: str, work: Callable[[duckdb.DuckDBPyConnection], reads.Answer]) -> CallToolResult:
        return _answer(await anyio.to_thread.run_sync(snap.read, org, work))

    @server.tool(annotations=READ_ONLY)
    async def my_orgs(ctx: Context) -> CallToolResult:
        """The orgs this token can read (pass one as `org_id` when there are several)."""

        def mine() -> list[str]:
            principal = gate.principal(ctx.headers)
            return (
                principal.readable_orgs(snap.known_orgs()) if principal.is_admin else sorted(principal.grants)
            )

        try:
            orgs = await anyio.to_thread.run_sync(mine)
        except Refused as exc:
            raise ToolError(str(exc)) from None
        return _answer(reads.Answer("Orgs: " + (", ".join(orgs) or "none"), {"orgs": orgs}))

    @server.tool(annotations=READ_ONLY)
    async def memory_card(
        entity_type: Annotated[EntityType, Field(description="What the id names.")],
        entity_id: Id,
        ctx: Context,
        org_id: OrgArg = None,
    ) -> CallToolResult:
        """What we know about one entity: its memory card (key facts, decisions, risks, recent activity),
        each item with the `atom_id` and time it came from. For a client, every live atom of the client
        and of its candidates and pursuits. Also readable as resource workstream://ORG/cards/TYPE/ID."""
        org = await org_of(ctx, org_id)
        result = await anyio.to_thread.run_sync(
            snap.read, org, lambda con: reads.card(con, org, entity_type, entity_id)
        )
        snap.remember(result.data["uri"], (org, entity_type, entity_id), result.data["etag"])
        return _answer(result)

    @server.tool(annotations=READ_ONLY)
    async def memory_search(
        query: Annotated[str, Field(min_length=1, max_length=500, description="Search words (full text).")],
        ctx: Context,
        org_id: OrgArg = None,
        entity_type: Annotated[
            EntityType | None, Field(description="Only atoms of this kind of entity.")
        ] = None,
        entity_id: Annotated[
            str | None, Field(pattern=ID_PATTERN, description="Only this entity's atoms.")
        ] = None,
        client_id: Annotated[
            str | None, Field(pattern=ID_PATTERN, description="Only atoms about this client.")
        ] = None,
        atom_type: Annotated[AtomType | None, Field(description="Only this kind of atom.")] = None,
        since: Annotated[
            AwareDatetime | None, Field(description="RFC 3339 with offset: atoms from then on.")
        ] = None,
        until: Annotated[
            AwareDatetime | None, Field(description="RFC 3339 with offset: atoms up to then.")
        ] = None,
        limit: Annotated[
            int, Field(ge=1, le=reads.SEARCH_LIMIT_MAX, description="Most hits to return.")
        ] = 10,
    ) -> CallToolResult:
        """Full-text search over the org's live memory (notes, decisions, risks, preferences), best
        first by text match and relevance; each hit names its entity for `memory_card`."""
        if since is not None and until is not None and since > until:
            raise ToolError("`since` is after `until`")
        org = await org_of(ctx, org_id)
        return await run(
            org,
            lambda con: reads.search(
                con,
                org,
                query,
                entity_type=entity_type,
                entity_id=entity_id,
                client_id=client_id,
                atom_type=atom_type,
                since=since,
                until=until,
                limit=limit,
            ),
        )

    @server.tool(annotations=READ_ONLY)
    async def today_panel(
        ctx: Context,
        org_id: OrgArg = None,
        owner: Annotated[
            str | None, Field(min_length=1, max_length=320, description="Only this owner's items.")
        ] = None,
        tier: Annotated[Tier | None, Field(description="Only this priority tier.")] = None,
        limit: Annotated[
            int, Field(ge=1, le=reads.TODAY_LIMIT_MAX, description="Most items to return.")
        ] = 20,
    ) -> CallToolResult:
        """What to work on today: open candidates and pursuits ranked by priority, each with its score's
        parts and `why` (the reasons for its rank: SLA breach, due date, value, stage, workload)."""
        org = await org_of(ctx, org_id)
        return await run(org, lambda con: reads.today(con, org, owner=owner, tier=tier, limit=limit))

    @server.tool(annotations=READ_ONLY)
    async def sla_status(
        item_type: Annotated[ItemType, Field(description="The kind of item.")],
        item_id: Id,
        ctx: Context,
        org_id: OrgArg = None,
    ) -> CallToolResult:
        """An item's SLA clocks (triage, proposal, response: status, deadline, stop) and its timeline of
        state changes, oldest first, each with the `event_id` that made it."""
        org = await org_of(ctx, org_id)
        return await run(org, lambda con: reads.sla(con, org, item_type, item_id))

    @server.tool(annotations=READ_ONLY)
    async def pipeline_health(
        ctx: Context,
        org_id: OrgArg = None,
        since: Annotated[
            AwareDatetime | None, Field(description="Period start (RFC 3339); default 90 days ago.")
        ] = None,
        until: Annotated[
            AwareDatetime | None, Field(description="Period end, exclusive; default now.")
        ] = None,
    ) -> CallToolResult:
        """Open pipeline per stage (pursuits, value, aging, slipped) and the pursuits won and lost in the
        period, by reason code, with the win rate."""
        end = (until or clock.now()).astimezone(UTC)
        start = (since or end - timedelta(days=90)).astimezone(UTC)
        if start > end:
            raise ToolError("`since` is after `until`")
        org = await org_of(ctx, org_id)
        return await run(org, lambda con: reads.pipeline(con, org, start, end))

    @server.tool(annotations=READ_ONLY)
    async def client_contacts(client_id: Id, ctx: Context, org_id: OrgArg = None) -> CallToolResult:
        """The contacts of a client (name, email, phone, last seen; newest first), once the snapshot
        publishes contacts (the identity marts); until then a tool error says so."""
        org = await org_of(ctx, org_id)
        return await run(org, lambda con: reads.contacts(con, org, client_id))

    @server.resource(
        "workstream://{org_id}/cards/{entity_type}/{entity_id}",
        name="memory card",
        description="An entity's memory card as JSON (the `memory_card` tool's structured content).",
        mime_type="application/json",
    )
    async def card_resource(org_id: str, entity_type: str, entity_id: str, ctx: Context) -> str:
        try:
            org = await org_of(ctx, org_id)
            if entity_type not in ("signal", "candidate", "pursuit", "client"):
                raise ToolError(f"no cards of type {entity_type!r}")
            result = await anyio.to_thread.run_sync(
                snap.read, org, lambda con: reads.card(con, org, entity_type, entity_id)
            )
        except ToolError as exc:
            raise ResourceError(str(exc)) from None
        snap.remember(result.data["uri"], (org, entity_type, entity_id), result.data["etag"])
        return orjson.dumps(result.data).decode()

    return server


async def _watch(snap: Snapshot, bus: InMemorySubscriptionBus, interval_s: float) -> None:
    """Publish change events when a new snapshot file is swapped in (its identity changes)."""
    seen = reader.snapshot_identity(snap.path)
    while True:
        await anyio.sleep(interval_s)
        identity = reader.snapshot_identity(snap.path)
        if identity == seen or identity is None:
            continue
        seen = identity
        try:
            changed = await anyio.to_thread.run_sync(snap.changed_uris)
        except (SnapshotMissing, SnapshotUnavailable, SnapshotIncompatible, duckdb.Error) as exc:
            log.warning("new snapshot not readable yet: %s", exc)
            seen = None  # try again on the next tick
            continue
        await bus.publish(ResourcesListChanged())
        for uri in changed:
            await bus.publish(ResourceUpdated(uri=uri))
