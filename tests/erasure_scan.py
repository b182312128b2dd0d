"""Find planted secrets anywhere under a home folder, in every format it may hold, decoded.

Erasure tests plant unique texts, erase them, and ask this scan where they still are. A file is judged
by its content, not its name (a leftover `.serving-*.duckdb`, a `.wal`, a `-wal` are files too):
DuckDB files (opened from a copy with their WAL, so the WAL's rows are replayed, every table of every
schema read as text), Parquet (read, so its compression is undone), SQLite (dumped, from a copy with
its `-wal`), gzip (decompressed, then judged again) and everything as plain bytes. Every text is also
searched after undoing JSON escapes (`\\u00f6`, `\\"`) and CSV quote doubling, layer by layer, so a
secret stored escaped still counts.
"""

from __future__ import annotations

import gzip
import re
import shutil
import sqlite3
import tempfile
import zlib
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

_JSON_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|[\"\\/bfnrt])")
_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _unescape_once(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        return chr(int(code[1:], 16)) if code[0] == "u" else _SIMPLE[code]

    # Surrogate pairs come out as two lone surrogates: join them into the character they encode.
    decoded = _JSON_ESCAPE.sub(one, text.replace('""', '"'))
    return decoded.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def decoded_layers(text: str) -> list[str]:
    """The text and each successive unescaping of it (JSON escapes, CSV quote doubling)."""
    layers = [text]
    for _ in range(4):
        nxt = _unescape_once(layers[-1])
        if nxt == layers[-1]:
            break
        layers.append(nxt)
    return layers


def _found(where: str, text: str, secrets: list[str]) -> list[tuple[str, str]]:
    layers = decoded_layers(text)
    return [(where, s) for s in secrets if any(s in layer for layer in layers)]


def _duckdb_text(path: Path) -> list[tuple[str, str]]:
    """(schema.table, all its values as text) for every base table; read from a copy with the WAL."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "scan.duckdb"
        shutil.copyfile(path, copy)
        wal = Path(f"{path}.wal")
        if wal.exists():
            shutil.copyfile(wal, Path(f"{copy}.wal"))
        con = duckdb.connect(str(copy))
        try:
            tables = con.execute(
                "select table_catalog, table_schema, table_name from information_schema.tables "
                "where table_type = 'BASE TABLE'"
            ).fetchall()
            out = []
            for catalog, schema, table in tables:
                name = f'"{catalog}"."{schema}"."{table}"'
                rows = con.execute(f"select cast(columns(*) as varchar) from {name}").fetchall()
                out.append(
                    (f"{schema}.{table}", " ".join(str(v) for row in rows for v in row if v is not None))
                )
            return out
        finally:
            con.close()


def _sqlite_text(path: Path) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "scan.sqlite"
        shutil.copyfile(path, copy)
        for suffix in ("-wal", "-shm"):
            side = Path(f"{path}{suffix}")
            if side.exists():
                shutil.copyfile(side, Path(f"{copy}{suffix}"))
        con = sqlite3.connect(copy)
        try:
            return "\n".join(con.iterdump())
        finally:
            con.close()


def _hits_in_bytes(where: str, data: bytes, secrets: list[str]) -> list[tuple[str, str]]:
    found = _found(f"{where}:bytes", data.decode("utf-8", "replace"), secrets)
    if data[:2] == b"\x1f\x8b":
        try:
            inner = gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            inner = b""
        found += _hits_in_bytes(f"{where}:gzip", inner, secrets)
    return found


def hits_everywhere(home: Path, secrets: list[str]) -> list[str]:
    """Where under `home` each secret still is (`<file>:<format>[:<table>]:<secret>`); empty when nowhere."""
    return [f"{where}:{secret}" for where, secret in _scan(home, secrets)]


def hits_per_group(home: Path, groups: dict[str, list[str]]) -> dict[str, list[str]]:
    """`hits_everywhere` for each group of secrets, from one scan of the home: a scan reads and decodes
    every file, whatever the number of secrets it looks for."""
    hits = _scan(home, list(dict.fromkeys(s for secrets in groups.values() for s in secrets)))
    return {
        name: [f"{where}:{secret}" for where, secret in hits if secret in secrets]
        for name, secrets in groups.items()
    }


def _scan(home: Path, secrets: list[str]) -> list[tuple[str, str]]:
    """(where, secret) for each place under `home` a secret still is."""
    found: list[tuple[str, str]] = []
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        data = path.read_bytes()
        found += _hits_in_bytes(str(path), data, secrets)
        if data[8:12] == b"DUCK":
            for table, text in _duckdb_text(path):
                found += _found(f"{path}:duckdb:{table}", text, secrets)
        elif data[:4] == b"PAR1":
            rows = pq.read_table(path).to_pylist()
            text = " ".join(str(v) for row in rows for v in row.values() if v is not None)
            found += _found(f"{path}:parquet", text, secrets)
        elif data.startswith(b"SQLite format 3"):
            found += _found(f"{path}:sqlite", _sqlite_text(path), secrets)
    return found
