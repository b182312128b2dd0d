"""What the Overview page shows, shaped from its widgets' values."""

from __future__ import annotations

import datetime as dt


def date_range(value: object, first: dt.date, last: dt.date) -> tuple[dt.date, dt.date]:
    """The (start, end) the date filter stands for, whatever the widget holds right now.

    While a range is being picked in the browser the widget briefly holds a single date (then it reads
    as from that day to the last), and a cleared widget means the whole range.
    """
    if isinstance(value, tuple | list):
        if len(value) == 2:
            return value[0], value[1]
        if len(value) == 1:
            return value[0], last
        return first, last
    if isinstance(value, dt.date):
        return value, value
    return first, last
