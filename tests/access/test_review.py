"""A security review's probes of tokens and the control store: timing, connections, file modes, demotion."""

from __future__ import annotations

import sqlite3
import stat
from datetime import timedelta

import pytest

from dagster_project.access import add_user, auth, authenticate_token, remove
from dagster_project.access.store import connect, hasher


@pytest.fixture(autouse=True)
def _no_cached_verifications():
    auth._cache.clear()
    yield
    auth._cache.clear()


class CountingHasher:
    """The real hasher, counting how many argon2 verifications a call costs."""

    def __init__(self) -> None:
        self.inner = hasher()
        self.verifies = 0

    def verify(self, hash_: str, password: str) -> bool:
        self.verifies += 1
        return self.inner.verify(hash_, password)

    def hash(self, password: str) -> str:
        return self.inner.hash(password)


def test_an_unknown_token_id_costs_one_argon2_verify_as_a_wrong_secret_does(home, t0, monkeypatch) -> None:
    _, token_id, _ = add_user(home, "ann@example.com", "viewer", ["org-001"], now=t0)
    counting = CountingHasher()
    monkeypatch.setattr(auth, "hasher", lambda: counting)
    assert authenticate_token(home, f"ws_{token_id}_{'A' * 43}", now=t0) is None
    wrong_secret = counting.verifies
    assert authenticate_token(home, f"ws_{'0' * 12}_{'A' * 43}", now=t0) is None
    assert wrong_secret == 1
    assert counting.verifies - wrong_secret == wrong_secret


def _trace_connections(monkeypatch) -> list[list[str]]:
    """Every connection opened from now on, as the list of statements it ran."""
    opened: list[list[str]] = []
    real = sqlite3.connect

    def connect(*args, **kwargs):
        con = real(*args, **kwargs)
        opened.append([])
        con.set_trace_callback(opened[-1].append)
        return con

    monkeypatch.setattr(sqlite3, "connect", connect)
    return opened


def test_authenticating_a_token_opens_the_control_store_once_and_creates_no_table(
    home, t0, monkeypatch
) -> None:
    _, _, token = add_user(home, "ann@example.com", "viewer", ["org-001"], now=t0)
    assert authenticate_token(home, token, now=t0) is not None
    opened = _trace_connections(monkeypatch)
    assert authenticate_token(home, token, now=t0 + timedelta(seconds=1)) is not None
    assert len(opened) == 1
    assert not [s for s in opened[0] if "create " in s.lower() or "journal_mode" in s.lower()]


def test_a_control_store_replaced_on_disk_gets_its_tables_again(home, t0) -> None:
    add_user(home, "ann@example.com", "admin", now=t0)
    for part in home.glob("control.sqlite*"):
        part.unlink()
    _, _, token = add_user(home, "bob@example.com", "viewer", ["org-001"], now=t0)
    assert authenticate_token(home, token, now=t0).email == "bob@example.com"


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_control_store_and_its_wal_are_readable_by_their_owner_only(home, t0) -> None:
    _, _, token = add_user(home, "ann@example.com", "viewer", ["org-001"], now=t0)
    with connect(home) as con:  # the -wal and -shm files exist while a connection is open
        con.execute("select count(*) from users").fetchone()
        assert authenticate_token(home, token, now=t0) is not None
        modes = {p.name: _mode(p) for p in home.glob("control.sqlite*")}
    assert modes == {"control.sqlite": 0o600, "control.sqlite-wal": 0o600, "control.sqlite-shm": 0o600}
    assert _mode(home) == 0o700


def test_a_control_store_made_readable_by_others_is_tightened(tmp_path, t0) -> None:
    home = tmp_path / "older-home"
    home.mkdir()
    add_user(home, "ann@example.com", "admin", now=t0)
    (home / "control.sqlite").chmod(0o644)  # as a store made before the rule, tables and all
    add_user(home, "bob@example.com", "admin", now=t0)
    assert _mode(home / "control.sqlite") == 0o600


def test_an_admin_removed_mid_session_reads_nothing_on_the_next_request(home, t0) -> None:
    _, _, token = add_user(home, "root@example.com", "admin", now=t0)
    assert authenticate_token(home, token, now=t0).can_read("org-001")
    remove(home, "root@example.com", now=t0)
    assert authenticate_token(home, token, now=t0 + timedelta(seconds=1)) is None
    add_user(home, "root@example.com", "viewer", ["org-002"], now=t0)  # back, demoted to one org
    assert authenticate_token(home, token, now=t0 + timedelta(seconds=2)) is None  # the old token stays dead


def test_failed_logins_count_against_one_email_whatever_its_case_or_spaces(home, t0) -> None:
    from dagster_project.access import authenticate_password
    from dagster_project.access.auth import LOCK_AFTER, _wait_s

    add_user(home, "ann@example.com", "viewer", ["org-001"], password="correct horse", now=t0)
    at = t0
    spellings = ["Ann@Example.com", "ann@example.com ", " ANN@EXAMPLE.COM", "ann@example.com"]
    for failure in range(LOCK_AFTER):
        result = authenticate_password(home, spellings[failure % len(spellings)], "wrong password", now=at)
        assert result.reason != "ok"
        at += timedelta(seconds=_wait_s(failure + 1))
    assert authenticate_password(home, "ann@example.com", "correct horse", now=at).reason == "locked"


def test_no_file_of_the_control_store_holds_a_rejected_token_password_or_unknown_email(home, t0) -> None:
    from dagster_project.access import authenticate_password

    _, token_id, token = add_user(home, "ann@example.com", "viewer", ["org-001"], now=t0)
    unknown_id = f"ws_{'f' * 12}_{'Q' * 43}"
    wrong_secret = f"ws_{token_id}_{'Z' * 43}"
    with connect(home) as con:  # held open so the WAL is still there to read
        con.execute("select 1").fetchone()
        for attempt in (unknown_id, wrong_secret, token + " ", "Bearer " + token):
            assert authenticate_token(home, attempt, now=t0) is None
        authenticate_password(home, "eve.unknown@example.com", "hunter2-password", now=t0)
        raw = b"".join(p.read_bytes() for p in home.glob("control.sqlite*"))
    assert token_id.encode() in raw  # the search sees what is stored
    for secret in ("Q" * 43, "Z" * 43, token.split("_", 2)[2], "eve.unknown", "hunter2-password"):
        assert secret.encode() not in raw, secret


def test_a_control_store_copied_over_in_place_gets_its_tables_again(home, t0, tmp_path) -> None:
    import shutil

    add_user(home, "ann@example.com", "admin", now=t0)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("create table ingested_files (content_hash text)").connection.close()
    for part in home.glob("control.sqlite-*"):
        part.unlink()
    inode = (home / "control.sqlite").stat().st_ino
    shutil.copyfile(other, home / "control.sqlite")  # as `cp backup control.sqlite` does: same inode
    assert (home / "control.sqlite").stat().st_ino == inode
    _, _, token = add_user(home, "bob@example.com", "viewer", ["org-001"], now=t0)
    assert authenticate_token(home, token, now=t0).email == "bob@example.com"
