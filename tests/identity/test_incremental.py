"""Identity resolution costs what changed: the matcher compares blocks in calls of bounded size, and a
run re-scores only the blocks its changed records were or are in, carrying every other pair over. Each
result equals resolving the org from nothing."""

from __future__ import annotations

import polars as pl
import pytest

from dagster_project.identity import model
from dagster_project.identity.resolve import person_features
from dagster_project.identity.synthetic import people

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


def test_calls_of_a_few_blocks_each_score_the_pairs_one_call_does(features, monkeypatch):
    calls = []
    real = model._predict

    def counted(frame, *args):
        calls.append(frame.height)
        return real(frame, *args)

    monkeypatch.setattr(model, "_predict", counted)
    whole = model.score_pairs(features, max_block_size=LIMIT)
    assert len(calls) == 1
    chunked = model.score_pairs(features, max_block_size=LIMIT, chunk_records=25)
    assert len(calls) > 10 and max(calls[1:]) < features.height
    assert chunked == whole and len(whole) > 100


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
    assert chosen == [p for p in whole if (p.left, p.right) in expected] and chosen
