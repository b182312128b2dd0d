"""Data shaping behind the pages: query results in, what a page shows out (no widgets, no SQL)."""
