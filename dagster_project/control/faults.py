"""Named crash points for recovery tests: `WORKSTREAM_KILL_AT=<point>` makes the process SIGKILL itself there.

Why in product code: "a crash at any step, then a rerun, gives the same outputs" can only be shown by
really dying at those steps. Unset (always, outside tests) this is one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

KILL_POINTS = (
    "after_enqueue",
    "after_claim",
    "after_apply",
    "after_complete",
    "after_scrub",
    "before_publish",
)


def checkpoint(name: str) -> None:
    """Die here (SIGKILL, no cleanup, like a power cut) when WORKSTREAM_KILL_AT names this point."""
    if name not in KILL_POINTS:
        raise ValueError(f"unknown kill point {name!r}")
    if os.environ.get("WORKSTREAM_KILL_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
