"""What both vendor readers share: walking an object's rows with exactly one outcome each.

`Reading` owns the outcome list: a row is `mapped` once a record holds it, `skipped` with a reason
(deleted in the CRM, an older version a sync tool kept, a duplicate id, nothing to map) or `unmapped`
with the value no rule knows. A later row with the same id replaces the earlier one when it is newer, and
the earlier row's outcome becomes `skipped` (so every row keeps exactly one outcome).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from .model import ABSENT, MAPPED, SKIPPED, UNMAPPED, Deal, Outcome, StageStep
from .tables import UNREADABLE, Table, as_bool, as_time, find_tables

Row = dict[str, str | None]

DELETED = "deleted in the CRM"
OLD_VERSION = "an older version of the record (the sync tool's history)"
NOT_IMPORTED = "an object the importer does not read"
FUTURE = "dated after the import's clock"
_TICK = 10_000  # rows between two progress reports


class Reading:
    """One export folder being read: its tables and the outcome of every row so far."""

    def __init__(
        self,
        folder: Path,
        prefix: str,
        objects: tuple[str, ...],
        now: datetime,
        progress: Callable[[int], None] | None = None,
        key_of: Callable[[str], str] | None = None,
        aliases: Mapping[str, str] | None = None,
    ) -> None:
        self.folder = folder
        self.now = now
        self.progress = progress
        self._counted = 0
        self.objects = objects
        self.tables, self.broken = find_tables(folder, prefix, key_of, aliases)
        self.outcomes: list[Outcome | None] = []
        self._slots: dict[tuple[str, str], tuple[int, datetime]] = {}  # (object, id) -> outcome slot

    def rows(self, key: str, *, history: bool = False) -> Iterator[tuple[Table, int, Row]]:
        """Rows of object `key` that are live; deleted rows and old versions get their outcome here.

        `history`: the table's versions are the record's history (each version is kept)."""
        for table in self.tables.get(key, []):
            yield from self._live(key, table, history)

    def _live(self, key: str, table: Table, history: bool) -> Iterator[tuple[Table, int, Row]]:
        number = 0
        try:
            for number, row in enumerate(table.rows(), start=1):  # noqa: B007 - read after the loop
                self._tick()
                sid = row.get("id")
                if as_bool(row.get("is_deleted")) or as_bool(row.get("_fivetran_deleted")):
                    self.skip(table, number, key, sid, DELETED)
                elif (
                    not history
                    and row.get("_fivetran_active") is not None
                    and not as_bool(row.get("_fivetran_active"))
                ):
                    self.skip(table, number, key, sid, OLD_VERSION)
                else:
                    yield table, number, row
        except UNREADABLE as exc:
            # A file broken part-way (bad UTF-8, a NUL, a damaged Parquet page): the rows read so far
            # keep their outcomes, the row that broke gets this one, the rest of the file is not read.
            detail = " ".join(str(exc).split())[:200]
            self.skip(table, number + 1, key, None, f"the file cannot be read from here: {detail}")

    def _tick(self) -> None:
        self._counted += 1
        if self.progress is not None and self._counted == _TICK:
            self.progress(self._counted)
            self._counted = 0

    def future(self, at: datetime) -> bool:
        """A time after the import's clock: the ingest would refuse it (a scheduled meeting, a typo)."""
        return at > self.now

    def _add(self, outcome: Outcome) -> int:
        self.outcomes.append(outcome)
        return len(self.outcomes) - 1

    def skip(
        self, table: Table, number: int, key: str, sid: str | None, reason: str, value: str = ""
    ) -> None:
        self._add(Outcome(table.name, number, key, sid, SKIPPED, reason, value))

    def unmapped(self, table: Table, number: int, key: str, sid: str | None, reason: str, value: str) -> int:
        return self._add(Outcome(table.name, number, key, sid, UNMAPPED, reason, value))

    def mapped(self, table: Table, number: int, key: str, sid: str | None) -> int:
        return self._add(Outcome(table.name, number, key, sid, MAPPED))

    def stage_step(
        self,
        table: Table,
        number: int,
        key: str,
        sid: str | None,
        deal: Deal | None,
        at: datetime | None,
        stage: tuple[Callable[[], str | None], str | None],
        parent: str,
    ) -> None:
        """One stage-history row's outcome: skipped (its deal is not imported, no date, a future date),
        unmapped (a stage `import.stage_map` does not name) or a step appended to the deal's history.

        `stage` is (the lookup of the contract stage, the CRM's own stage value); the lookup runs only
        for a row that gets that far; `parent` names the record the row belongs to."""
        target_of, raw = stage
        if deal is None:
            self.skip(table, number, key, sid, f"its {parent} is not imported")
        elif at is None or self.future(at):
            self.skip(table, number, key, sid, "no readable date" if at is None else FUTURE)
        elif (target := target_of()) is None:
            self.unmapped(table, number, key, sid, "stage not in import.stage_map", raw or "")
        else:
            deal.history.append(StageStep(at, target, raw or ""))
            self.mapped(table, number, key, sid)

    def activity(
        self,
        table: Table,
        number: int,
        key: str,
        sid: str | None,
        at: datetime | None,
        text: str | None,
        *,
        no_id: str = "no id",
    ) -> bool:
        """Whether an activity row (a task, a meeting, an engagement) becomes a note: one with an id, a
        readable date not after the import's clock and some text, and the newest row of its record.
        Any other gets its outcome here (the first missing thing is the reason; `no_id` words the
        vendor's id column); the caller records the kept row's outcome."""
        reason = (
            no_id
            if not sid
            else "no readable date"
            if at is None
            else "no text"
            if text is None
            else FUTURE
            if self.future(at)
            else None
        )
        if reason is not None:
            self.skip(table, number, key, sid, reason)
            return False
        assert sid is not None and at is not None
        return self.claim(table, number, key, sid, at)

    def claim(self, table: Table, number: int, key: str, sid: str, modified: datetime) -> bool:
        """Whether this row is the newest seen for (`key`, `sid`); the row it displaces (or this row,
        when an earlier one is newer) is marked skipped. The caller then records the row's outcome."""
        previous = self._slots.get((key, sid))
        if previous is not None:
            slot, seen = previous
            if seen > modified:
                self.skip(table, number, key, sid, "a newer row of the same record is kept")
                return False
            old = self.outcomes[slot]
            assert old is not None
            self.outcomes[slot] = Outcome(
                old.file, old.row, key, sid, SKIPPED, "a newer row of the same record is kept"
            )
        self._slots[(key, sid)] = (len(self.outcomes), modified)
        return True

    def demote(self, key: str, sid: str, outcome: str, reason: str, value: str = "") -> None:
        """Change the outcome of the row kept for (`key`, `sid`) (a record found unusable later)."""
        slot, _ = self._slots[(key, sid)]
        old = self.outcomes[slot]
        assert old is not None
        self.outcomes[slot] = Outcome(old.file, old.row, old.object, old.source_id, outcome, reason, value)

    def finish(self, read: set[str]) -> list[Outcome]:
        """The outcomes, plus absent object files (row 0) and every row of the tables nobody read."""
        broken = {table.key for table in self.broken}
        for key in self.objects:
            if key not in self.tables and key not in broken:
                self._add(Outcome(f"{key}.*", 0, key, None, ABSENT, "no file for this object in the export"))
        for key in sorted(set(self.tables) - read):
            for table in self.tables[key]:
                for number, row in self._live(key, table, history=True):
                    self.skip(table, number, key, row.get("id"), NOT_IMPORTED)
        for table in self.broken:
            self.skip(table, 0, table.key, None, "the file cannot be read", table.problem)
        if self.progress is not None and self._counted:
            self.progress(self._counted)
        return [o for o in self.outcomes if o is not None]


def first_time(row: Mapping[str, str | None], *columns: str) -> datetime | None:
    """The first of `columns` that holds a readable time."""
    for column in columns:
        if (value := as_time(row.get(column))) is not None:
            return value
    return None


def registrable_host(website: str | None) -> str | None:
    """`https://www.Example.com/about` → `example.com` (scheme, `www.`, port and path dropped)."""
    if not website or not website.strip():
        return None
    text = website.strip()
    host = urlsplit(text if "//" in text else "//" + text).hostname or ""
    host = host.lower().removeprefix("www.").strip(".")
    return host or None


def email_domain(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return email.rsplit("@", 1)[1].strip().lower() or None


def full_name(*parts: str | None) -> str | None:
    name = " ".join(p.strip() for p in parts if p and p.strip())
    return name or None


def join_text(*parts: str | None) -> str | None:
    text = "\n".join(p.strip() for p in parts if p and p.strip())
    return text or None


def lookup(stage_map: Mapping[str, str], *names: str | None) -> str | None:
    """The target of the first of `names` the (casefolded) stage map knows."""
    for name in names:
        if name is not None and (target := stage_map.get(name.strip().casefold())) is not None:
            return target
    return None


__all__ = ["MAPPED", "SKIPPED", "UNMAPPED", "Reading", "Row", "first_time"]
