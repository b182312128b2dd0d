"""The suite's own scheduling: the costliest test files start first (tests/ordering.py)."""

from __future__ import annotations

from pathlib import Path

from tests.ordering import COSTS, costliest_first, load_costs


def _file(item: str) -> str:
    return item.split("::")[0]


def test_the_costliest_files_come_first_and_each_files_tests_stay_together_in_order() -> None:
    items = ["a.py::1", "a.py::2", "b.py::1", "c.py::1", "c.py::2", "c.py::3"]
    ordered = costliest_first(items, _file, {"a.py": 1.0, "b.py": 50.0, "c.py": 7.0})
    assert ordered == ["b.py::1", "c.py::1", "c.py::2", "c.py::3", "a.py::1", "a.py::2"]


def test_a_file_missing_from_the_table_starts_with_the_dearest_files_not_in_the_tail() -> None:
    items = ["cheap.py::1", "mid.py::1", "new.py::1", "new.py::2", "dear.py::1"]
    costs = {"cheap.py": 1.0, "mid.py": 5.0, "dear.py": 9.0}
    ordered = costliest_first(items, _file, costs)
    # A stable sort: the new file ties with the dearest and keeps its collection place among them.
    assert ordered == ["new.py::1", "new.py::2", "dear.py::1", "mid.py::1", "cheap.py::1"]


def test_the_committed_table_names_test_files_that_exist() -> None:
    costs = load_costs(COSTS)
    root = COSTS.parent.parent
    assert len(costs) > 50
    missing = [name for name in costs if not (root / name).is_file()]
    assert missing == [], f"stale rows in {COSTS.name}: {missing}"
    assert all(Path(name).name.startswith("test_") for name in costs)
