"""Passwords and tokens never reach a log, the console or the control store in clear text.

The API runs as `workstream api` does (its own process, real HTTP), takes good and failed token uses,
and everything it wrote is searched for the secrets; then the same in-process with every logger at DEBUG.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from dagster_project.api import create_app
from tests.api.access_helpers import CLOCK, NOW, bearer, token_for
from tests.api.test_api import A, B, publish

PASSWORD = "correct horse battery staple 7Q!"
ROOT = Path(__file__).resolve().parents[2]


def _secrets(home: Path) -> tuple[str, list[str]]:
    token = token_for(home, "ada@example.com", "viewer", [A], password=PASSWORD)
    _ws, token_id, secret = token.split("_", 2)
    wrong = f"ws_{token_id}_{'Z' * len(secret)}"
    return token, [token, secret, PASSWORD, wrong, "Zq" * 20]


def _requests(get, token: str, secrets: list[str]) -> None:
    assert get(f"/orgs/{A}/today", headers=bearer(token)).status_code == 200
    for header in (
        bearer(PASSWORD),  # a password sent as a token: a failed login
        bearer(secrets[3]),  # the right token id with a wrong secret
        bearer("Zq" * 20),
        {"Authorization": f"Basic {token}"},
    ):
        assert get(f"/orgs/{A}/today", headers=header).status_code == 401
    assert get(f"/orgs/{B}/today", headers=bearer(token)).status_code == 404


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _assert_clean(texts: dict[str, bytes], secrets: list[str]) -> None:
    for name, text in texts.items():
        for secret in secrets:
            assert secret.encode() not in text, f"{name} holds a secret"


def test_a_running_api_writes_no_token_or_password_anywhere(tmp_path: Path):
    home = tmp_path / "home"
    publish(home)
    token, secrets = _secrets(home)
    port = _free_port()
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    env = {**os.environ, "WORKSTREAM_NOW": NOW.isoformat(), "WORKSTREAM_TEST_CHEAP_HASHES": "1"}
    cli = [sys.executable, "-m", "dagster_project.cli", "api", "--home", str(home), "--port", str(port)]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(cli, stdout=stdout, stderr=stderr, env=env, cwd=ROOT)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                for _attempt in range(300):
                    try:
                        if client.get("/health").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    try:  # waits for the server to come up, and notices when it exits instead
                        proc.wait(timeout=0.1)
                        pytest.fail(f"the API exited: {err.read_text()}")
                    except subprocess.TimeoutExpired:
                        pass
                else:
                    pytest.fail("the API never answered /health")
                _requests(client.get, token, secrets)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    written = {"stdout": out.read_bytes(), "stderr": err.read_bytes()}
    assert b"/docs" in written["stderr"]  # the console (messages go to stderr) was captured
    for path in home.rglob("*"):
        if path.is_file() and path.suffix != ".duckdb":
            written[str(path.relative_to(home))] = path.read_bytes()
    assert "control.sqlite" in written
    _assert_clean(written, secrets)


def test_the_api_logs_no_token_or_password_even_at_debug(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    publish(tmp_path)
    token, secrets = _secrets(tmp_path)
    caplog.set_level(logging.DEBUG)
    with TestClient(create_app(tmp_path, clock=CLOCK)) as client:
        _requests(client.get, token, secrets)
    assert caplog.records, "DEBUG logging was captured"
    _assert_clean({"log": caplog.text.encode()}, secrets)
