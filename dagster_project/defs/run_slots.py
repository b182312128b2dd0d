"""Which runs may go at once under `workstream serve`: one writer, beside at most one enrichment run.

Every run takes one of two slots, named by its `workstream/run_slot` tag:
* `writer`: every job that writes the warehouse, the control store's alerts or the snapshot (the builds,
  the data tests, the alert runs). Two writers at once would ingest, apply and publish over each other,
  so the instance's queue lets one go at a time, as it always did.
* `enrichment`: `enrichment_job` only. It reads the published snapshot and writes its own stores and
  inbox files (docs/mcp.md), so it needs neither lock a writer takes, and a slow enrichment server
  must not hold the only slot while the next drop's build waits behind it.

The jobs carry their slot as a job tag (Dagster puts a job's tags on its runs); the run coordinator
(`warm_launcher.WarmQueuedRunCoordinator`) counts any run that does not say `enrichment` as a writer,
so a run launched from the UI without the tag cannot slip past the writers' limit.
Dagster-free on purpose: `commands/dagster_home.py` writes these limits into the instance config.
"""

from __future__ import annotations

RUN_SLOT_TAG = "workstream/run_slot"
WRITER = "writer"
ENRICHMENT = "enrichment"

WRITER_TAGS = {RUN_SLOT_TAG: WRITER}
ENRICHMENT_TAGS = {RUN_SLOT_TAG: ENRICHMENT}

# The run queue's limits (Dagster's `QueuedRunCoordinator` config): one run per slot, so two at most.
MAX_CONCURRENT_RUNS = 2
TAG_CONCURRENCY_LIMITS = [
    {"key": RUN_SLOT_TAG, "value": WRITER, "limit": 1},
    {"key": RUN_SLOT_TAG, "value": ENRICHMENT, "limit": 1},
]


def slot_of(tags: dict[str, str] | None) -> str:
    """The slot a run with these tags takes: `enrichment` only when it says so, otherwise `writer`."""
    return ENRICHMENT if (tags or {}).get(RUN_SLOT_TAG) == ENRICHMENT else WRITER
