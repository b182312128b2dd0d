"""The generator's driver: stream stories into rotating files, inject bad lines, write the manifest.

Memory stays flat: stories are produced one at a time and written within a few thousand events; files
are filled in groups of four (one per format), each story cut into 1-4 runs that go to random files of
the open group, so an entity's events are split across files and formats and no file is sorted by
time (stories start at random times). Only a 256-event reservoir of recent events is kept, as the
source of duplicates and of context for bad lines. Bad lines go in between stories, at seeded
positions spread evenly over the run.

Three independent seeded streams (stories, placement, corruption) keep the valid events identical
whatever `bad_rate` and `files` are, and make every run with the same arguments byte-identical.
"""

from __future__ import annotations

import gc
import math
import os
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path

import orjson

from .corruption import DUPLICATE_KINDS, IDENTICAL_DUPLICATE, KIND_FORMATS, KINDS, LINE_REASONS, Corruptor
from .orgs import SPAN_DAYS
from .stories import World
from .telling import Event
from .writers import FORMATS, Writer, open_writer

DEFAULT_END = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
MAX_EVENTS_PER_FILE = 250_000
GROUP = len(FORMATS)  # files open at once: one of each format
MANIFEST_NAME = ".manifest.json"
_RESERVOIR = 256
_PROGRESS_EVERY = 5000
_BATCH = 2048  # events pending across the open files before they are written
MIN_SPAN_DAYS = 70  # the demo config schedule spans 60 days from the start


@dataclass
class FileStats:
    """What one generated file holds, and what an exact ingest of it must report."""

    name: str
    format: str
    lines: int = 0
    accepted: int = 0  # valid, distinct events
    duplicates: int = 0  # identical copies of events written earlier
    quarantined: int = 0  # bad lines, conflicting duplicates included
    bad_lines: dict[str, int] = field(default_factory=dict)
    accepted_by_org: dict[str, int] = field(default_factory=dict)


@dataclass
class GenerateResult:
    files: list[Path]
    events: int  # valid distinct events written
    lines: int  # all records written (= events + sum(bad_lines) + identical_duplicates)
    bad_lines: dict[str, int]  # per quarantine reason code
    identical_duplicates: int
    manifest: Path | None = None
    file_stats: list[FileStats] = field(default_factory=list)


def default_files(events: int) -> int:
    """Default file count: at least 4 (one per format), at most 250k events per file."""
    return max(GROUP, events // MAX_EVENTS_PER_FILE)


def file_names(n_files: int) -> list[tuple[str, str]]:
    """`(name, format)` of each file: `events-0001.jsonl`, `events-0002.jsonl.gz`, ... rotating formats."""
    return [(f"events-{i + 1:04d}.{FORMATS[i % GROUP]}", FORMATS[i % GROUP]) for i in range(n_files)]


def generate(
    out_dir: Path,
    *,
    orgs: int = 3,
    events: int = 10_000,
    seed: int = 7,
    bad_rate: float = 0.0,
    end: datetime = DEFAULT_END,
    files: int | None = None,
    progress: Callable[[int], None] | None = None,
    span_days: int = SPAN_DAYS,
) -> GenerateResult:
    """Write deterministic demo event files (and `.manifest.json`) into `out_dir`.

    `events` valid events (a little more: the last story is finished), over about `span_days` (120) days
    ending at `end`, for `orgs` orgs, in `files` files (default: `default_files(events)`), plus about
    `bad_rate * events` bad or duplicate lines covering every kind (at least one each when > 0).
    `progress(n)` is called with the number of events written since its last call. Files are written
    as hidden temp files and renamed when complete; files of the same name are replaced, other files in
    `out_dir` are left alone.
    """
    if orgs < 1:
        raise ValueError("orgs must be >= 1")
    if events < 0:
        raise ValueError("events must be >= 0")
    if not 0.0 <= bad_rate <= 1.0:
        raise ValueError("bad_rate must be within [0, 1]")
    if files is not None and files < 1:
        raise ValueError("files must be >= 1")
    if span_days < MIN_SPAN_DAYS:
        raise ValueError(f"span_days must be >= {MIN_SPAN_DAYS} (the demo's config schedule spans 60 days)")
    if end.tzinfo is None or end.utcoffset() is None:
        raise ValueError("end must be timezone-aware")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    engine = _Engine(
        out_dir, orgs, events, seed, bad_rate, end, files or default_files(events), progress, span_days
    )
    return engine.run()


class _Engine:
    def __init__(
        self,
        out_dir: Path,
        orgs: int,
        events: int,
        seed: int,
        bad_rate: float,
        end: datetime,
        n_files: int,
        progress: Callable[[int], None] | None,
        span_days: int = SPAN_DAYS,
    ) -> None:
        self.out_dir = out_dir
        self.events = events
        self.params = {
            "orgs": orgs,
            "events": events,
            "seed": seed,
            "bad_rate": bad_rate,
            "end": end.isoformat(),
            "files": n_files,
        }
        if span_days != SPAN_DAYS:  # the default stays out, so older manifests compare equal
            self.params["span_days"] = span_days
        self.span_days = span_days
        self.progress = progress
        self.world = World(orgs, end, events, random.Random(f"workstream:{seed}:stories"), span_days)
        self.place_rng = random.Random(f"workstream:{seed}:placement")
        self.bad_rng = random.Random(f"workstream:{seed}:bad")
        self.corruptor = Corruptor(self.bad_rng)
        self.layout = file_names(n_files)
        self.stats = [FileStats(name, fmt) for name, fmt in self.layout]
        self.groups = [list(range(g, min(g + GROUP, n_files))) for g in range(0, n_files, GROUP)]
        # Cumulative valid-event count at which each group is full (its share of `events`).
        self.bounds = [math.ceil(events * (grp[-1] + 1) / n_files) for grp in self.groups]
        self.n_bad = 0 if bad_rate == 0 or events == 0 else max(len(KINDS), round(bad_rate * events))
        self.bad_i = 0
        self.kind_cycle: list[str] = []
        self.next_bad_at = self._bad_position(0)
        self.reservoir: list[tuple[Event, int]] = []
        self.writers: dict[int, Writer] = {}
        self.group: list[int] = []

    # --- bad-line schedule ----------------------------------------------------------------------
    def _bad_position(self, i: int) -> int:
        """Valid-event count after which bad line `i` goes: one per equal slice, jittered within it."""
        if i >= self.n_bad:
            return -1
        gap = self.events / self.n_bad
        return int(i * gap + self.bad_rng.random() * gap) + 1

    def _targets(self, kind: str, orig_fi: int) -> list[int]:
        if kind in DUPLICATE_KINDS:  # after the original in file-name and line order
            return [i for i in self.group if i >= orig_fi]
        formats = KIND_FORMATS.get(kind)
        if formats is None:
            return self.group
        return [i for i in self.group if self.layout[i][1] in formats]

    def _inject(self) -> None:
        rng = self.bad_rng
        ev, orig_fi = self.reservoir[int(rng.random() * len(self.reservoir))]
        if not self.kind_cycle:  # each cycle covers every kind once, in a seeded order
            self.kind_cycle = list(KINDS)
            rng.shuffle(self.kind_cycle)
        # The next kind the open files can express (a group without a CSV file cannot take a
        # malformed row); kinds skipped stay first in line for the next bad line.
        for pos in range(len(self.kind_cycle) - 1, -1, -1):
            targets = self._targets(self.kind_cycle[pos], orig_fi)
            if targets:
                kind = self.kind_cycle.pop(pos)
                break
        else:
            self.kind_cycle = []
            kind, targets = IDENTICAL_DUPLICATE, self._targets(IDENTICAL_DUPLICATE, orig_fi)
        fi = targets[int(rng.random() * len(targets))]
        writer, st = self.writers[fi], self.stats[fi]
        if kind == IDENTICAL_DUPLICATE:
            writer.write_event(ev)
            st.duplicates += 1
        else:
            if kind in DUPLICATE_KINDS:
                writer.write_event(self.corruptor.conflicting(ev))
            else:
                writer.write_bad(self.corruptor.make(kind, st.format, ev))
            st.quarantined += 1
            st.bad_lines[kind] = st.bad_lines.get(kind, 0) + 1

    # --- files ----------------------------------------------------------------------------------
    def _close_group(self) -> None:
        for w in self.writers.values():
            w.close()
        self.writers = {}

    def _open_group(self, gi: int) -> None:
        self._close_group()
        self.group = self.groups[gi]
        self.writers = {
            i: open_writer(self.out_dir / self.layout[i][0], self.layout[i][1]) for i in self.group
        }

    def run(self) -> GenerateResult:
        was_enabled = gc.isenabled()
        # The generator makes no reference cycles, and collection passes over its many short-lived
        # containers cost ~40% of the run time: collect nothing until the end.
        gc.disable()
        try:
            return self._run()
        except BaseException:
            for w in self.writers.values():  # no half-written files left behind (they are dotfiles anyway)
                w.abort()
            raise
        finally:
            if was_enabled:
                gc.enable()

    def _flush_pending(self) -> None:
        """Hand each open file its pending events (batched: per-call overhead dominates small writes)."""
        org_id, event_name = itemgetter(1), itemgetter(3)
        for k, part in enumerate(self.pending):
            if not part:
                continue
            fi = self.group[k]
            self.writers[fi].write_events(part)
            self.accepted[fi] += len(part)
            for org, n in Counter(map(org_id, part)).items():
                self.by_org[(fi, org)] = self.by_org.get((fi, org), 0) + n
            self.name_counts.update(map(event_name, part))
            part.clear()
        self.n_pending = 0

    def _run(self) -> GenerateResult:
        events, stats = self.events, self.stats
        self._open_group(0)
        gi, last_gi = 0, len(self.groups) - 1
        bound = self.bounds[0]
        self.accepted = [0] * len(stats)
        self.by_org: dict[tuple[int, str], int] = {}
        self.name_counts: Counter[str] = Counter()
        self.pending: list[list[Event]] = [[] for _ in self.group]
        self.n_pending = 0
        pend, first, glen = self.pending, self.group[0], len(self.group)
        reservoir = self.reservoir
        place = self.place_rng.random
        progress = self.progress
        written = unreported = slot = 0
        next_bad_at = self.next_bad_at
        for story in self.world.stories():
            if written >= events:
                break
            n = len(story)
            if not n:
                continue
            # Split the story into 1-4 runs, each to a random open file: an entity's events land in
            # several files and formats (runs, not single events: one random draw per run, not per event).
            cuts = sorted({1 + int(place() * (n - 1)) for _ in range(1 + int(place() * 3))}) if n > 1 else []
            start = 0
            entry: tuple[Event, int] | None = None
            for stop in (*cuts, n):
                k = int(place() * glen)
                pend[k].extend(story[start:stop])
                if entry is None or place() < 0.5:
                    entry = (story[start], first + k)  # duplicates are drawn from recent events
                start = stop
            assert entry is not None
            if len(reservoir) < _RESERVOIR:
                reservoir.append(entry)
            else:
                reservoir[slot] = entry
                slot = (slot + 1) % _RESERVOIR
            written += n
            self.n_pending += n
            if self.n_pending >= _BATCH:
                self._flush_pending()
            if written >= next_bad_at > 0:
                self._flush_pending()  # a duplicate must follow its original
                while written >= next_bad_at > 0:
                    self._inject()
                    self.bad_i += 1
                    next_bad_at = self._bad_position(self.bad_i)
            if written >= bound and gi < last_gi:
                self._flush_pending()
                gi += 1
                bound = self.bounds[gi]
                self._open_group(gi)
                self.pending = pend = [[] for _ in self.group]
                first, glen = self.group[0], len(self.group)
            unreported += n
            if unreported >= _PROGRESS_EVERY and progress is not None:
                progress(unreported)
                unreported = 0
        self._flush_pending()
        # Groups never reached (fewer events than files) still get their (empty) files.
        for later in range(gi + 1, len(self.groups)):
            self._open_group(later)
        self._close_group()
        if unreported and progress is not None:
            progress(unreported)

        accepted, by_org = self.accepted, self.by_org
        for (fi, org), n in sorted(by_org.items()):
            stats[fi].accepted_by_org[org] = n
        bad_lines = {reason: 0 for reason in LINE_REASONS}
        dups = 0
        for fi, st in enumerate(stats):
            st.accepted = accepted[fi]
            st.lines = st.accepted + st.duplicates + st.quarantined
            st.bad_lines = dict(sorted(st.bad_lines.items()))
            dups += st.duplicates
            for reason, n in st.bad_lines.items():
                bad_lines[reason] += n
        if self.n_bad == 0:
            bad_lines = {}
        result = GenerateResult(
            files=[self.out_dir / name for name, _ in self.layout],
            events=written,
            lines=sum(st.lines for st in stats),
            bad_lines=bad_lines,
            identical_duplicates=dups,
            manifest=self.out_dir / MANIFEST_NAME,
            file_stats=stats,
        )
        self._write_manifest(result, dict(sorted(self.name_counts.items())), org_counts_from(by_org))
        return result

    def _write_manifest(
        self, result: GenerateResult, name_counts: dict[str, int], org_counts: dict[str, int]
    ) -> None:
        world = self.world
        manifest = {
            "manifest_version": 1,
            "generator": "dagster_project.generator",
            "params": self.params,
            "span_days": self.span_days,
            "events": result.events,
            "lines": result.lines,
            "bad_lines": result.bad_lines,
            "identical_duplicates": result.identical_duplicates,
            "orgs": [
                {
                    "org_id": org.org_id,
                    "timezone": org.tz_name,
                    "window_start": org.clock.to_utc(org.clock.start).isoformat(),
                    "window_end": org.clock.to_utc(org.clock.end).isoformat(),
                    "events": org_counts.get(org.org_id, 0),
                }
                for org in world.orgs
            ],
            "event_names": name_counts,
            "files": [asdict(st) for st in result.file_stats],
        }
        path = self.out_dir / MANIFEST_NAME
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))
        os.replace(tmp, path)


def org_counts_from(by_org: dict[tuple[int, str], int]) -> dict[str, int]:
    """Per-org totals from the per-(file, org) counts."""
    totals: dict[str, int] = {}
    for (_, org), n in sorted(by_org.items()):
        totals[org] = totals.get(org, 0) + n
    return totals
