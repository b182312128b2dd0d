"""MCP both ways (docs/mcp.md): a read-only MCP server over the published snapshot, scoped to a token's
orgs (`server`, `reads`, `gate`), and enrichment of new signals through operator-declared MCP servers
(`enrichment`, with the small CSV-backed `enrich_server` for the demo and the tests). Dagster-free."""
