"""The scoring step: after the apply, before dbt, it rewrites the warehouse's `scoring` tables."""

import dagster as dg

from dagster_project.defs.resources import WorkstreamResource
from dagster_project.scoring.tables import SCORING_TABLES, write_scoring
from dagster_project.warehouse.store import connect, writer_lock

SCORING_OUTPUTS = {
    "pursuit_scores": "Each open pursuit's win probability with one contribution per component, and why.",
    "score_calibration": "Per org: the scorer in use and its Brier score against the base rate on held-out pursuits.",
    "score_reliability": "Per org: predicted against observed win rate on the held-out pursuits, in bins.",
    "win_patterns": "Per org: attributes whose win-rate lift has a 95 % interval that excludes 1.",
    "similar_pursuits": "Per open pursuit: up to three closed pursuits of the same client, industry or value band.",
}
# What the scores are read from: the apply's core tables (and, through them, the event log).
SCORING_INPUTS = [
    dg.AssetKey(["core", t])
    for t in (
        "pursuits",
        "candidates",
        "signals",
        "transitions",
        "event_outcomes",
        "memory_atoms",
        "client_parts",
    )
]
assert set(SCORING_OUTPUTS) == set(SCORING_TABLES)


class ScoringConfig(dg.Config):
    """Whether the step may keep the rows of orgs whose history did not change since their last scoring."""

    # Score every org again from its history (what `workstream run --full-refresh` asks): the same rows.
    full_refresh: bool = False


@dg.multi_asset(
    specs=[
        dg.AssetSpec(["scoring", t], group_name="scoring", description=d, deps=SCORING_INPUTS)
        for t, d in SCORING_OUTPUTS.items()
    ],
    name="win_scoring",
    compute_kind="python",
)
def win_scoring(context: dg.AssetExecutionContext, config: ScoringConfig, workstream: WorkstreamResource):
    """Train each org's scorer on its own closed pursuits as of the run clock; score the open ones (an org
    whose history no core write has changed since keeps its rows)."""
    paths = workstream.paths
    with writer_lock(paths.writer_lock):
        con = connect(paths.warehouse)
        try:
            rows = write_scoring(con, rescore=config.full_refresh)
        finally:
            con.close()
    context.log.info(
        "scoring: "
        + ", ".join(f"{rows[t]:,} {t}" for t in SCORING_TABLES)
        + f"; {rows['orgs_scored']:,} org(s) scored again, {rows['orgs_kept']:,} unchanged since their last scoring"
        + f"; {rows['fits_made']:,} model fits and {rows['choices_made']:,} regularisation choices made"
        + " (the rest reused)"
    )
    for table in SCORING_TABLES:
        yield dg.MaterializeResult(
            asset_key=["scoring", table],
            metadata={
                "rows": rows[table],
                "orgs_scored": rows["orgs_scored"],
                "orgs_kept": rows["orgs_kept"],
            },
        )
