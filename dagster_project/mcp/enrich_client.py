"""One enrichment server as the drain sees it: calls with a timeout, an answer or a classified failure.

The session (a child process over stdio, or a streamable-HTTP connection) is opened on the first call
and kept for the next ones; a timeout, a crash or a broken connection closes it, and the next call
opens a fresh one. A stdio server is started with the SDK's safe subset of the environment, so it
never sees this process's tokens or paths.
"""

from __future__ import annotations

import contextlib
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from mcp import Client

ANSWER_TEXT_MAX = 300


@dataclass(frozen=True)
class Declared:
    """A server the operator declared: how to reach it, which tool to call, how long to wait."""

    name: str
    tool: str
    command: tuple[str, ...] = ()
    url: str | None = None
    timeout_s: float = 10.0


@dataclass(frozen=True)
class Answer:
    """The tool's facts (its structured content), or `refused` with its error text (e.g. unknown domain)."""

    facts: dict[str, Any]
    refused: bool = False
    text: str = ""


class CallFailed(Exception):
    """The call gave no usable answer; `outcome` is `timeout`, `error` (crash, refused connection) or
    `malformed` (an answer that is not an object of facts)."""

    def __init__(self, outcome: str, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome


def _text(result: Any) -> str:
    parts = [getattr(block, "text", "") for block in result.content or []]
    return " ".join(p for p in parts if p)


class Caller:
    """Calls one declared server's tool; use as `async with Caller(server) as caller`."""

    def __init__(self, server: Declared) -> None:
        self.server = server
        self._stack: AsyncExitStack | None = None
        self._client: Client | None = None

    async def __aenter__(self) -> Caller:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._close()

    async def _close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            # A crashed server's transport may fail to close; it is gone either way.
            with contextlib.suppress(Exception):
                await stack.aclose()

    async def _open(self, timeout_s: float) -> Client:
        # The SDK is imported at the first call, not with the module: every pipeline run loads the
        # enrichment step's definitions, and a home that declares no server never calls one.
        from mcp import Client, StdioServerParameters

        server = self.server
        if server.command:
            target: Any = StdioServerParameters(command=server.command[0], args=list(server.command[1:]))
        else:
            target = server.url
        stack = AsyncExitStack()
        try:
            client = await stack.enter_async_context(
                Client(target, read_timeout_seconds=timeout_s, cache=None)
            )
        except BaseException:
            await stack.aclose()
            raise
        self._stack, self._client = stack, client
        return client

    async def call(self, arguments: dict[str, Any], *, deadline: float) -> Answer:
        timeout_s = max(0.05, min(self.server.timeout_s, deadline - time.monotonic()))
        try:
            client = self._client or await self._open(timeout_s)
            result = await client.call_tool(self.server.tool, arguments, read_timeout_seconds=timeout_s)
        except Exception as exc:
            await self._close()
            message = f"{type(exc).__name__}: {exc}"[:ANSWER_TEXT_MAX]
            timed_out = (
                isinstance(exc, TimeoutError)
                or "timed out" in message.lower()
                or "timeout" in message.lower()
            )
            raise CallFailed("timeout" if timed_out else "error", message) from None
        if result.is_error:
            return Answer({}, refused=True, text=_text(result)[:ANSWER_TEXT_MAX])
        facts = result.structured_content
        if facts is None:  # a server without structured output may answer JSON text
            try:
                facts = orjson.loads(_text(result) or b"null")
            except orjson.JSONDecodeError:
                facts = None
        if not isinstance(facts, dict):
            raise CallFailed("malformed", "the answer is not an object of facts")
        return Answer(facts)
