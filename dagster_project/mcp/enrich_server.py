"""A small local enrichment MCP server: company facts from a CSV, one tool, over stdio.

    python -m dagster_project.mcp.enrich_server --csv company_facts.csv [--delay SECONDS]

The CSV has a `domain` column and any others (`name`, `industry` …); `company_facts(domain)` answers the
row of that domain as structured content (every column as text), or a tool error when the domain is
unknown. `--delay` makes every answer that much later, to see what a slow server does to the caller
(docs/mcp.md). The demo and the tests declare it in `<home>/enrichment.toml` like any other server.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path
from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

DOMAIN = r"^[A-Za-z0-9.-]{1,253}$"


def load_facts(path: Path) -> dict[str, dict[str, str]]:
    """The CSV's rows by lower-cased domain (the first row of a domain wins)."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    facts: dict[str, dict[str, str]] = {}
    for row in rows:
        domain = (row.get("domain") or "").strip().lower()
        if domain:
            facts.setdefault(domain, {k: (v or "").strip() for k, v in row.items() if k})
    return facts


def build(facts: dict[str, dict[str, str]], *, delay_s: float = 0.0) -> MCPServer:
    server = MCPServer(
        "company-facts", instructions="Company facts by web domain, from a local CSV.", log_level="WARNING"
    )

    @server.tool()
    def company_facts(
        domain: Annotated[
            str, Field(pattern=DOMAIN, description="The company's web domain, e.g. example.com")
        ],
    ) -> dict[str, str]:
        """The known facts (name, industry …) of the company at this web domain."""
        if delay_s:
            time.sleep(delay_s)
        row = facts.get(domain.lower())
        if row is None:
            raise ToolError(f"no facts for {domain}")
        return row

    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, required=True, help="CSV of company facts with a `domain` column")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before every answer")
    args = parser.parse_args(argv)
    try:
        facts = load_facts(args.csv)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        print(f"cannot read {args.csv}: {exc}", file=sys.stderr)
        return 2
    build(facts, delay_s=args.delay).run("stdio")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
