"""What the SLA compliance page shows, shaped from query results."""

from __future__ import annotations

import polars as pl


def earlier_thresholds(summary: pl.DataFrame, breaches: pl.DataFrame) -> list[tuple[str, float, float]]:
    """(metric, threshold then, threshold now) for open breaches whose clock started under another
    threshold than the metric's current one; each clock keeps the threshold it started with."""
    now_by_metric = dict(summary.select("metric", "threshold_hours").iter_rows())
    return [
        (metric, hours, now_by_metric[metric])
        for metric, hours in sorted(
            {
                (metric, hours)
                for metric, hours in breaches.select("metric", "threshold_hours").iter_rows()
                if hours is not None
                and now_by_metric.get(metric) is not None
                and hours != now_by_metric[metric]
            }
        )
    ]
