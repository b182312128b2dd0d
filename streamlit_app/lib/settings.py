"""Where the dashboard finds the published snapshot and the inbox; read on every call so tests can point them
elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV_VAR = "WORKSTREAM_HOME"
DEFAULT_HOME = Path("data/home")
SNAPSHOT_FILENAME = "serving.duckdb"
# Where `workstream snapshot --as-of` writes past snapshots by default (the "time travel" choices).
AS_OF_DIRNAME = "as-of"


def workstream_home() -> Path:
    """The Workstream home folder: `$WORKSTREAM_HOME`, else `data/home` relative to the working directory."""
    raw = os.environ.get(HOME_ENV_VAR, "").strip()
    return Path(raw).expanduser() if raw else DEFAULT_HOME


def snapshot_path() -> Path:
    """Absolute path of the read-only snapshot the pipeline publishes (`<home>/serving.duckdb`)."""
    return (workstream_home() / SNAPSHOT_FILENAME).resolve()


def past_snapshot_paths() -> list[Path]:
    """The past snapshots under `<home>/as-of/`, newest name first (names are their as-of times in UTC;
    dotfiles are files still being written)."""
    folder = (workstream_home() / AS_OF_DIRNAME).resolve()
    if not folder.is_dir():
        return []
    found = (p for p in folder.glob("*.duckdb") if not p.name.startswith(".") and p.is_file())
    return sorted(found, key=lambda p: p.name, reverse=True)


INBOX_ENV_VAR = "WORKSTREAM_INBOX"
DEFAULT_INBOX = Path("data/inbox")


def inbox_path() -> Path:
    """The inbox folder the pipeline ingests: `$WORKSTREAM_INBOX`, else `data/inbox` relative to the working
    directory. The dashboard's only write: governance requests (`lib/governance.py`) are dropped here."""
    raw = os.environ.get(INBOX_ENV_VAR, "").strip()
    return (Path(raw).expanduser() if raw else DEFAULT_INBOX).resolve()
