"""What the Today page's tables look like: their columns, in order, and the pixel width of each.

The widths are chosen for an analyst's 1440-px screen: beside the sidebar, Streamlit's wide layout leaves
the main column 980 px wide, and the grid inside it 978 px. The columns up to and including the why add up
to no more than that, so the why ends on screen; what follows it (the top memory) is one scroll away.
"""

from __future__ import annotations

# The grid's width beside the sidebar on a 1440-px screen (the browser test measures it).
GRID_WIDTH_AT_1440 = 978

# Above the grid's wrapping threshold (4 rem): three lines of text per row, so a long why or title wraps
# instead of being cut off.
ROW_HEIGHT = 66

# Today's ranked items: column -> width in pixels, in the order shown.
ITEM_COLUMNS: dict[str, int] = {
    "open": 52,
    "rank": 44,
    "badge": 104,
    "title": 170,
    "owner": 150,
    "due_date": 88,
    "why": 370,
    "top_atom": 400,
}

# The follow-ups below them, with their why in view the same way.
FOLLOW_UP_COLUMNS: dict[str, int] = {
    "open": 52,
    "due_at": 128,
    "kind": 150,
    "label": 180,
    "owner": 150,
    "reason": 318,
}


def width_through(columns: dict[str, int], last: str) -> int:
    """The pixels the columns take from the first up to and including `last`."""
    names = list(columns)
    return sum(columns[name] for name in names[: names.index(last) + 1])
