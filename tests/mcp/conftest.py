"""A published snapshot of the bundled sample (two orgs) and access tokens, shared by the MCP tests,
and a way to talk to `workstream mcp` over each transport with the SDK's own client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from dagster_project.access import add_user
from dagster_project.settings import parse_timestamp
from tests.shared_homes import SAMPLE_NOW, copy_home, sample_home

NOW = SAMPLE_NOW
ACME, GLOBEX = "acme-corp", "globex"


@dataclass(frozen=True)
class Tokens:
    acme: str  # a viewer of acme-corp only
    globex: str  # a viewer of globex only
    admin: str  # every org


@pytest.fixture(scope="session")
def home(tmp_path_factory) -> Path:
    """A copy of the session's sample home (tests/shared_homes.py): the MCP tests add users and swap in
    snapshots, so they get their own."""
    return copy_home(sample_home(tmp_path_factory), tmp_path_factory.mktemp("mcp") / "home")


@pytest.fixture(scope="session")
def tokens(home: Path) -> Tokens:
    now = parse_timestamp(NOW)
    acme = add_user(home, "ann@acme-corp.com", "viewer", [ACME], now=now)[2]
    globex = add_user(home, "gus@globex.com", "viewer", [GLOBEX], now=now)[2]
    admin = add_user(home, "root@workstream.test", "admin", now=now)[2]
    return Tokens(acme, globex, admin)


def server_env(**extra: str) -> dict[str, str]:
    """The environment a server process gets: the frozen clock, and whatever the test adds."""
    # The suite's cheap argon2 setting (tests/conftest.py) must reach the server process too.
    passed = {k: v for k, v in os.environ.items() if k in ("WORKSTREAM_TEST_CHEAP_HASHES", "PYTHONPATH")}
    return {"WORKSTREAM_NOW": NOW, **passed, **extra}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def http_url(home: Path, tokens: Tokens) -> Iterator[str]:
    """`workstream mcp --http` running for the session, as a user starts it."""
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagster_project.cli",
            "mcp",
            "--home",
            str(home),
            "--http",
            "--port",
            str(port),
        ],
        env={**os.environ, **server_env()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(600):  # wait for the port to accept connections (the server's start-up)
            if process.poll() is not None:
                raise RuntimeError(f"the HTTP server exited: {process.stderr.read().decode()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=30)


@asynccontextmanager
async def connect(
    transport: str, home: Path, token: str, http_url: str | None = None
) -> AsyncIterator[Client]:
    """An SDK client on `workstream mcp` over `transport` ("stdio" or "http"), with `token`."""
    if transport == "stdio":
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "dagster_project.cli", "mcp", "--home", str(home)],
            env=server_env(WORKSTREAM_TOKEN=token),
        )
        async with Client(params, read_timeout_seconds=120) as client:
            yield client
    else:
        assert http_url is not None
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=120) as http,
            Client(streamable_http_client(http_url, http_client=http), read_timeout_seconds=120) as client,
        ):
            yield client
