"""The `enrichment` config key: what an org may say about enrichment through MCP (docs/mcp.md).

Servers are declared by the operator (`<home>/enrichment.toml` or the environment), never by an org:
the registry is fed by tenants' events, so an org's value may only name a declared server to switch it
on, map the answer's fields onto `client.updated`'s, and lower the rate of calls. `{}` (the default)
is off: nothing of the org is ever sent.
"""

from __future__ import annotations

import re
from typing import Any

SERVER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# The `client.updated` fields an answer can fill (docs/contract.md).
CLIENT_FIELDS = ("name", "domain", "industry")
OPTIONS = ("server", "fields", "rate_limit_per_minute")
DEFAULT_RATE_PER_MINUTE = 30
MAX_RATE_PER_MINUTE = 600
MAX_ANSWER_KEY = 64


def check_enrichment(value: Any) -> str | None:
    """None when `value` is a valid `enrichment` setting, else what is wrong with it."""
    if not isinstance(value, dict):
        return "must be an object (`{}` is off)"
    if unknown := sorted(set(value) - set(OPTIONS)):
        return f"has unknown options {', '.join(unknown)} (allowed: {', '.join(OPTIONS)})"
    if not value:
        return None
    server = value.get("server")
    if not isinstance(server, str) or not SERVER_NAME.match(server):
        return "needs `server`: the name of a server the operator declared (lower case, digits, - and _)"
    fields = value.get("fields", {})
    if not isinstance(fields, dict) or set(fields) - set(CLIENT_FIELDS):
        return f"`fields` must map some of {', '.join(CLIENT_FIELDS)} to the answer's keys"
    if not all(isinstance(k, str) and 0 < len(k) <= MAX_ANSWER_KEY for k in fields.values()):
        return f"`fields` values must be answer keys of 1 to {MAX_ANSWER_KEY} characters"
    rate = value.get("rate_limit_per_minute", DEFAULT_RATE_PER_MINUTE)
    if not isinstance(rate, int) or isinstance(rate, bool) or not 0 < rate <= MAX_RATE_PER_MINUTE:
        return f"`rate_limit_per_minute` must be an integer from 1 to {MAX_RATE_PER_MINUTE}"
    return None
