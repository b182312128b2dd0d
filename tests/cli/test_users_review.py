"""`workstream users` on a home other OS users can enter: a warning on stderr, the token still last."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from dagster_project.settings import ENV_NOW

NOW = "2026-11-28T12:00:00Z"
TOKEN = re.compile(r"ws_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


def _users(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "20", ENV_NOW: NOW, "PYTHONWARNINGS": "always"}
    return subprocess.run(
        [sys.executable, "-m", "dagster_project.cli", "users", *args],
        capture_output=True, text=True, env=env, check=False, timeout=120,
    )  # fmt: skip


def test_a_home_open_to_others_is_warned_about_and_the_token_stays_stdouts_only_line(tmp_path: Path) -> None:
    home = tmp_path / "shared"
    home.mkdir()
    home.chmod(0o755)
    for args in (
        ("add", "--home", str(home), "--email", "ann@example.com", "--role", "viewer", "--org", "acme"),
        ("token", "--home", str(home), "--email", "ann@example.com"),
    ):
        done = _users(*args)
        assert done.returncode == 0, done.stderr
        assert "chmod 700" in done.stderr and "755" in done.stderr
        assert len(done.stdout.splitlines()) == 1 and TOKEN.fullmatch(done.stdout.splitlines()[0])
        assert done.stdout.endswith("\n") and "ws_" not in done.stderr


def test_a_home_kept_to_its_owner_gets_no_warning(tmp_path: Path) -> None:
    home = tmp_path / "private"
    home.mkdir(mode=0o700)
    done = _users("add", "--home", str(home), "--email", "ann@example.com", "--role", "admin")
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr and TOKEN.fullmatch(done.stdout.splitlines()[-1])
