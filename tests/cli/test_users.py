"""`workstream users`: the token is stdout's last line and nothing else is there; bad input exits 2."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dagster_project.access import authenticate_password, authenticate_token, list_users
from dagster_project.cli import app
from dagster_project.settings import ENV_NOW, parse_timestamp

runner = CliRunner()
NOW = "2026-11-28T12:00:00Z"
TOKEN = re.compile(r"ws_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


@pytest.fixture(autouse=True)
def _pinned_clock(monkeypatch):
    monkeypatch.setenv(ENV_NOW, NOW)


def _users(home: Path, *args: str, stdin: str | None = None):
    return runner.invoke(app, ["users", args[0], "--home", str(home), *args[1:]], input=stdin)


def test_users_add_prints_the_token_as_the_last_line_of_stdout_and_messages_to_stderr(tmp_path: Path) -> None:
    # A real process: what a script piping stdout gets, with a terminal width that would wrap rich output.
    env = {**os.environ, "COLUMNS": "20", ENV_NOW: NOW}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagster_project.cli",
            "users",
            "add",
            "--home",
            str(tmp_path / "h"),
            "--email",
            "ann@example.com",
            "--role",
            "viewer",
            "--org",
            "acme-corp",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("\n") and TOKEN.fullmatch(done.stdout.splitlines()[-1])
    assert done.stdout.splitlines() == [done.stdout.splitlines()[-1]]  # nothing else on stdout
    assert "ann@example.com" in done.stderr and "ws_" not in done.stderr
    token = done.stdout.splitlines()[-1]
    principal = authenticate_token(tmp_path / "h", token, now=parse_timestamp(NOW))
    assert principal.email == "ann@example.com" and dict(principal.grants) == {"acme-corp": "viewer"}


def test_users_token_prints_a_new_working_token_the_same_way(tmp_path: Path) -> None:
    first = _users(tmp_path, "add", "--email", "root@example.com", "--role", "admin")
    assert first.exit_code == 0, first.output
    second = _users(tmp_path, "token", "--email", "ROOT@example.com", "--expires-in", "7")
    assert second.exit_code == 0, second.output
    lines = second.stdout.splitlines()
    assert len(lines) == 1 and TOKEN.fullmatch(lines[-1]) and lines[-1] != first.stdout.splitlines()[-1]
    assert "expires in 7 days" in second.stderr
    assert authenticate_token(tmp_path, lines[-1], now=parse_timestamp(NOW)).is_admin


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "admin", "--org", "acme-corp"], "admin is a global role"),
        (["--role", "viewer"], "give one or more --org"),
        (["--role", "governor"], "give one or more --org"),
        (["--role", "owner", "--org", "acme-corp"], "unknown role"),
        (["--role", "viewer", "--org", "../../etc"], "org id"),
        (["--role", "viewer", "--org", "acme-corp", "--expires-in", "0"], "expires-in"),
    ],
)
def test_users_add_refuses_bad_roles_with_exit_2_and_no_token(tmp_path: Path, args, message) -> None:
    result = _users(tmp_path, "add", "--email", "ann@example.com", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.stdout == ""
    assert isinstance(result.exception, SystemExit)


def test_password_stdin_reads_one_line_and_the_password_logs_in(tmp_path: Path) -> None:
    result = _users(
        tmp_path,
        "add",
        "--email",
        "ann@example.com",
        "--role",
        "governor",
        "--org",
        "acme-corp",
        "--password-stdin",
        stdin="a-long-password\nsecond line\n",
    )
    assert result.exit_code == 0, result.output
    now = parse_timestamp(NOW)
    assert authenticate_password(tmp_path, "ann@example.com", "a-long-password", now=now).reason == "ok"
    assert "a-long-password" not in result.output


def test_an_empty_password_on_stdin_is_refused(tmp_path: Path) -> None:
    result = _users(
        tmp_path, "add", "--email", "a@example.com", "--role", "admin", "--password-stdin", stdin="\n"
    )
    assert result.exit_code == 2 and "no password on stdin" in result.stderr
    assert not (tmp_path / "control.sqlite").exists()


def test_users_list_shows_users_and_token_ids_and_revoke_revokes(tmp_path: Path) -> None:
    added = _users(tmp_path, "add", "--email", "ann@example.com", "--role", "viewer", "--org", "acme-corp")
    token = added.stdout.splitlines()[-1]
    (user,) = list_users(tmp_path)
    token_id = user["tokens"][0]["token_id"]
    listed = _users(tmp_path, "list")
    assert listed.exit_code == 0 and "ann@example.com" in listed.stdout and token_id in listed.stdout
    assert token not in listed.stdout and "active" in listed.stdout
    revoked = _users(tmp_path, "revoke", "--email", "ann@example.com", "--token-id", token_id)
    assert revoked.exit_code == 0 and "revoked 1 token" in revoked.stderr
    assert authenticate_token(tmp_path, token, now=parse_timestamp(NOW)) is None
    assert "revoked" in _users(tmp_path, "list").stdout


def test_revoke_and_token_for_an_unknown_user_exit_2(tmp_path: Path) -> None:
    _users(tmp_path, "add", "--email", "ann@example.com", "--role", "admin")
    for args in (["revoke", "--email", "bob@example.com"], ["token", "--email", "bob@example.com"]):
        result = _users(tmp_path, *args)
        assert result.exit_code == 2 and "no user bob@example.com" in result.stderr
    bad_id = _users(tmp_path, "revoke", "--email", "ann@example.com", "--token-id", "'; drop table tokens")
    assert bad_id.exit_code == 2 and "12 lowercase hex" in bad_id.stderr


def test_reading_commands_on_a_home_without_users_create_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    for command in ("list", "audit"):
        result = _users(missing, command)
        assert result.exit_code == 2 and "no home" in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _users(empty, "list")
    assert result.exit_code == 2 and "no users" in result.stderr
    assert list(empty.iterdir()) == [] and not missing.exists()


def test_users_audit_lists_the_grants_as_json_lines_without_secrets(tmp_path: Path) -> None:
    added = _users(tmp_path, "add", "--email", "ann@example.com", "--role", "viewer", "--org", "acme-corp")
    token = added.stdout.splitlines()[-1]
    result = _users(tmp_path, "audit")
    assert result.exit_code == 0
    actions = [line.split('"action": "')[1].split('"')[0] for line in result.stdout.splitlines()]
    assert actions == ["token.issued", "grant.added", "user.added"]
    assert token not in result.stdout and token.split("_", 2)[2] not in result.stdout


def test_users_remove_takes_a_grant_then_all_access_away(tmp_path: Path) -> None:
    added = _users(tmp_path, "add", "--email", "ann@example.com", "--role", "viewer", "--org", "acme-corp",
                   "--org", "globex")  # fmt: skip
    token = added.stdout.splitlines()[-1]
    one = _users(tmp_path, "remove", "--email", "ann@example.com", "--org", "acme-corp")
    assert one.exit_code == 0 and "removed: grant acme-corp" in one.stderr
    assert "globex:viewer" in _users(tmp_path, "list").stdout
    everything = _users(tmp_path, "remove", "--email", "ann@example.com")
    assert everything.exit_code == 0 and "grant globex" in everything.stderr
    assert authenticate_token(tmp_path, token, now=parse_timestamp(NOW)) is None
    assert "no access" in _users(tmp_path, "list").stdout
    missing = _users(tmp_path, "remove", "--email", "ann@example.com", "--org", "initech")
    assert missing.exit_code == 2 and "no grant for initech" in missing.stderr


def test_an_email_with_markup_brackets_is_quoted_as_text(tmp_path: Path) -> None:
    _users(tmp_path, "add", "--email", "ann@example.com", "--role", "admin")
    result = _users(tmp_path, "token", "--email", "a[/red]b@example.com")
    assert result.exit_code == 2, result.output
    assert "no user a[/red]b@example.com" in result.stderr


def test_a_password_on_stdin_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dagster_project.cli", "users", "add", "--home", str(tmp_path),
         "--email", "ann@example.com", "--role", "admin", "--password-stdin"],
        input=b"\xff\xfepassword123\n", capture_output=True, env={**os.environ, ENV_NOW: NOW},
        check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and b"UTF-8" in done.stderr and b"Traceback" not in done.stderr
    assert done.stdout == b""


def test_users_list_says_which_tokens_expired_on_the_clock_and_json_holds_no_secret(
    tmp_path, monkeypatch
) -> None:
    import json

    added = _users(tmp_path, "add", "--email", "ann@example.com", "--role", "admin", "--expires-in", "1",
                   "--password-stdin", stdin="a-long-password\n")  # fmt: skip
    assert "active, expires 2026-11-29T12:00:00" in _users(tmp_path, "list").stdout
    monkeypatch.setenv(ENV_NOW, "2026-11-29T12:00:00Z")
    assert "expired 2026-11-29T12:00:00" in _users(tmp_path, "list").stdout
    listed = _users(tmp_path, "list", "--json")
    (user,) = json.loads(listed.stdout)
    assert user["email"] == "ann@example.com" and user["is_admin"] and user["has_password"]
    token = added.stdout.splitlines()[-1]
    assert token.split("_", 2)[2] not in listed.stdout and "argon2" not in listed.stdout
    assert "a-long-password" not in listed.stdout
