"""An enrichment server that misbehaves on purpose: `--mode malformed` answers text that is no object of
facts, `--mode crash` dies in the middle of the call (the process exits)."""

from __future__ import annotations

import argparse
import os

from mcp.server.mcpserver import MCPServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["malformed", "crash"], required=True)
    mode = parser.parse_args().mode
    server = MCPServer("odd")

    @server.tool(structured_output=False)
    def company_facts(domain: str) -> str:
        """Answers badly."""
        if mode == "crash":
            os._exit(3)
        return f"{domain} is a fine company"

    server.run("stdio")


if __name__ == "__main__":
    main()
