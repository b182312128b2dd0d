"""A plain JSON Lines file is read and split a piece at a time, with the records (and the records that
might be lenient JSON) of reading it whole."""

from __future__ import annotations

import tempfile
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dagster_project.ingestion import read_jsonl
from dagster_project.ingestion.read_jsonl import json_batches

_LINES = st.lists(
    st.one_of(
        st.sampled_from(
            [
                b'{"a": 1}',
                b"",
                b"   ",
                b"\t\r",
                b"\x1c\x1d",
                b"\xc2\x85",  # NEL: whitespace to str.strip(), not to bytes.strip()
                b"\xe2\x80\x83x",
                b'{"a": [1,]}',
                b'{"a": NaN}',
                b'{"b": Infinity }',
                b'{"c": 1,',
                b"}",
                b",",
                b"\xff\xfe",
                b'  {"d": "caf\xc3\xa9"}  ',
                b"\r",
            ]
        ),
        st.binary(max_size=12),
    ),
    max_size=40,
)


def _whole(path: Path) -> tuple[list[bytes], list[int]]:
    batch = next(json_batches(path, compressed=False, data=path.read_bytes()))
    return batch.records, batch.lenient_records()


@settings(max_examples=150, deadline=None)
@given(
    lines=_LINES, bom=st.booleans(), ending=st.sampled_from([b"", b"\n", b"\n\n"]), chunk=st.integers(1, 40)
)
def test_a_plain_file_read_in_pieces_has_the_records_of_the_whole_file(
    lines: list[bytes], bom: bool, ending: bytes, chunk: int
) -> None:
    content = (b"\xef\xbb\xbf" if bom else b"") + b"\n".join(lines) + ending
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "events.jsonl"
        path.write_bytes(content)
        previous = read_jsonl._READ_CHUNK
        read_jsonl._READ_CHUNK = chunk
        try:
            batch = next(json_batches(path, compressed=False))
        finally:
            read_jsonl._READ_CHUNK = previous
        assert (batch.records, batch.lenient_records()) == _whole(path)


def test_a_plain_file_is_not_held_whole_beside_its_lines_while_it_is_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = b'{"event_id": "e", "payload": {"note": "' + b"x" * 4000 + b'"}}'
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join([record] * 1000) + b"\n")
    size = path.stat().st_size
    monkeypatch.setattr(read_jsonl, "_READ_CHUNK", 64 << 10, raising=False)
    tracemalloc.start()
    try:
        batch = next(json_batches(path, compressed=False))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert batch.height == 1000
    # the records themselves are the file's size; reading it whole first held it twice
    assert peak < 1.5 * size
