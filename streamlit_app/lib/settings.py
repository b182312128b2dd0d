"""Where the dashboard finds the published snapshot; read on every call so tests can point it elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV_VAR = "WORKSTREAM_HOME"
DEFAULT_HOME = Path("data/home")
SNAPSHOT_FILENAME = "serving.duckdb"


def workstream_home() -> Path:
    """The Workstream home folder: `$WORKSTREAM_HOME`, else `data/home` relative to the working directory."""
    raw = os.environ.get(HOME_ENV_VAR, "").strip()
    return Path(raw).expanduser() if raw else DEFAULT_HOME


def snapshot_path() -> Path:
    """Absolute path of the read-only snapshot the pipeline publishes (`<home>/serving.duckdb`)."""
    return (workstream_home() / SNAPSHOT_FILENAME).resolve()
