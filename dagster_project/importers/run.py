"""One import: read an export folder, map it to events, write them and the report.

`run_import` is what `workstream import salesforce|hubspot` calls; it raises `ImportRefused` (a message
for the user, exit 2) for an export folder that cannot be read, a bad org id, or a report path inside
the inbox, and never raises for what is in the files: those become report rows.
"""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson

from dagster_project.config.import_stages import DEFAULT_STAGE_MAP
from dagster_project.contract.events import ORG_ID_PATTERN

from .hubspot import read_hubspot
from .mapping import RETENTION_CHOICES, Mapper
from .model import Export, Outcome
from .salesforce import read_salesforce
from .writing import GATE_SUFFIX, file_stem, gate_events, prior_restores, serialise, write_import

VENDORS = {"salesforce": read_salesforce, "hubspot": read_hubspot}
REPORT_COLUMNS = ("file", "row", "object", "source_id", "outcome", "reason", "value")
_IMPORT_EVENT = "import:%"


class ImportRefused(Exception):
    """The import cannot start (the message says why); nothing was written."""


@dataclass
class ImportResult:
    vendor: str
    org: str
    files: list[Path]
    events: int
    report: Path
    outcomes: Counter = field(default_factory=Counter)  # outcome -> rows
    by_object: dict[str, Counter] = field(default_factory=dict)  # object -> outcome -> rows
    absent: list[str] = field(default_factory=list)
    window: tuple[datetime, datetime] | None = None
    previous_mode: str = "enforce"


def default_report(out: Path, vendor: str, org: str) -> Path:
    """Next to the inbox, never inside it (the ingest would read it as an event file)."""
    out = out.absolute()
    return out.parent / f"{out.name}.import-{vendor}-{org}.report.csv"


def _inside(path: Path, folder: Path) -> bool:
    return path.absolute().resolve().is_relative_to(folder.absolute().resolve())


def _home_config(home: Path | None, org: str, key: str, at: datetime | None) -> Any:
    """The org's value of `key` from a home's published snapshot (None: no home, no snapshot, or only the
    default), ignoring the gate changes imports wrote. `at`: the value in force then (None: now)."""
    if home is None or not (home / "serving.duckdb").is_file():
        return None
    try:
        con = duckdb.connect(str(home / "serving.duckdb"), read_only=True)
    except duckdb.Error:
        return None
    try:
        rows = con.execute(
            "select value, effective_from from marts.config_registry where org_id = ? and key = ? "
            "and source = 'override' and event_id not like ? order by effective_from",
            [org, key, _IMPORT_EVENT],
        ).fetchall()
    except duckdb.Error:
        return None
    finally:
        con.close()
    live = [value for value, start in rows if at is None or start <= at]
    return orjson.loads(live[-1]) if live else None


def run_import(
    vendor: str,
    source: Path,
    org: str,
    out: Path,
    *,
    now: datetime,
    report: Path | None = None,
    home: Path | None = None,
    retention: str = "crm",
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import the `vendor` export in `source` for `org` into the inbox `out` (see the module doc)."""
    if vendor not in VENDORS:
        raise ImportRefused(f"unknown CRM {vendor!r} (known: {', '.join(VENDORS)})")
    if not re.fullmatch(ORG_ID_PATTERN, org):
        raise ImportRefused(f"org {org!r} is not a valid org id (lower-case letters, digits, - and _)")
    if retention not in RETENTION_CHOICES:
        raise ImportRefused(f"note retention {retention!r} is not one of {', '.join(RETENTION_CHOICES)}")
    report = report or default_report(out, vendor, org)
    if _inside(report, out):
        raise ImportRefused(f"the report {report} would be inside the inbox {out}: put it elsewhere")
    try:
        # Listing it is the test: a folder without read permission would otherwise look empty.
        with os.scandir(source) as entries:
            next(entries, None)
    except OSError as exc:
        raise ImportRefused(f"cannot read the export folder {source}: {exc.strerror or exc}") from exc
    stage_map = _home_config(home, org, "import.stage_map", None) or DEFAULT_STAGE_MAP
    try:
        export: Export = VENDORS[vendor](source, stage_map.get(vendor, {}), now, progress)
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportRefused(f"cannot read the export folder {source}: {exc}") from exc
    events = Mapper(export, org, retention, now).run()
    blob, ends = serialise(events)
    stem = file_stem(vendor, org, blob)
    result = ImportResult(vendor, org, [], len(events), report)
    gate = []
    if events:
        first, last = datetime.fromisoformat(events[0][2]), datetime.fromisoformat(events[-1][2])
        previous = _home_config(home, org, "gate_mode", last) or "enforce"
        reopen = prior_restores(out, org, f"{stem}{GATE_SUFFIX}")
        gate = gate_events(vendor, org, first, last, previous, reopen)
        result.window, result.previous_mode = (first, last), previous
    result.files = write_import(out, stem, blob, ends, gate)
    _summarise(result, export.outcomes)
    write_report(report, export.outcomes)
    return result


def _summarise(result: ImportResult, outcomes: list[Outcome]) -> None:
    for outcome in outcomes:
        result.outcomes[outcome.outcome] += 1
        result.by_object.setdefault(outcome.object, Counter())[outcome.outcome] += 1
        if outcome.outcome == "absent":
            result.absent.append(outcome.object)


def write_report(path: Path, outcomes: list[Outcome]) -> None:
    """One CSV row per input row (and per absent object file), in file and row order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(REPORT_COLUMNS)
        for o in sorted(outcomes, key=lambda o: (o.file, o.row)):
            writer.writerow([o.file, o.row, o.object, o.source_id or "", o.outcome, o.reason, o.value])
    tmp.replace(path)
