"""A fresh home and a pinned clock for each access test."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def t0() -> datetime:
    return T0
