"""Password logins slowed down then locked after failures, under a pinned clock; sessions that time out."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dagster_project.access import (
    add_user,
    auth,
    authenticate_password,
    end_session,
    read_audit,
    session_principal,
    start_session,
)

PASSWORD = "correct horse battery staple"


@pytest.fixture
def ann(home, t0):
    principal, _, _ = add_user(home, "ann@example.com", "governor", ["org-001"], password=PASSWORD, now=t0)
    return principal


def _fail(home, when, email="ann@example.com"):
    return authenticate_password(home, email, "not the password", now=when)


def test_the_right_password_logs_in_and_is_audited(home, t0, ann) -> None:
    result = authenticate_password(home, " ANN@example.com", PASSWORD, now=t0)
    assert result.reason == "ok" and result.principal.user_id == ann.user_id
    assert result.principal.via == "password"
    assert read_audit(home, limit=1)[0]["action"] == "login.ok"


def test_a_wrong_password_an_unknown_email_and_no_password_all_read_bad_credentials(home, t0, ann) -> None:
    add_user(home, "tokenonly@example.com", "viewer", ["org-001"], now=t0)
    assert _fail(home, t0).reason == "bad_credentials"
    assert _fail(home, t0, "nobody@example.com").reason == "bad_credentials"
    assert authenticate_password(home, "tokenonly@example.com", "", now=t0).reason == "bad_credentials"
    assert (
        authenticate_password(home, "tokenonly@example.com", "x" * 10_000, now=t0).reason == "bad_credentials"
    )


def test_after_a_few_failures_each_attempt_must_wait_longer(home, t0, ann) -> None:
    when = t0
    for _ in range(auth.THROTTLE_AFTER):
        result = _fail(home, when)
    wait = result.retry_after_s
    assert wait == auth.THROTTLE_BASE_S
    # Too early: refused without looking at the password, even the right one.
    early = authenticate_password(home, "ann@example.com", PASSWORD, now=when + timedelta(seconds=wait - 1))
    assert early.reason == "locked" and early.principal is None and early.retry_after_s == 1
    later = _fail(home, when + timedelta(seconds=wait))
    assert later.retry_after_s == 2 * wait


def test_many_failures_lock_the_email_for_a_while_then_it_opens_again(home, t0, ann) -> None:
    when = t0
    for _ in range(auth.LOCK_AFTER):
        result = _fail(home, when)
        when += timedelta(seconds=max(result.retry_after_s, 1))
    assert result.reason == "locked"
    locked_at = when - timedelta(seconds=result.retry_after_s)
    still = authenticate_password(
        home, "ann@example.com", PASSWORD, now=locked_at + timedelta(seconds=auth.LOCKOUT_S - 1)
    )
    assert still.reason == "locked" and still.retry_after_s == 1
    assert read_audit(home, limit=1)[0]["action"] == "login.locked"
    after = authenticate_password(
        home, "ann@example.com", PASSWORD, now=locked_at + timedelta(seconds=auth.LOCKOUT_S)
    )
    assert after.reason == "ok"


def test_a_success_forgets_the_failures(home, t0, ann) -> None:
    for _ in range(auth.THROTTLE_AFTER - 1):
        _fail(home, t0)
    assert authenticate_password(home, "ann@example.com", PASSWORD, now=t0).reason == "ok"
    assert _fail(home, t0).retry_after_s == 0


def test_an_unknown_email_is_locked_like_a_known_one(home, t0, ann) -> None:
    when = t0
    for _ in range(auth.LOCK_AFTER):
        result = _fail(home, when, "nobody@example.com")
        when += timedelta(seconds=max(result.retry_after_s, 1))
    assert result.reason == "locked"
    rows = [r for r in read_audit(home) if r["action"].startswith("login.")]
    assert all(r["target"].startswith("sha256:") and "nobody" not in repr(r) for r in rows)


def test_a_session_ends_after_idling_too_long(home, t0, ann) -> None:
    session = start_session(home, ann, now=t0)
    step = timedelta(seconds=auth.SESSION_IDLE_S)
    assert session_principal(home, session, now=t0 + step).user_id == ann.user_id
    assert session_principal(home, session, now=t0 + 2 * step) is not None  # each use restarts the idle clock
    assert session_principal(home, session, now=t0 + 3 * step + timedelta(seconds=1)) is None


def test_a_busy_session_restarts_its_idle_clock_at_most_once_a_minute(home, t0, ann) -> None:
    """Every rerun of a page reads the session; only one a minute writes it (the control store's write
    lock is the pipeline's too). The clock then lags by under a minute: a session ends early, never late."""
    import sqlite3

    from dagster_project.settings import HomePaths

    def last_seen() -> str:
        con = sqlite3.connect(HomePaths(home).control)
        try:
            return con.execute("select last_seen_at from sessions").fetchone()[0]
        finally:
            con.close()

    session = start_session(home, ann, now=t0)
    started = last_seen()
    touch = timedelta(seconds=auth.SESSION_TOUCH_S)
    assert session_principal(home, session, now=t0 + touch - timedelta(seconds=1)) is not None
    assert last_seen() == started
    assert session_principal(home, session, now=t0 + touch) is not None
    assert last_seen() != started
    # Idle for the whole idle time since that touch: ended, whatever the reads in between.
    idle = timedelta(seconds=auth.SESSION_IDLE_S)
    assert session_principal(home, session, now=t0 + touch + idle - timedelta(seconds=1)) is not None
    assert session_principal(home, session, now=t0 + touch + 2 * idle) is None


def test_a_session_ends_at_its_absolute_end_however_busy(home, t0, ann) -> None:
    session = start_session(home, ann, now=t0, ttl_s=3600)
    for minutes in range(0, 60, 10):
        assert session_principal(home, session, now=t0 + timedelta(minutes=minutes)) is not None
    assert session_principal(home, session, now=t0 + timedelta(minutes=60)) is None


def test_a_session_ended_or_unknown_has_no_principal(home, t0, ann) -> None:
    session = start_session(home, ann, now=t0)
    end_session(home, session, now=t0)
    assert session_principal(home, session, now=t0) is None
    assert session_principal(home, "made-up", now=t0) is None
    assert session_principal(home, None, now=t0) is None


def test_a_login_replaces_a_hash_made_with_other_parameters(home, t0, ann, monkeypatch) -> None:
    import sqlite3

    def stored() -> str:
        con = sqlite3.connect(home / "control.sqlite")
        try:
            return con.execute(
                "select password_hash from users where user_id = ?", (ann.user_id,)
            ).fetchone()[0]
        finally:
            con.close()

    cheap = stored()
    assert cheap.startswith("$argon2id$v=19$m=8,t=1,p=1$")  # made under the suite's cheap profile
    monkeypatch.delenv("WORKSTREAM_TEST_CHEAP_HASHES")
    assert authenticate_password(home, "ann@example.com", PASSWORD, now=t0).reason == "ok"
    assert stored() != cheap and not stored().startswith("$argon2id$v=19$m=8,")
    assert authenticate_password(home, "ann@example.com", PASSWORD, now=t0).reason == "ok"


def test_attempts_made_at_the_same_time_cannot_all_slip_through_the_wait(home, t0, ann, monkeypatch) -> None:
    """Attempts that arrive while another is being checked (simulated: each password check starts the
    next attempt) see the ones before them: only the first few get their password looked at."""
    real = auth.hasher()
    checked: list[str] = []
    attempts = auth.THROTTLE_AFTER + 5

    class Concurrent:
        def verify(self, stored, password):
            checked.append(password)
            if len(checked) < attempts:
                _fail(home, t0)  # the next attempt arrives before this check has ended
            return real.verify(stored, password)

        def __getattr__(self, name):
            return getattr(real, name)

    monkeypatch.setattr(auth, "hasher", lambda: Concurrent())
    _fail(home, t0)
    assert len(checked) == auth.THROTTLE_AFTER


def _rows(home, table: str) -> int:
    import sqlite3

    con = sqlite3.connect(home / "control.sqlite")
    try:
        return con.execute(f"select count(*) from {table}").fetchone()[0]
    finally:
        con.close()


def test_failures_that_no_longer_count_do_not_pile_up(home, t0, ann) -> None:
    for n in range(5):
        _fail(home, t0, f"guess{n}@example.com")
    assert _rows(home, "login_failures") == 5
    later = t0 + timedelta(seconds=auth.FAILURE_MEMORY_S + 1)
    _fail(home, later, "another@example.com")
    assert _rows(home, "login_failures") == 1


def test_sessions_that_can_no_longer_be_used_do_not_pile_up(home, t0, ann) -> None:
    for _ in range(3):
        start_session(home, ann, now=t0)
    start_session(home, ann, now=t0 + timedelta(seconds=auth.SESSION_IDLE_S + 1))
    assert _rows(home, "sessions") == 1
