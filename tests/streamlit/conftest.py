"""Dashboard test fixtures: a temporary Workstream home (with or without a snapshot), clean caches and
signed-in apps.

Every test gets its own inbox (`$WORKSTREAM_INBOX`), so the Memory page's requests never land in
the real one. `st.cache_data` is process-global and AppTest runs the app in this process, so caches are cleared
around every test; otherwise one test's snapshot could answer another's queries.

The app shows nothing before sign-in: `signed_in_app()` is the app as a user who signed in (a user created
in the home's access store, a session started for them and its id put where the sign-in form puts it).
By default that user is a governor of both fixture orgs, so the page tests see what they saw before
sign-in existed; tests of access itself pass their own role and orgs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import streamlit as st
from snapshot_fixture import ORG_A, ORG_B, build_snapshot
from streamlit.testing.v1 import AppTest

from dagster_project import access
from dagster_project.access.store import ENV_CHEAP_HASHES
from dagster_project.settings import default_clock
from streamlit_app.lib import auth, settings

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_PATH = REPO_ROOT / "streamlit_app" / "app.py"


@pytest.fixture(autouse=True)
def _clear_streamlit_caches() -> Iterator[None]:
    st.cache_data.clear()
    yield
    st.cache_data.clear()


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 at its cheapest profile, so creating users and signing in stays fast in tests."""
    monkeypatch.setenv(ENV_CHEAP_HASHES, "1")


FIXTURE_USER = "governor@fixture.test"


def add_user(
    email: str, role: str, orgs: tuple[str, ...] = (), *, password: str | None = None
) -> access.Principal:
    """A user in the access store of the home the app reads (`$WORKSTREAM_HOME`)."""
    principal, _, _ = access.add_user(
        settings.workstream_home(), email, role, orgs, password=password, now=default_clock().now()
    )
    return principal


def sign_in(at: AppTest, principal: access.Principal) -> AppTest:
    """Give the app a live session of `principal`, as a successful sign-in does."""
    at.session_state[auth.SESSION_KEY] = access.start_session(
        settings.workstream_home(), principal, now=default_clock().now()
    )
    return at


def signed_in_app(
    email: str = FIXTURE_USER, role: str = "governor", orgs: tuple[str, ...] = (ORG_A, ORG_B)
) -> AppTest:
    """The app (not yet run) as `email`, created with `role` on `orgs` (no orgs for an admin)."""
    at = AppTest.from_file(str(APP_PATH), default_timeout=30)
    return sign_in(at, add_user(email, role, () if role == "admin" else orgs))


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


@contextlib.contextmanager
def module_home(
    factory: pytest.TempPathFactory, name: str, prepare: Callable[[Path], object] | None = None
) -> Iterator[Path]:
    """A test module's own home (the function-scoped fixtures are the tests') with the two-org fixture
    snapshot, which `prepare` may change, and the environment pointing at it while the module runs."""
    home = factory.mktemp(name) / "home"
    home.mkdir()
    snapshot = build_snapshot(home / "serving.duckdb")
    if prepare is not None:
        prepare(snapshot)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WORKSTREAM_HOME", str(home))
        env.setenv("WORKSTREAM_INBOX", str(home.parent / "inbox"))
        env.setenv(ENV_CHEAP_HASHES, "1")
        yield home
