"""What the query families share: cache lifetime, the example-row cap and the name of a missing owner."""

from __future__ import annotations

CACHE_TTL_S = 300
EXAMPLE_ROWS = 50
# An entity without an owner is counted, filtered and shown under this name.
UNASSIGNED = "—"
