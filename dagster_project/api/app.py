"""The read-only HTTP API over the published snapshot: memory cards, memory search and the Today panel.

Every data route names its org in the path, needs a bearer token (`api.auth`: built-in tokens, or OIDC
access tokens when configured) and reads through a cursor that sees that org's rows only; an org the
caller may not read answers exactly like one that does not exist. `/health`, `/openapi.json` and `/docs`
(Swagger UI from the installed `fastapi-offline` package, no CDN) are public. Snapshots are read
through `api.store` (one open version of the file per process, built on `serving.reader`); the response
models live in `api.models`.

Cards carry a strong ETag (the mart's `etag`, already quoted). `If-None-Match` is answered with a 304
from the etags of the current, immutable file held in memory (all of them, loaded in the background
when the file is opened, plus each one served), so a revalidation costs one stat; until that load is
done, by fetching only the etag. A 200 passes the mart's JSON columns into the body without parsing
them.
"""

from __future__ import annotations

import re
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import FastAPI, Header, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import AwareDatetime

from dagster_project.api.auth import Authenticator, Org
from dagster_project.api.docs import mount_docs
from dagster_project.api.models import (
    AUTH_ERRORS,
    NOT_FOUND,
    NOT_MODIFIED,
    SNAPSHOT_ERRORS,
    AtomType,
    Card,
    EntityType,
    Health,
    SearchResults,
    Tier,
    TodayPanel,
)
from dagster_project.api.oidc import OidcSettings, OidcValidator
from dagster_project.api.store import SnapshotStore, SnapshotVersion
from dagster_project.memory.search import search as search_atoms
from dagster_project.serving.queries import CARD_JSON_COLUMNS, CARD_SQL, ETAG_SQL, TODAY_COLUMNS
from dagster_project.serving.reader import SnapshotIncompatible, SnapshotMissing, SnapshotUnavailable
from dagster_project.settings import Clock, HomePaths, default_clock, home_from_env

EntityId = Annotated[str, PathParam(min_length=1, max_length=128)]

SEARCH_LIMIT_MAX = 100
TODAY_LIMIT_MAX = 200
CACHE_HEADERS = {"Cache-Control": "no-cache"}
_OPAQUE_TAG = re.compile(r'"[^"]*"')


# --- helpers -------------------------------------------------------------------------------------------


def etag_matches(if_none_match: list[str], etag: str) -> bool:
    """RFC 9110 §13.1.2: `*` matches any current card; otherwise weak comparison (`W/` ignored)."""
    target = etag.removeprefix("W/")
    for value in if_none_match:
        if value.strip() == "*":
            return True
        if target in _OPAQUE_TAG.findall(value):
            return True
    return False


def _utc(value: Any) -> Any:
    return value.astimezone(UTC) if isinstance(value, datetime) and value.tzinfo is not None else value


def _default(value: Any) -> Any:
    """What orjson does not know: DECIMAL columns as numbers, anything else (UUID, intervals) as text."""
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


def _json(payload: Any, version: SnapshotVersion, **headers: str) -> Response:
    body = orjson.dumps(payload, default=_default, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS)
    hdrs = {**headers}
    if version.snapshot_version:
        hdrs["X-Snapshot-Version"] = version.snapshot_version
    return Response(content=body, media_type="application/json", headers=hdrs)


def _problem(status: int, detail: str, **headers: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers or None)


# --- the app -------------------------------------------------------------------------------------------


def create_app(
    home: Path | None = None,
    snapshot: Path | None = None,
    *,
    oidc: OidcSettings | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """The API over `<home>/serving.duckdb` (default home: WORKSTREAM_HOME), or over `snapshot`: a past
    snapshot `workstream snapshot --as-of` wrote (its `built_at` in /health says which time). Callers
    authenticate with the home's tokens, and with OIDC access tokens when `oidc` is given."""
    paths = HomePaths((home or home_from_env()).resolve())
    store = SnapshotStore(snapshot.resolve() if snapshot is not None else paths.serving)
    authenticator = Authenticator(
        paths.home, clock or default_clock(), OidcValidator(paths.home, oidc) if oidc is not None else None
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        store.close()

    app = FastAPI(
        title="Workstream read API",
        version="1.0",
        summary="Read-only: memory cards, memory search and the Today panel from the published snapshot.",
        description=(
            "Every route names the org in its path and reads that org's rows only. Every route but "
            "`/health` needs `Authorization: Bearer <token>` (401 without a valid one); an org the token "
            "has no grant for answers 404, exactly like an org that does not exist. "
            "Data comes from the latest published snapshot; the `X-Snapshot-Version` header names it."
        ),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.store = store
    app.state.authenticator = authenticator
    mount_docs(app)

    @app.exception_handler(SnapshotMissing)
    async def _missing(_request: Request, exc: SnapshotMissing) -> JSONResponse:
        return _problem(503, str(exc), **{"Retry-After": "30"})

    @app.exception_handler(SnapshotUnavailable)
    async def _unavailable(_request: Request, exc: SnapshotUnavailable) -> JSONResponse:
        return _problem(503, str(exc), **{"Retry-After": "1"})

    @app.exception_handler(SnapshotIncompatible)
    async def _incompatible(_request: Request, exc: SnapshotIncompatible) -> JSONResponse:
        return _problem(503, str(exc))

    @app.get(
        "/health",
        response_model=Health,
        tags=["meta"],
        responses=SNAPSHOT_ERRORS,
        summary="The snapshot being served",
    )
    def health() -> Response:
        with store.cursor() as (_cur, version):
            info = version.info
        if not info or not info.get("snapshot_version"):
            raise SnapshotIncompatible("the snapshot has no marts.snapshot_info row")
        payload = {
            "status": "ok",
            "snapshot_version": info["snapshot_version"],
            "built_at": _utc(info.get("built_at")),
            "published_at": _utc(info.get("published_at")),
        }
        return _json(payload, version, **{"Cache-Control": "no-store"})

    def _not_modified(etag: str, version: SnapshotVersion) -> Response:
        headers = {"ETag": etag, **CACHE_HEADERS}
        if version.snapshot_version:
            headers["X-Snapshot-Version"] = version.snapshot_version
        return Response(status_code=304, headers=headers)

    def _card(key: tuple[str, str, str], if_none_match: list[str] | None) -> Response:
        with store.cursor(key[0]) as (cur, version):
            if if_none_match:
                found = cur.execute(ETAG_SQL, key).fetchone()
                if found is not None:
                    version.remember_etag(key, found[0])
                    if etag_matches(if_none_match, found[0]):
                        return _not_modified(found[0], version)
                row = None if found is None else cur.execute(CARD_SQL, key).fetchone()
            else:
                row = cur.execute(CARD_SQL, key).fetchone()
        org_id, entity_type, entity_id = key
        if row is None:
            raise HTTPException(
                404, f"no memory card for {entity_type} {entity_id!r} in org {org_id!r} in this snapshot"
            )
        payload: dict[str, Any] = {"org_id": org_id, "entity_type": entity_type, "entity_id": entity_id}
        for name, value in zip(CARD_JSON_COLUMNS, row[:5], strict=True):
            payload[name] = orjson.Fragment(value if value is not None else "[]")
        atoms_total, card_version, etag, built_at = row[5:]
        version.remember_etag(key, etag)
        payload.update(atoms_total=atoms_total, version=card_version, etag=etag, built_at=_utc(built_at))
        return _json(payload, version, ETag=etag, **CACHE_HEADERS)

    @app.get(
        "/orgs/{org_id}/cards/{entity_type}/{entity_id}",
        response_model=Card,
        tags=["memory"],
        responses={**NOT_MODIFIED, **AUTH_ERRORS, **NOT_FOUND, **SNAPSHOT_ERRORS},
        summary="One entity's memory card (ETag / If-None-Match)",
    )
    async def get_card(
        org_id: Org,
        entity_type: EntityType,
        entity_id: EntityId,
        if_none_match: Annotated[
            list[str] | None,
            Header(description="ETags the client holds (`*`, `W/` accepted): a match gives 304."),
        ] = None,
    ) -> Response:
        key = (org_id, entity_type, entity_id)
        if if_none_match:
            # Revalidation of a card this process already served from the current file: no DuckDB, no
            # thread hop. Anything else (unknown etag, new snapshot, no match) goes to the database.
            version = store.fresh_version()
            etag = version.etags.get(key) if version is not None else None
            if etag is not None and etag_matches(if_none_match, etag):
                return _not_modified(etag, version)
        return await run_in_threadpool(_card, key, if_none_match)

    @app.get(
        "/orgs/{org_id}/search",
        response_model=SearchResults,
        tags=["memory"],
        responses={**AUTH_ERRORS, **SNAPSHOT_ERRORS},
        summary="Full-text search over the org's live memory atoms",
    )
    def search(
        org_id: Org,
        q: Annotated[str, Query(min_length=1, max_length=500, description="Search terms.")],
        entity_type: EntityType | None = None,
        entity_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
        client_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
        atom_type: AtomType | None = None,
        since: Annotated[AwareDatetime | None, Query(description="RFC 3339 with offset.")] = None,
        until: Annotated[AwareDatetime | None, Query(description="RFC 3339 with offset.")] = None,
        limit: Annotated[int, Query(ge=1, le=SEARCH_LIMIT_MAX)] = 20,
    ) -> Response:
        if since is not None and until is not None and since > until:
            # The shape of every other 422 (and of the document's HTTPValidationError).
            raise RequestValidationError(
                [{"type": "value_error", "loc": ("query", "since"), "msg": "`since` is after `until`"}]
            )
        with store.cursor(org_id) as (cur, version):
            if version.fts_error:
                raise SnapshotUnavailable(version.fts_error)
            hits = search_atoms(
                cur,
                org_id,
                q,
                entity_type=entity_type,
                entity_id=entity_id,
                client_id=client_id,
                atom_type=atom_type,
                since=since,
                until=until,
                limit=limit,
            )
        payload = {
            "org_id": org_id,
            "query": q,
            "count": len(hits),
            "hits": [
                {
                    "atom_id": h.atom_id,
                    "entity": {"type": h.entity_type, "id": h.entity_id},
                    "client_id": h.client_id,
                    "type": h.atom_type,
                    "occurred_at": _utc(h.occurred_at),
                    "text_score": h.text_score,
                    "relevance": h.relevance,
                    "score": h.score,
                    "snippet": h.snippet,
                }
                for h in hits
            ],
        }
        return _json(payload, version)

    @app.get(
        "/orgs/{org_id}/today",
        response_model=TodayPanel,
        tags=["today"],
        responses={**AUTH_ERRORS, **SNAPSHOT_ERRORS},
        summary="The org's ranked Today panel (capped)",
    )
    def today(
        org_id: Org,
        limit: Annotated[int, Query(ge=1, le=TODAY_LIMIT_MAX, description="Row cap.")] = TODAY_LIMIT_MAX,
        owner: Annotated[str | None, Query(min_length=1, max_length=320)] = None,
        tier: Tier | None = None,
    ) -> Response:
        where = ["org_id = ?"]
        params: list[Any] = [org_id]
        if owner is not None:
            where.append("owner = ?")
            params.append(owner)
        if tier is not None:
            where.append("priority_tier = ?")
            params.append(tier)
        where_sql = " and ".join(where)
        with store.cursor(org_id) as (cur, version):
            total = cur.execute(f"select count(*) from marts.today_panel where {where_sql}", params)
            total = total.fetchone()[0]
            cur.execute(
                f"select {TODAY_COLUMNS} from marts.today_panel where {where_sql} "
                "order by rank, item_type, item_id limit ?",
                [*params, limit],
            )
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        items = [dict(zip(names, row, strict=True)) for row in rows]
        built_at = items[0]["built_at"] if items else _utc((version.info or {}).get("built_at"))
        payload = {
            "org_id": org_id,
            "built_at": built_at,
            "total": total,
            "count": len(items),
            "limit": limit,
            "items": items,
        }
        return _json(payload, version)

    return app
