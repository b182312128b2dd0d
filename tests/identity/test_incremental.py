"""Identity resolution costs what changed: the matcher compares blocks in calls of bounded size, and a
run re-scores only the blocks its changed records were or are in, carrying every other pair over. Each
result equals resolving the org from nothing."""

from __future__ import annotations

import gc
import random
from datetime import UTC, datetime

import polars as pl
import pytest

from dagster_project.apply.batch import apply_batch
from dagster_project.identity import model
from dagster_project.identity.resolve import Carry, person_features, resolve_people
from dagster_project.identity.store import TABLES, resolve_identities
from dagster_project.identity.synthetic import people
from tests.identity.test_resolve import NOW, _warehouse
from tests.lifecycle.timeline import ev, log_events

LIMIT = 20


@pytest.fixture(scope="module")
def features() -> pl.DataFrame:
    return person_features(people(300, seed=5).records, "US")


def _shared_block(frame: pl.DataFrame, blocks: model.Blocks) -> set[tuple[str, str]]:
    """The pairs of records that share one of these blocks, as `block_frame` keys them."""
    out = set()
    for key, values in blocks.items():
        members = frame.filter(pl.col(key).is_in(list(values))).group_by(key).agg("unique_id")
        for ids in members["unique_id"].to_list():
            ids = sorted(ids)
            out |= {(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :]}
    return out


@pytest.fixture
def calls(monkeypatch) -> list[int]:
    """The number of records of each Splink call the matcher makes."""
    heights: list[int] = []
    real = model._predict

    def counted(frame, *args):
        heights.append(frame.height)
        return real(frame, *args)

    monkeypatch.setattr(model, "_predict", counted)
    return heights


def test_calls_of_a_few_blocks_each_score_the_pairs_one_call_does(features, calls):
    whole = model.score_pairs(features, max_block_size=LIMIT)
    assert len(calls) == 1
    chunked = model.score_pairs(features, max_block_size=LIMIT, chunk_records=25)
    assert len(calls) > 10 and max(calls[1:]) < features.height
    assert chunked.equals(whole) and whole.height > 100


def test_chosen_blocks_score_exactly_the_pairs_that_share_one_of_them(features):
    frame, _ = model.block_frame(features, LIMIT)
    whole = model.score_pairs(features, max_block_size=LIMIT)
    phones = frame.drop_nulls("block_phone")["block_phone"].unique().sort().to_list()[:40]
    names = (
        frame.drop_nulls("block_last_name_company")["block_last_name_company"].unique().sort().to_list()[:40]
    )
    blocks = {"block_phone": set(phones), "block_last_name_company": set(names)}
    chosen = model.score_pairs(features, max_block_size=LIMIT, blocks=blocks, chunk_records=60)
    expected = _shared_block(frame, blocks)
    assert chosen.rows() == [p for p in whole.rows() if p[:2] in expected] and not chosen.is_empty()


def _resolve(records: list[dict], carry: Carry | None = None, limit: int = 4):
    return resolve_people(
        "acme", records, [], region="US", min_records=10, threshold=0.95, max_block_size=limit, carry=carry
    )


def _carry(result) -> Carry:
    """What the store keeps of a resolution and reads back for the next one."""
    pairs = result.pairs.select(
        pl.col("left_id").alias("left"),
        pl.col("right_id").alias("right"),
        pl.col("match_probability").alias("probability"),
        pl.col("match_weight").alias("weight"),
        "explanation",
    )
    return Carry(result.features, pairs)


def _rows(result) -> tuple[list[dict], ...]:
    return tuple(getattr(result, table).to_dicts() for table in ("links", "pairs", "conflicts"))


def _changed(records: list[dict], seed: int) -> list[dict]:
    """The records a later run sees: some addresses, phones and names changed, some records erased or
    gone, and new ones that repeat others' names, companies and phones, so blocks grow past the limit
    and shrink below it."""
    rng = random.Random(seed)
    out = [dict(r) for r in records]
    for r in rng.sample(out, 12):
        r["email"] = f"new{rng.randrange(99)}@{r['company_domain']}"
    for r in rng.sample(out, 12):
        r["phone"] = rng.choice([None, "+1 415 555 0100", "(415) 555-0142"])
    for r in rng.sample(out, 8):
        r["name"] = rng.choice(out)["name"]
    for r in rng.sample(out, 6):
        r["erased_at"] = datetime(2026, 3, 2, tzinfo=UTC)
    for r in rng.sample(out, 6):
        out.remove(r)
    for k in range(20):
        twin = rng.choice(out)
        out.append(
            {**twin, "record_id": f"n{k:03d}", "erased_at": None, "email": rng.choice([None, twin["email"]])}
        )
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_resolution_that_compares_only_what_changed_equals_one_from_nothing(seed, calls):
    before = people(300, seed=seed).records
    after = _changed(before, seed)
    carried = _carry(_resolve(before))
    full = _resolve(after)
    del calls[:]
    incremental = _resolve(after, carried)
    assert _rows(incremental) == _rows(full)
    assert full.changed_records is None and 40 <= incremental.changed_records < 100
    assert sum(calls) < full.features.height / 2
    assert full.skipped_blocks and incremental.skipped_blocks == full.skipped_blocks


def test_a_carry_from_a_run_below_the_matchers_minimum_or_that_trained_is_not_used():
    before = people(300, seed=4).records
    carried = _carry(_resolve(before))
    below = Carry(carried.features.head(5), model.no_pairs())
    assert _resolve(before, below).changed_records is None
    trained = resolve_people(
        "acme", before, [], region="US", min_records=10, threshold=0.95, train_min_records=10, carry=carried
    )
    assert trained.changed_records is None


def test_a_carried_pair_whose_only_block_grew_past_the_limit_is_dropped_as_from_nothing():
    def ana(record_id: str) -> dict:
        return {
            "record_type": "contact",
            "record_id": record_id,
            "erased_at": None,
            "name": "Ana Lima",
            "email": f"{record_id}@shop.example",
            "company_domain": "shop.example",
        }

    before = [ana("a1"), ana("a2"), *people(20, seed=9).records]
    carried = _carry(_resolve(before, limit=2))
    anas = [p for p in carried.pairs.select("left", "right").rows() if p[0].startswith("contact:a")]
    assert anas == [("contact:a1", "contact:a2")]
    after = [*before, ana("a3")]
    incremental, full = _resolve(after, carried, limit=2), _resolve(after, limit=2)
    assert full.pairs.filter(pl.col("left_id").str.starts_with("contact:a")).is_empty()
    assert _rows(incremental) == _rows(full)


def _contact_events(records: list[dict], start: int) -> list[dict]:
    return [
        ev(
            f"e{start + k}",
            "contact.updated",
            r["record_id"],
            start + k,
            {key: r[key] for key in ("name", "email", "phone", "company_domain") if r.get(key)},
        )
        for k, r in enumerate(records)
    ]


def _identity_rows(con) -> list[list[tuple]]:
    return [
        con.execute(f"select * exclude (org_id) from identity.{t} order by all").fetchall() for t in TABLES
    ]


def test_the_identity_step_carries_an_orgs_last_resolution_into_the_next_with_the_same_rows():
    records = people(120, seed=6).records
    con = _warehouse(_contact_events(records, 0))
    assert resolve_identities(con).orgs_carried == []
    changed = [{**records[0], "email": "someone.else@shop.example"}, {**records[1], "record_id": "n001"}]
    later = _contact_events(changed, 1000)
    log_events(con, later)
    apply_batch(con, [(e["org_id"], e["event_id"]) for e in later], as_of=NOW, now=NOW)
    assert resolve_identities(con).orgs_carried == ["acme"]
    carried = _identity_rows(con)
    con.execute("delete from identity.org_state")
    assert resolve_identities(con).orgs_carried == []
    assert _identity_rows(con) == carried and carried[1]


def test_a_carried_write_of_unchanged_rows_leaves_every_stored_row_and_reads_back_each_explanation():
    """The stored pairs are read with each explanation as the number of its text: read back, they equal
    the rows as stored (several texts), and a carried write of the same rows finds nothing stale or new,
    so no stored row is deleted or added (a row id moves only when its row is rewritten)."""
    from dagster_project.identity import store

    records = people(120, seed=6).records
    con = _warehouse(_contact_events(records, 0))
    resolve_identities(con)
    texts = [f'{{"rule": "r{i}"}}' for i in range(3)]
    con.execute(
        "update identity.pairs set explanation = ($texts)[1 + (hash(left_id) % 3)::int]", {"texts": texts}
    )
    stored = con.execute(
        """select left_id as left, right_id as right, match_probability as probability,
                  match_weight as weight, explanation::varchar as explanation
           from identity.pairs where org_id = 'acme' order by all"""
    ).pl()
    assert stored["explanation"].n_unique() == 3
    carried = store._carried_pairs(con, "acme")
    assert carried.columns == list(model.PAIR_SCHEMA)
    assert carried.with_columns(pl.col("explanation").cast(pl.Utf8)).sort(pl.all()).equals(stored)

    def rows() -> list[tuple]:
        return con.execute(
            "select rowid, * exclude (explanation), explanation::varchar from identity.pairs order by rowid"
        ).fetchall()

    before = rows()
    frame = con.execute(
        "select * exclude (org_id) replace (explanation::varchar as explanation) from identity.pairs "
        "where org_id = 'acme'"
    ).pl()
    frame = frame.with_columns(pl.col("explanation").cast(model.PAIR_SCHEMA["explanation"]))
    con.execute("begin transaction")
    store._write(con, "pairs", "acme", frame, carried=True)
    con.execute("commit")
    assert rows() == before


def test_the_collector_is_paused_while_an_org_is_resolved_and_back_after_even_a_failure(monkeypatch):
    from dagster_project.identity import store

    con = _warehouse(_contact_events(people(3, seed=1).records, 0))
    seen = []

    def failing(con, org_id):
        seen.append(gc.isenabled())
        raise RuntimeError("the org fails")

    monkeypatch.setattr(store, "resolve_org", failing)
    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        resolve_identities(con)
    assert seen == [False] and gc.isenabled()
