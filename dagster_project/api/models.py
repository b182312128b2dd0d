"""The API's response models: OpenAPI documentation (handlers write the JSON bodies themselves)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

EntityType = Literal["signal", "candidate", "pursuit", "client"]
AtomType = Literal["decision", "risk", "preference", "note", "status"]
Tier = Literal["critical", "high", "medium", "low"]


class Problem(BaseModel):
    detail: str


class CardItem(BaseModel):
    atom_id: str
    atom_type: AtomType
    content: str = Field(description="The atom's content, first 300 characters.")
    occurred_at: str


class Card(BaseModel):
    org_id: str
    entity_type: EntityType
    entity_id: str
    key_facts: list[CardItem]
    recent_activity: list[CardItem]
    decisions: list[CardItem]
    risks: list[CardItem]
    top_atoms: list[CardItem]
    atoms_total: int
    version: int = Field(description="Counts the memory changes behind the card.")
    etag: str = Field(description="Strong ETag (quoted) hashing the card's content; also the ETag header.")
    built_at: datetime


class HitEntity(BaseModel):
    type: EntityType
    id: str


class SearchHit(BaseModel):
    atom_id: str
    entity: HitEntity
    client_id: str | None
    type: AtomType
    occurred_at: datetime
    text_score: float = Field(description="BM25 score of the text match.")
    relevance: float = Field(description="The atom's relevance (0–100) as of the snapshot.")
    score: float = Field(description="0.7 × bm25 / best bm25 + 0.3 × relevance / 100.")
    snippet: str = Field(description="A window of the content around the match, terms in **bold**.")


class SearchResults(BaseModel):
    org_id: str
    query: str
    count: int
    hits: list[SearchHit]


class TodayItem(BaseModel):
    item_type: Literal["candidate", "pursuit"]
    item_id: str
    label: str | None
    state: str
    owner: str | None
    owner_name: str | None = Field(
        default=None, description="The owner's name from `user.updated` events; null when none names them."
    )
    due_date: date | None
    last_touch_at: datetime | None
    hours_since_touch: float | None
    tags: list[str] | None
    value_band: str | None
    forecast_value_usd: float | None
    sla_metric: str | None
    badge: str | None
    urgency_points: float
    value_points: float
    stage_points: float
    compliance_points: float
    workload_points: float
    priority_score: float
    priority_tier: Tier
    rank: int
    why: str | None
    built_at: datetime


class TodayPanel(BaseModel):
    org_id: str
    built_at: datetime | None = Field(description="The as-of time of the build.")
    total: int = Field(description="Rows matching the filters before the cap.")
    count: int
    limit: int
    items: list[TodayItem]


class Health(BaseModel):
    status: Literal["ok"]
    snapshot_version: str
    built_at: datetime
    published_at: datetime


SNAPSHOT_ERRORS = {503: {"model": Problem, "description": "No snapshot yet, or it cannot be read."}}
AUTH_ERRORS = {
    401: {
        "model": Problem,
        "description": "No bearer token, or one that is unknown, expired, revoked or forged.",
    },
    404: {"model": Problem, "description": "No such org, or none the token may read (the same answer)."},
}
NOT_FOUND = {
    404: {
        "model": Problem,
        "description": "No such card in this org; or no such org, or none the token may read.",
    }
}
NOT_MODIFIED = {304: {"description": "The card still matches `If-None-Match`; no body."}}
