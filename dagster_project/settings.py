"""Where things live and what time it is: paths from the environment, and the one injectable UTC clock."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"

ENV_HOME = "WORKSTREAM_HOME"
ENV_INBOX = "WORKSTREAM_INBOX"
# Freezes the clock for a whole process (tests, reproducible demos): an RFC 3339 timestamp with offset.
ENV_NOW = "WORKSTREAM_NOW"

DEFAULT_HOME = PROJECT_ROOT / "data" / "home"
DEFAULT_INBOX = PROJECT_ROOT / "data" / "inbox"


class Clock(Protocol):
    """Anything that tells the current UTC time; everything time-based takes one."""

    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class FixedClock:
    at: datetime

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")

    def now(self) -> datetime:
        return self.at.astimezone(UTC)


def parse_timestamp(text: str) -> datetime:
    """Parse an RFC 3339 timestamp that carries an offset; naive timestamps are refused."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return value.astimezone(UTC)


def default_clock() -> Clock:
    frozen = os.environ.get(ENV_NOW)
    return FixedClock(parse_timestamp(frozen)) if frozen else SystemClock()


# How far an as-of may stray from the clock and still count as "now": the same slack the contract gives
# an event's `occurred_at` over the ingest clock, so a clock skew between machines changes nothing.
AS_OF_TOLERANCE = timedelta(minutes=5)


class AsOfInFutureError(ValueError):
    """An as-of later than the clock: nothing is known yet about that time."""


def refuse_future_as_of(as_of: datetime, now: datetime) -> None:
    """Raise `AsOfInFutureError` when `as_of` is later than `now` by more than the tolerance."""
    if as_of - now > AS_OF_TOLERANCE:
        raise AsOfInFutureError(
            f"--as-of {as_of.isoformat()} is later than the clock ({now.isoformat()}) by more than "
            f"{int(AS_OF_TOLERANCE.total_seconds() // 60)} minutes: a run cannot know the future"
        )


def as_of_is_past(as_of: datetime, now: datetime) -> bool:
    """True when `as_of` is earlier than `now` by more than the tolerance: a view of the past, not of now."""
    return now - as_of > AS_OF_TOLERANCE


@dataclass(frozen=True)
class HomePaths:
    """The three stores under one home folder (see docs/data-layout.md)."""

    home: Path

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def control(self) -> Path:
        return self.home / "control.sqlite"

    @property
    def serving(self) -> Path:
        return self.home / "serving.duckdb"

    @property
    def snapshots(self) -> Path:
        return self.home / "snapshots"

    @property
    def writer_lock(self) -> Path:
        return self.home / ".writer.lock"

    @property
    def redaction_marker(self) -> Path:
        """Present while a scrubbed redaction still needs the warehouse file rewritten (by publish)."""
        return self.home / ".redaction-rewrite"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def dbt_target(self) -> Path:
        """dbt's target folder for this home: its log, and the `partial_parse.msgpack` every run after the
        first reuses (a new home's starts as a copy of the latest home's: see defs/resources.py)."""
        return self.home / "dbt-target"

    def ensure(self) -> HomePaths:
        self.home.mkdir(parents=True, exist_ok=True)
        self.snapshots.mkdir(exist_ok=True)
        return self


def home_from_env() -> Path:
    return Path(os.environ.get(ENV_HOME, DEFAULT_HOME)).resolve()


def inbox_from_env() -> Path:
    return Path(os.environ.get(ENV_INBOX, DEFAULT_INBOX)).resolve()
