"""Score and relevance of memory atoms as of a time, with their components (contract "Memory defaults").

score = min(memory.score.<type> × trust_weight, 100) — trust_weight defaults to 1 and 0 means 0;
relevance = score × 0.5^(age_days / memory.half_life_days.<type>), where age_days = (T − occurred_at)
in days (never negative); types listed in `memory.pinned_types` do not decay (factor 1). Every value
comes from the config registry in force at T, so the same events and T always give the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from dagster_project.config.registry import ConfigRegistry

SCORE_CAP = 100.0
SECONDS_PER_DAY = 86_400.0
COMPONENT_COLUMNS = (
    "score",
    "relevance",
    "base_score",
    "trust_weight",
    "age_days",
    "half_life_days",
    "decay",
    "pinned",
)


def _trust(value: Any) -> float:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return 1.0
    return float(value)


def relevance(
    atom_type: str,
    occurred_at: datetime,
    as_of: datetime,
    registry: ConfigRegistry,
    org_id: str,
    trust_weight: float | None = 1.0,
) -> dict[str, Any]:
    """`score`, `relevance` and their components for one atom as of `as_of`."""
    if occurred_at.tzinfo is None or as_of.tzinfo is None:
        raise ValueError("occurred_at and as_of must be timezone-aware")
    base = float(registry.value(org_id, f"memory.score.{atom_type}", as_of))
    half_life = float(registry.value(org_id, f"memory.half_life_days.{atom_type}", as_of))
    pinned = atom_type in registry.value(org_id, "memory.pinned_types", as_of)
    trust = _trust(trust_weight)
    score = min(base * trust, SCORE_CAP)
    age_days = (
        max((as_of.astimezone(UTC) - occurred_at.astimezone(UTC)).total_seconds(), 0.0) / SECONDS_PER_DAY
    )
    decay = 1.0 if pinned else 0.5 ** (age_days / half_life)
    return {
        "score": score,
        "relevance": score * decay,
        "base_score": base,
        "trust_weight": trust,
        "age_days": age_days,
        "half_life_days": half_life,
        "decay": decay,
        "pinned": pinned,
    }


def score_atoms(
    atoms: Iterable[Mapping[str, Any]], registry: ConfigRegistry, as_of: datetime
) -> list[dict[str, Any]]:
    """Each atom with its score, relevance and components added (the `memory_atoms` row shape)."""
    rows = []
    for atom in atoms:
        parts = relevance(
            atom["atom_type"],
            atom["occurred_at"],
            as_of,
            registry,
            atom["org_id"],
            atom.get("trust_weight", 1.0),
        )
        rows.append({**atom, **parts})
    return rows
