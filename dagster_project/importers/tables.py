"""Reading an export folder: find each object's file whatever tool wrote it, and read its rows as text.

Three shapes name the same objects: Salesforce's Data Export / Data Loader (`Opportunity.csv`,
`OpportunityHistory.csv`, API field names such as `StageName`), a sync tool's tables (`opportunity.csv`
or `.parquet`, snake_case columns, `_fivetran_*` bookkeeping columns) and the Fivetran test seeds
(`sf_opportunity_data.csv`, `deal_data.csv`). Every name is folded to one key (`opportunity_history`),
and every column to snake_case (`StageName` → `stage_name`), so a reader sees one shape. Values stay
text (an empty cell is None): the vendor readers parse what they use, and the report can quote a value
exactly as the export wrote it.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SUFFIXES = (".csv", ".parquet")
# What reading a damaged file raises (bad UTF-8, a NUL byte, a Parquet file that is not one).
UNREADABLE = (UnicodeDecodeError, csv.Error, pa.ArrowException)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^0-9a-z]+")
# CSV cells of CRM text fields (descriptions, email bodies) can be long; the csv module's default is 128 KiB.
csv.field_size_limit(max(csv.field_size_limit(), 1 << 24))


def snake(name: str) -> str:
    """`StageName` → `stage_name`, `Loss_Reason__c` → `loss_reason_c`, `Record ID` → `record_id`."""
    text = name.strip().lstrip("\ufeff")
    lead = "_" * (len(text) - len(text.lstrip("_")))  # `_fivetran_synced` keeps its underscore
    return lead + _NON_WORD.sub("_", _CAMEL.sub("_", text).lower()).strip("_")


def table_key(path: Path, prefix: str = "") -> str:
    """The object a file holds, from its name: `sf_opportunity_history_data.csv`, `OpportunityHistory.csv`
    and `opportunity_history.parquet` are all `opportunity_history`."""
    stem = path.name
    for suffix in SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    key = snake(stem)
    if prefix and key.startswith(prefix + "_"):
        key = key[len(prefix) + 1 :]
    return key.removesuffix("_data")


@dataclass
class Table:
    """One object file: its path (relative to the export folder), columns and rows (text or None)."""

    name: str
    path: Path
    columns: list[str]
    aliases: Mapping[str, str] = field(default_factory=dict)
    key: str = ""
    problem: str = ""  # why the file cannot be read at all (then it has no columns)

    def rows(self) -> Iterator[dict[str, str | None]]:
        """Rows as column → text (None when empty), in file order; row numbers are 1-based positions."""
        if self.path.suffix.lower() == ".parquet":
            yield from _parquet_rows(self.path, self.aliases)
        else:
            yield from _csv_rows(self.path, self.columns)


def _csv_header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return [snake(c) for c in next(csv.reader(handle), [])]


def _csv_rows(path: Path, columns: list[str]) -> Iterator[dict[str, str | None]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        for cells in reader:
            # A short row leaves its last columns empty; a long one's extra cells have no column.
            yield {c: (v if v != "" else None) for c, v in zip(columns, cells, strict=False)}


def _parquet_rows(path: Path, aliases: Mapping[str, str]) -> Iterator[dict[str, str | None]]:
    parquet = pq.ParquetFile(path)
    for batch in parquet.iter_batches(batch_size=10_000):
        names = [aliases.get(snake(n), snake(n)) for n in batch.schema.names]
        for record in batch.to_pylist():
            yield {c: _text(v) for c, v in zip(names, record.values(), strict=True)}


def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat()
    return str(value)


def find_tables(
    folder: Path,
    prefix: str,
    key_of: Callable[[str], str] | None = None,
    aliases: Mapping[str, str] | None = None,
) -> tuple[dict[str, list[Table]], list[Table]]:
    """Every CSV and Parquet file under `folder` (not following links), grouped by object key.

    `key_of` may rename a key (a vendor's own export names); `aliases` renames columns (its labels).
    Files whose header cannot be read come back apart, each with its problem. Raises OSError when the
    folder cannot be listed or a file cannot be opened.
    """
    aliases = aliases or {}
    found: dict[str, list[Table]] = {}
    broken: list[Table] = []
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not path.is_file() or path.name.startswith("."):
            continue
        if not path.name.lower().endswith(SUFFIXES):
            continue
        key = table_key(path, prefix)
        key = key_of(key) if key_of else key
        name = str(path.relative_to(folder))
        try:
            if path.suffix.lower() == ".parquet":
                columns = [snake(n) for n in pq.read_schema(path).names]
            else:
                columns = _csv_header(path)
        except UNREADABLE as exc:
            broken.append(Table(name, path, [], aliases, key, " ".join(str(exc).split())[:200]))
            continue
        columns = [aliases.get(c, c) for c in columns]
        found.setdefault(key, []).append(Table(name, path, columns, aliases, key))
    return found, broken


# --- values ------------------------------------------------------------------------------------------

_TRUE = {"true", "1", "yes", "y", "t"}
_SHORT_HOUR = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d):")
_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")


def as_bool(text: str | None) -> bool:
    return text is not None and text.strip().lower() in _TRUE


def as_time(text: str | None) -> datetime | None:
    """A CRM timestamp or date in UTC: ISO with or without offset (`+0000`, `Z`), a space for `T`, a
    one-digit hour, a bare date (midnight UTC), or epoch milliseconds (HubSpot). None if unreadable."""
    if text is None:
        return None
    try:  # the usual spellings, without the rewrites below
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return _odd_time(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _odd_time(text: str) -> datetime | None:
    value = text.strip()
    if value.isdigit() and len(value) >= 12:
        try:
            return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    value = _SHORT_HOUR.sub(r"\1T0\2:", value)
    value = _OFFSET.sub(r"\1:\2", value.replace("Z", "+00:00").replace("z", "+00:00"))
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def as_number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.replace(",", "").strip())
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None
