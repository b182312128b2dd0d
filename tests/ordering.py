"""The order test files start in: the costliest first, so that neither pytest-xdist worker is left
running one long file at the end while the other is idle.

`make test` runs `--dist loadfile --no-loadscope-reorder`: xdist hands out whole files in collection
order, and `tests/conftest.py` sorts the collected tests with `costliest_first` by the CPU cost each
file had on a measured run (`tests/file_costs.tsv`). A file missing from the table (a new one) counts
as dear as the table's dearest and starts among the first: a cheap one costs little there, while a
dear one started late is the tail one worker runs alone. Only the order changes: every test still
runs, each file's tests together and in their own order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

COSTS = Path(__file__).with_name("file_costs.tsv")

T = TypeVar("T")


def load_costs(path: Path = COSTS) -> dict[str, float]:
    """File (relative to the repository) → CPU seconds; comment lines start with `#`."""
    costs: dict[str, float] = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            seconds, name = line.split("\t")
            costs[name] = float(seconds)
    return costs


def costliest_first(items: Sequence[T], file_of: Callable[[T], str], costs: dict[str, float]) -> list[T]:
    """`items` with the costliest files first; a stable sort, so each file's items keep their order."""
    default = max(costs.values()) if costs else 0.0
    return sorted(items, key=lambda item: -costs.get(file_of(item), default))
