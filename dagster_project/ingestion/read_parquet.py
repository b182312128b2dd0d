"""Reading a Parquet file: its footer and columns checked, then row ranges DuckDB reads itself."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dagster_project.contract.events import ENVELOPE_FIELDS
from dagster_project.ingestion.batches import ParquetRows, RecordBatch, batch_bounds, check_header
from dagster_project.ingestion.files import (
    GZIP_MAX_RATIO,
    GZIP_RATIO_FLOOR,
    UnreadableFile,
    bomb_detail,
    open_inbox_file,
)


def parquet_batches(path: Path) -> Iterator[RecordBatch]:
    """Row ranges of a Parquet file, after checking its footer and columns (DuckDB reads the rows).

    A file that fails to open is unreadable as a whole; so is one damaged part-way (DuckDB's read fails
    and the file's transaction rolls back, see `parsing`).
    """
    try:
        with open_inbox_file(path) as handle:
            parquet = pq.ParquetFile(handle)
            schema, meta, size = parquet.schema_arrow, parquet.metadata, os.fstat(handle.fileno()).st_size
    except (pa.ArrowException, OSError) as exc:
        raise UnreadableFile("unreadable_file", f"cannot read {path.name} as Parquet: {exc}") from exc
    # The footer's sizes are what the readers allocate by (a page that inflates past its declared size
    # fails to read): the same ratio limit as gzip, checked before a page is read.
    declared = sum(
        meta.row_group(g).column(c).total_uncompressed_size
        for g in range(meta.num_row_groups)
        for c in range(meta.num_columns)
    )
    limit = max(GZIP_RATIO_FLOOR, GZIP_MAX_RATIO * size)
    if declared > limit:
        raise UnreadableFile("unreadable_file", bomb_detail(path.name, limit))
    rows = meta.num_rows
    check_header(schema.names, path)
    for name in ENVELOPE_FIELDS:
        kind = schema.field(name).type
        if pa.types.is_nested(kind):
            raise UnreadableFile(
                "unreadable_file", f"cannot read {path.name} as Parquet: column {name} is {kind}, not text"
            )
    bounds = batch_bounds(rows)
    for start, end in bounds:
        yield ParquetRows(path, start, end - start, last=end == bounds[-1][1])
