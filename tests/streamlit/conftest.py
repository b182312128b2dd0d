"""Dashboard test fixtures: a temporary Workstream home (with or without a snapshot) and clean caches.

Every test gets its own inbox (`$WORKSTREAM_INBOX`), so the Memory page's requests never land in
the real one. `st.cache_data` is process-global and AppTest runs the app in this process, so caches are cleared
around every test; otherwise one test's snapshot could answer another's queries.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from snapshot_fixture import build_snapshot

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_PATH = REPO_ROOT / "streamlit_app" / "app.py"


@pytest.fixture(autouse=True)
def _clear_streamlit_caches() -> Iterator[None]:
    st.cache_data.clear()
    yield
    st.cache_data.clear()


@pytest.fixture(autouse=True)
def inbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The inbox the app writes governance requests to: a temporary folder, so no test touches data/inbox."""
    path = tmp_path / "inbox"
    monkeypatch.setenv("WORKSTREAM_INBOX", str(path))
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Workstream home that the app is pointed at (no snapshot published yet)."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("WORKSTREAM_HOME", str(path))
    return path


@pytest.fixture
def snapshot_home(home: Path) -> Path:
    """A Workstream home holding the two-org fixture snapshot."""
    build_snapshot(home / "serving.duckdb")
    return home
