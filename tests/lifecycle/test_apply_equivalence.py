"""The apply's faster paths give byte-identical core tables to the plain ones they replace.

Generated histories (several seeds, with bad lines, rejections, late events and config changes) and
the bundled sample are applied twice from the same ingested log: once as the apply runs, once with the
straightforward reference (`pl.from_dicts` for the frames), and every column of every core table must
match. The apply as it runs is the same in every comparison of a seed, so each seed's log is ingested
and applied that way once per module (`applied`); each test applies its own reference to a copy.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from dagster_project.apply import batch, fast, rows
from dagster_project.apply.batch import apply_batch
from dagster_project.generator.engine import generate
from dagster_project.ingestion.ingest import ingest_paths
from dagster_project.ingestion.readers import list_inbox
from dagster_project.lifecycle.store import CORE, polars_schema
from dagster_project.warehouse.store import connect, ensure_raw_schema
from tests.events_factory import write_jsonl

# Whole folds over generated histories, seconds each: `make test` runs them, the fast lane does not.
pytestmark = pytest.mark.slow

END = datetime(2026, 11, 27, 17, tzinfo=UTC)
NOW = END + timedelta(hours=7)
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def _reference_typed(frame_rows, schema):
    return pl.from_dicts(frame_rows, schema=schema)


def _ingested(folder: Path, seed: int | None) -> Path:
    inbox = folder / "inbox"
    if seed is None:
        shutil.copytree(SAMPLE, inbox)
    else:
        generate(inbox, orgs=2, events=1500, seed=seed, bad_rate=0.03, end=END)
    path = folder / "log.duckdb"
    con = connect(path)
    ensure_raw_schema(con)
    ingest_paths(con, list_inbox(inbox, settle_seconds=0), now=NOW)
    con.close()
    return path


def _core_tables(path: Path, batches: int) -> dict[str, list[tuple]]:
    con = connect(path)
    keys = con.execute(
        "select org_id, event_id from raw.events order by occurred_at, org_id, event_id"
    ).fetchall()
    as_of = con.execute("select max(occurred_at) from raw.events").fetchone()[0] - timedelta(days=3)
    size = -(-len(keys) // batches)
    for i in range(0, len(keys), size):
        # Newest first: later batches bring events earlier than what is already folded (late events).
        apply_batch(con, keys[::-1][i : i + size], as_of=as_of, now=NOW)
    tables = {t.name: con.execute(f"select * from core.{t.name} order by all").fetchall() for t in CORE}
    con.close()
    return tables


@dataclass(frozen=True)
class Applied:
    """A seed's ingested log (read-only: copy it to apply), and its core tables as the apply makes them."""

    log: Path
    tables: dict[str, list[tuple]]
    fast_clusters: int  # clusters the set-based fast path took in those batches


@pytest.fixture(scope="module")
def applied(tmp_path_factory) -> Callable[[int | None], Applied]:
    """`applied(seed)`: the seed's log applied as the apply runs, once per module however many tests ask."""
    done: dict[int | None, Applied] = {}

    def get(seed: int | None) -> Applied:
        if seed not in done:
            folder = tmp_path_factory.mktemp(f"seed-{seed}")
            log = _ingested(folder, seed)
            target = folder / "applied.duckdb"
            shutil.copy(log, target)
            taken: list[int] = []
            select_fast = fast.select_fast

            def counting(con, registries, as_of):
                clusters = select_fast(con, registries, as_of)
                taken.append(len(clusters))
                return clusters

            with pytest.MonkeyPatch.context() as monkeypatch:
                monkeypatch.setattr(fast, "select_fast", counting)
                tables = _core_tables(target, batches=3)
            done[seed] = Applied(log, tables, sum(taken))
        return done[seed]

    return get


def _copy(log: Path, to: Path) -> Path:
    shutil.copy(log, to)
    return to


@pytest.mark.parametrize("seed", [None, 3, 11, 29])
def test_the_arrow_built_frames_give_the_same_core_tables_as_polars_from_dicts(
    tmp_path, monkeypatch, applied, seed
):
    shared = applied(seed)
    reference = _copy(shared.log, tmp_path / "reference.duckdb")

    got = shared.tables
    monkeypatch.setattr(rows, "_typed", _reference_typed)
    want = _core_tables(reference, batches=3)

    assert got == want
    assert got["event_outcomes"] and got["transitions"] and got["memory_atoms"]
    assert got["rejected_events"]


@pytest.mark.parametrize("seed", [None, 3, 11, 29])
def test_notes_classified_for_the_whole_batch_give_the_same_core_tables_as_one_by_one(
    tmp_path, monkeypatch, applied, seed
):
    shared = applied(seed)
    one_by_one = _copy(shared.log, tmp_path / "one_by_one.duckdb")

    got = shared.tables  # the apply classifies the notes of a whole batch at once
    monkeypatch.setattr(batch, "classify_notes", lambda *args, **kwargs: {})  # each note in its capture
    want = _core_tables(one_by_one, batches=3)

    assert got == want
    # column 5 is the atom type, 12 the capture rule: some notes were classified as more than notes
    assert {row[5] for row in got["memory_atoms"] if row[12] == "note"} - {"note"}


# Values the fold could hand over from a payload, per column type: each must come out as polars
# `from_dicts` makes it, or fail as it does.
ODD_VALUES = [
    (pl.Utf8, 5),
    (pl.Utf8, True),
    (pl.Utf8, {"a": 1}),
    (pl.Utf8, ["a"]),
    (pl.Int32, 2.7),
    (pl.Int32, -2.7),
    (pl.Int32, True),
    (pl.Int32, "3"),
    (pl.Int32, 2**40),
    (pl.Int32, float("nan")),
    (pl.Int64, 2**70),
    (pl.Float64, 3),
    (pl.Float64, True),
    (pl.Float64, "1.5"),
    (pl.Float64, 2**70),
    (pl.Boolean, 1),
    (pl.Boolean, 1.0),
    (pl.Boolean, "true"),
    (pl.List(pl.Utf8), "ab"),
    (pl.List(pl.Utf8), [1, None]),
    (pl.List(pl.Utf8), [True]),
    (pl.List(pl.Utf8), [["a"]]),
    (pl.List(pl.Utf8), {"a": "b"}),
    (pl.List(pl.Utf8), ("a",)),
    (pl.Date, datetime(2026, 1, 1, 23, tzinfo=UTC)),
    (pl.Datetime("us", "UTC"), datetime(2026, 1, 1)),
]


@pytest.mark.parametrize(("dtype", "value"), ODD_VALUES, ids=repr)
def test_an_odd_value_is_typed_exactly_as_polars_from_dicts_types_it(dtype, value):
    schema = {"x": dtype, "y": pl.Utf8}
    frame_rows = [{"x": value, "y": "a"}, {"x": None, "y": None}]
    try:
        want = pl.from_dicts([dict(r) for r in frame_rows], schema=schema)
    except Exception as exc:
        with pytest.raises(type(exc)):
            rows._typed(frame_rows, schema)
        return
    got = rows._typed(frame_rows, schema)
    assert got.schema == want.schema
    assert got.to_dicts() == want.to_dicts()


def test_every_core_table_schema_round_trips_through_arrow():
    for table in rows.SCHEMAS:
        schema = polars_schema(table)
        assert rows._typed([{}], schema).schema == pl.from_dicts([{}], schema=schema).schema


class _CountingRow(dict):
    """A row that counts the column lookups made on it in Python."""

    lookups = 0

    def get(self, key, default=None):
        type(self).lookups += 1
        return super().get(key, default)


def test_typing_a_frame_looks_up_only_the_list_and_date_columns_of_each_row_in_python():
    """Splitting every row into columns in Python was most of the frame building of a first load."""
    schema = polars_schema("pursuits")
    checked = [n for n, t in schema.items() if isinstance(t, pl.List) or t == pl.Date]
    frame_rows = [_CountingRow(org_id="acme", pursuit_id=f"p{i}", pink_missing=["a"]) for i in range(50)]
    _CountingRow.lookups = 0
    got = rows._typed(frame_rows, schema)
    assert _CountingRow.lookups == len(frame_rows) * len(checked)
    assert got.equals(pl.from_dicts([dict(r) for r in frame_rows], schema=schema))


def _python_only(select_fast):
    """The fast path's selection with no org to take: every cluster goes through the Python fold."""

    def select(con, registries, as_of):
        return select_fast(con, {}, as_of)

    return select


@pytest.mark.parametrize("seed", [None, 3, 11, 29, 41])
def test_the_set_based_fast_path_gives_the_same_core_tables_as_the_python_fold(
    tmp_path, monkeypatch, applied, seed
):
    shared = applied(seed)
    reference = _copy(shared.log, tmp_path / "reference.duckdb")

    got = shared.tables
    monkeypatch.setattr(fast, "select_fast", _python_only(fast.select_fast))
    want = _core_tables(reference, batches=3)

    assert shared.fast_clusters > 0  # the fast path took clusters, so the comparison means something
    for table in want:
        assert got[table] == want[table], table


_TEXTS = [
    None,
    "",
    "  ",
    "plain",
    "  two   spaces ",
    "tab\there",
    "line\nbreak",
    "café",
    "ünïcode  ws\u00a0x",
    "X",
]


def _text(rng: random.Random) -> str | None:
    """Mostly plain text, now and then an odd one (which the fast path leaves to the fold)."""
    return rng.choice(_TEXTS) if rng.random() < 0.15 else rng.choice([None, "", "plain", "  two   spaces "])


def _signal_stories(seed: int, signals: int = 200) -> list[dict]:
    """Signals with every mix the fast path must judge as the fold does: touches before and after a
    dismissal, repeated touches and dismissals, owner updates (to a name, to null, without the key),
    events before the creation or a second creation, equal times decided by event id, notes, events
    after the as-of, odd whitespace and non-ASCII text, and contact fields (empty, blank, set)."""
    rng = random.Random(seed)
    base = END - timedelta(days=20)
    out: list[dict] = []
    n = 0
    for s in range(signals):
        org = rng.choice(["acme", "globex"])
        signal = f"sig-{s}"
        created_at = base + timedelta(hours=rng.randrange(0, 200))

        def add(name: str, at: datetime, payload: dict, signal=signal, org=org) -> None:
            nonlocal n
            n += 1
            # Event ids sort out of time order, so equal times are decided by the id, as in the fold.
            out.append(
                {
                    "event_id": f"e-{rng.randrange(10**6):06d}-{n}",
                    "org_id": org,
                    "occurred_at": at.isoformat().replace("+00:00", "Z"),
                    "event_name": name,
                    "entity_type": "signal",
                    "entity_id": signal,
                    "actor": rng.choice([None, "ann@acme.test", "bob@acme.test"]),
                    "payload": {k: v for k, v in payload.items() if v is not None or rng.random() < 0.5},
                }
            )

        created = {
            "source_type": rng.choice(["email", "call", "web"]),
            "snippet": _text(rng),
            "company_name": _text(rng),
            "company_domain": rng.choice([None, "acme.test", " spaced.test "]),
            "contact_name": _text(rng),
            "contact_email": rng.choice([None, "", "p@x.test"]),
            "contact_phone": rng.choice([None, " "]),
            "owner": rng.choice([None, "ann@acme.test", "bob@acme.test"]),
            "source_system": rng.choice([None, "crm"]),
            "source_id": rng.choice([None, f"src-{s}"]),
        }
        add("signal.created", created_at, created)
        if rng.random() < 0.05:
            add("signal.created", created_at + timedelta(hours=1), created)
        for _ in range(rng.randrange(0, 6)):
            # Some at the creation's own time, some before it, some after the as-of.
            at = created_at + timedelta(hours=rng.choice([0, 0, 1, 2, 3, 5, 8, 13, 21, -1, 24 * 30]))
            name = rng.choice(
                ["signal.touched", "signal.dismissed", "signal.updated"] * 3 + ["signal.note_added"]
            )
            payload = {
                "signal.touched": {"channel": _text(rng)},
                "signal.dismissed": {"reason": _text(rng)},
                "signal.updated": rng.choice([{}, {"owner": None}, {"owner": "cy@acme.test"}]),
                "signal.note_added": {"text": "a note about this signal"},
            }[name]
            add(name, at, payload)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_the_fast_path_judges_every_mix_of_signal_events_as_the_python_fold(tmp_path, monkeypatch, seed):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_jsonl(inbox / "signals.jsonl", _signal_stories(seed))
    log = tmp_path / "log.duckdb"
    con = connect(log)
    ensure_raw_schema(con)
    ingest_paths(con, list_inbox(inbox, settle_seconds=0), now=NOW)
    con.close()
    fast_home, reference = tmp_path / "fast.duckdb", tmp_path / "reference.duckdb"
    shutil.copy(log, fast_home)
    shutil.copy(log, reference)

    select_fast = fast.select_fast
    taken: list[tuple[str, str]] = []

    def recording(con, registries, as_of):
        clusters = select_fast(con, registries, as_of)
        taken.extend(clusters)
        return clusters

    monkeypatch.setattr(fast, "select_fast", recording)
    got = _core_tables(fast_home, batches=2)
    monkeypatch.setattr(fast, "select_fast", _python_only(select_fast))
    want = _core_tables(reference, batches=2)

    for table in want:
        assert got[table] == want[table], table
    # The fast path took some signals and left others (a second creation, an early touch, a note).
    assert 0 < len(set(taken)) < len({(row[0], row[1]) for row in want["signals"]})
    assert ("touched", "dismissed") in {(row[3], row[4]) for row in got["transitions"]}


def test_the_batch_report_counts_the_events_the_fast_path_folded(tmp_path, monkeypatch):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_jsonl(inbox / "signals.jsonl", _signal_stories(5))
    con = connect(tmp_path / "log.duckdb")
    ensure_raw_schema(con)
    ingest_paths(con, list_inbox(inbox, settle_seconds=0), now=NOW)
    keys = con.execute("select org_id, event_id from raw.events").fetchall()

    report = apply_batch(con, keys, as_of=END, now=NOW)
    fast_outcomes = con.execute(
        "select count(*) from core.event_outcomes o semi join apply_fast_clusters f using (org_id, cluster_id)"
    ).fetchone()[0]
    monkeypatch.setattr(fast, "select_fast", _python_only(fast.select_fast))
    python_only = apply_batch(con, keys, as_of=END, now=NOW)
    con.close()

    assert 0 < report.events_set_based == fast_outcomes < report.events_folded
    assert python_only.events_set_based == 0
    assert python_only.events_folded == report.events_folded
