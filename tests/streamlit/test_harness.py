"""The dashboard tests' own harness (tests/conftest.py): what keeps AppTest runs from failing at random."""

from __future__ import annotations

import gc


def test_no_automatic_garbage_collection_runs_while_a_dashboard_test_runs() -> None:
    # A collection inside AppTest's script thread can finalize another test's SQLite connection there,
    # and on Python 3.11.7 the traceback logged for it breaks Streamlit's parse of the page.
    assert not gc.isenabled()
