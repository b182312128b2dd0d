"""The demo-data generator: deterministic bytes, every event and format, business hours, exact bad lines.

Bad lines are checked against a small reference validator written here from the contract (not the
project's ingest), which also proves each bad record is wrong for exactly one reason.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import tracemalloc
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from dagster_project.contract.events import (
    ENVELOPE_FIELDS,
    EVENT_NAMES,
    EVENTS,
    MAX_ID_LENGTH,
    MAX_INTEGER,
    MAX_NESTING,
    MIN_INTEGER,
    ORG_ID_PATTERN,
    Reason,
)
from dagster_project.generator import LINE_REASONS, MANIFEST_NAME, default_files, generate

END = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
INGEST_CLOCK = END + timedelta(days=1)
TS = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})?$")
ORG_RE = re.compile(ORG_ID_PATTERN)
SUFFIXES = ("jsonl", "jsonl.gz", "csv", "parquet")


# --- reading the files back -----------------------------------------------------------------------
def read_records(path: Path) -> list[tuple[str, Any]]:
    """Each record of a file as (format family, raw record): JSONL bytes, CSV row list, Parquet dict."""
    name = path.name
    if name.endswith((".jsonl", ".jsonl.gz")):
        data = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
        return [("jsonl", line) for line in data.split(b"\n") if line.strip()]
    if name.endswith(".csv"):
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
        assert tuple(rows[0]) == ENVELOPE_FIELDS
        return [("csv", row) for row in rows[1:]]
    table = pq.read_table(path)
    assert table.column_names == list(ENVELOPE_FIELDS)
    assert all(str(t) == "string" for t in table.schema.types)
    return [("parquet", row) for row in table.to_pylist()]


def parse_ts(value: str) -> tuple[datetime | None, str | None]:
    """(aware datetime, None) or (None, the reason it is not one)."""
    m = TS.match(value)
    if not m:
        return None, Reason.BAD_TIMESTAMP
    try:
        datetime.fromisoformat(value[:19] + (m.group(7) or ""))  # field ranges (month 13, Feb 30, ...)
    except ValueError:
        return None, Reason.BAD_TIMESTAMP
    if m.group(8) is None:
        return None, Reason.NAIVE_TIMESTAMP
    return datetime.fromisoformat(value.replace("Z", "+00:00")), None


def _type_ok(kind: str, v: Any) -> bool:
    return {
        "str": lambda: isinstance(v, str),
        "number": lambda: isinstance(v, int | float) and not isinstance(v, bool),
        "int": lambda: isinstance(v, int) and not isinstance(v, bool),
        "bool": lambda: isinstance(v, bool),
        "list": lambda: isinstance(v, list),
        "object": lambda: isinstance(v, dict),
        "date": lambda: isinstance(v, str),
        "timestamp": lambda: isinstance(v, str),
        "json": lambda: True,
    }[kind]()


def _depth(text: str) -> int:
    """How deep arrays and objects nest, by walking the characters (strings skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            escaped, in_string = (False, True) if escaped else (ch == "\\", ch != '"')
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict:
    if len({k for k, _ in pairs}) != len(pairs):
        raise KeyError("duplicate key")
    return dict(pairs)


def _checked_int(text: str) -> int:
    if not MIN_INTEGER <= int(text) <= MAX_INTEGER:
        raise OverflowError(text)
    return int(text)


def _checked_float(text: str) -> float:
    if float(text) in (float("inf"), float("-inf")):
        raise OverflowError(text)
    return float(text)


def shape_reason(text: str, around: int) -> str | None:
    """The JSON text's shape fault, if any (`around`: levels around the payload, 1 for a JSONL record)."""
    if _depth(text) - around > MAX_NESTING:
        return Reason.TOO_DEEP
    try:
        json.loads(text, object_pairs_hook=_unique_pairs)
    except KeyError:
        return Reason.DUPLICATE_KEY
    except ValueError:
        return None  # not JSON: judged below
    try:
        json.loads(text, parse_int=_checked_int, parse_float=_checked_float)
    except OverflowError:
        return Reason.NUMBER_OVERFLOW
    return None


def record_reasons(family: str, raw: Any) -> tuple[set[str], dict | None]:
    """Every reason the record is invalid for (all of them, not the first), and the parsed event."""
    if family == "jsonl":
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return {Reason.BAD_ENCODING}, None
        if shape := shape_reason(text, around=1):
            return {shape}, None
        try:
            ev = json.loads(text)
        except ValueError:
            return {Reason.BAD_JSON}, None
        if not isinstance(ev, dict):
            return {Reason.BAD_JSON}, None
    else:
        if family == "csv":
            if len(raw) != len(ENVELOPE_FIELDS):
                return {Reason.MALFORMED_ROW}, None
            raw = dict(zip(ENVELOPE_FIELDS, raw, strict=True))
            raw["actor"] = raw["actor"] or None
        ev = dict(raw)
        if isinstance(ev["payload"], str):
            if shape := shape_reason(ev["payload"], around=0):
                return {shape}, None
            try:
                ev["payload"] = json.loads(ev["payload"])
            except ValueError:
                return {Reason.BAD_JSON}, None
    reasons: set[str] = set()
    for f in ("event_id", "org_id", "occurred_at", "event_name", "entity_type", "entity_id", "payload"):
        if ev.get(f) is None:
            reasons.add(Reason.MISSING_FIELD)
    for f in ("event_id", "org_id", "occurred_at", "event_name", "entity_type", "entity_id", "actor"):
        if ev.get(f) is not None and not isinstance(ev[f], str):
            reasons.add(Reason.WRONG_TYPE)
    payload = ev.get("payload")
    if payload is not None and not isinstance(payload, dict):
        reasons.add(Reason.WRONG_TYPE)
    if isinstance(ev.get("org_id"), str) and not ORG_RE.match(ev["org_id"]):
        reasons.add(Reason.BAD_ORG_ID)
    for f in ("event_id", "entity_id"):
        if isinstance(ev.get(f), str) and not 1 <= len(ev[f]) <= MAX_ID_LENGTH:
            reasons.add(Reason.BAD_ID)
    if isinstance(ev.get("occurred_at"), str):
        at, why = parse_ts(ev["occurred_at"])
        if why:
            reasons.add(why)
        elif at > INGEST_CLOCK + timedelta(minutes=5):
            reasons.add(Reason.FUTURE_TIMESTAMP)
    name = ev.get("event_name")
    if isinstance(name, str) and name not in EVENTS:
        reasons.add(Reason.UNKNOWN_EVENT)
    elif isinstance(name, str):
        spec = EVENTS[name]
        if isinstance(ev.get("entity_type"), str) and ev["entity_type"] not in spec.entity_types:
            reasons.add(Reason.ENTITY_TYPE_MISMATCH)
        if isinstance(payload, dict):
            for key, rule in spec.fields.items():
                v = payload.get(key)
                if v is None:
                    if rule.required:
                        reasons.add(Reason.MISSING_FIELD)
                    continue
                if not _type_ok(rule.kind, v):
                    reasons.add(Reason.WRONG_TYPE)
                elif (
                    (rule.choices is not None and v not in rule.choices)
                    or (rule.minimum is not None and v < rule.minimum)
                    or (rule.maximum is not None and v > rule.maximum)
                ):
                    reasons.add(Reason.OUT_OF_RANGE)
                elif rule.kind == "date":
                    date.fromisoformat(v)  # a generated date is always valid
    return reasons, ev


def canonical(ev: dict) -> tuple:
    at = parse_ts(ev["occurred_at"])[0].astimezone(UTC)
    return (at, *(ev[f] for f in ENVELOPE_FIELDS[3:7]), json.dumps(ev["payload"], sort_keys=True))


def ingest_like(out: Path) -> tuple[dict[str, Counter], list[dict], list[set[str]]]:
    """Per file: Counter of accepted / duplicate / reasons; the accepted events; every record's reasons."""
    per_file: dict[str, Counter] = {}
    accepted: list[dict] = []
    seen: dict[tuple[str, str], tuple] = {}
    all_reasons: list[set[str]] = []
    for path in sorted(p for p in out.iterdir() if not p.name.startswith(".")):
        counts: Counter = Counter()
        for family, raw in read_records(path):
            reasons, ev = record_reasons(family, raw)
            if not reasons:
                key, content = (ev["org_id"], ev["event_id"]), canonical(ev)
                if key in seen:
                    reasons = set() if seen[key] == content else {Reason.CONFLICTING_DUPLICATE}
                    if not reasons:
                        counts["duplicates"] += 1
                        all_reasons.append(set())
                        continue
                else:
                    seen[key] = content
                    accepted.append(ev)
            all_reasons.append(reasons)
            if reasons:
                counts.update(reasons)
                counts["quarantined"] += 1
            else:
                counts["accepted"] += 1
        per_file[path.name] = counts
    return per_file, accepted, all_reasons


# --- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    out = tmp_path_factory.mktemp("demo")
    return out, generate(out, orgs=4, events=12_000, seed=11, bad_rate=0.02, end=END)


@pytest.fixture(scope="module")
def checked(demo: tuple[Path, Any]) -> tuple[dict[str, Counter], list[dict], list[set[str]]]:
    return ingest_like(demo[0])


# --- tests ----------------------------------------------------------------------------------------
def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    runs = {}
    for label, seed in (("a", 3), ("b", 3), ("c", 4)):
        out = tmp_path / label
        generate(out, orgs=3, events=3000, seed=seed, bad_rate=0.05, end=END, files=5)
        runs[label] = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    assert len(runs["a"]) == 6  # five files and the manifest
    assert runs["a"] == runs["b"]
    assert all(runs["a"][name] != runs["c"][name] for name in runs["a"] if name != MANIFEST_NAME)
    gz = runs["a"]["events-0002.jsonl.gz"]
    assert gz[4:8] == b"\0\0\0\0"  # gzip mtime 0


def test_every_event_name_appears(demo: tuple[Path, Any], checked: tuple) -> None:
    names = Counter(ev["event_name"] for ev in checked[1])
    assert set(names) == set(EVENT_NAMES)
    manifest = json.loads((demo[0] / MANIFEST_NAME).read_text())
    assert manifest["event_names"] == dict(sorted(names.items()))


def test_every_event_name_at_2000_events(tmp_path: Path) -> None:
    generate(tmp_path, orgs=3, events=2000, seed=1, end=END)
    names = {ev["event_name"] for ev in ingest_like(tmp_path)[1]}
    assert names == set(EVENT_NAMES)


def test_all_formats_written_and_readable(demo: tuple[Path, Any]) -> None:
    out, result = demo
    assert [p.name for p in result.files] == [f"events-{i:04d}.{s}" for i, s in enumerate(SUFFIXES, 1)]
    assert sorted(p.name for p in out.iterdir()) == sorted([MANIFEST_NAME, *(p.name for p in result.files)])
    for path in result.files:
        records = read_records(path)
        assert len(records) > 1000
        if path.name.endswith((".jsonl", ".jsonl.gz")):
            good = [ev for _, raw in records[:50] if (ev := record_reasons("jsonl", raw)[1])]
            assert good and all(list(ev) == list(ENVELOPE_FIELDS) for ev in good)


def test_timestamps_local_business_hours_with_offsets(demo: tuple[Path, Any], checked: tuple) -> None:
    offsets = set()
    for ev in checked[1]:
        at, why = parse_ts(ev["occurred_at"])
        assert why is None
        offsets.add(ev["occurred_at"][26:])
        assert at.weekday() < 5 and 8 <= at.hour < 18, ev["occurred_at"]  # local wall time of the org
        assert END - timedelta(days=121) <= at <= END
    assert {"Z", "-05:00", "-06:00", "+01:00", "+02:00", "+09:00"} <= offsets
    span = [parse_ts(ev["occurred_at"])[0] for ev in checked[1]]
    assert max(span) - min(span) > timedelta(days=110)


def test_files_are_not_time_sorted_and_orgs_split(demo: tuple[Path, Any]) -> None:
    manifest = json.loads((demo[0] / MANIFEST_NAME).read_text())
    for f in manifest["files"]:
        assert len(f["accepted_by_org"]) == 4
    records = read_records(demo[1].files[0])
    times = [ev["occurred_at"][:10] for _, raw in records[:500] if (ev := record_reasons("jsonl", raw)[1])]
    assert times != sorted(times)


def test_bad_lines_exact_and_one_reason_each(demo: tuple[Path, Any], checked: tuple) -> None:
    out, result = demo
    per_file, _, all_reasons = checked
    assert set(LINE_REASONS) == set(Reason.all()) - {Reason.UNREADABLE_FILE, Reason.BAD_HEADER}
    assert all(len(r) <= 1 for r in all_reasons)
    assert set(result.bad_lines) == set(LINE_REASONS) and all(n > 0 for n in result.bad_lines.values())
    assert result.identical_duplicates > 0
    assert result.lines == result.events + sum(result.bad_lines.values()) + result.identical_duplicates
    assert 0.015 < (result.lines - result.events) / result.events < 0.025
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["events"] == result.events and manifest["lines"] == result.lines
    for f in manifest["files"]:
        got = per_file[f["name"]]
        assert got["accepted"] == f["accepted"]
        assert got["duplicates"] == f["duplicates"]
        assert got["quarantined"] == f["quarantined"]
        assert f["lines"] == f["accepted"] + f["duplicates"] + f["quarantined"]
        assert {r: got[r] for r in LINE_REASONS if got[r]} == f["bad_lines"]
    assert sum(f["accepted"] for f in manifest["files"]) == result.events
    # format-bound kinds stay in formats that can express them
    by_name = {f["name"]: f for f in manifest["files"]}
    assert by_name["events-0003.csv"]["bad_lines"].get(Reason.BAD_ENCODING, 0) == 0
    assert by_name["events-0004.parquet"]["bad_lines"].get(Reason.MALFORMED_ROW, 0) == 0
    assert by_name["events-0001.jsonl"]["bad_lines"].get(Reason.MALFORMED_ROW, 0) == 0


def test_first_copy_is_the_original(checked: tuple) -> None:
    """Conflicting duplicates come after their original, so the accepted content is the clean one."""
    for ev in checked[1]:
        assert "revision" not in ev["payload"]
        assert not any(isinstance(v, str) and v.endswith("(resent)") for v in ev["payload"].values())


def test_bad_rate_does_not_change_valid_events(tmp_path: Path) -> None:
    generate(tmp_path / "clean", events=3000, seed=5, end=END)
    generate(tmp_path / "dirty", events=3000, seed=5, end=END, bad_rate=0.1)
    clean, dirty = ingest_like(tmp_path / "clean"), ingest_like(tmp_path / "dirty")
    key = lambda ev: (ev["org_id"], ev["event_id"])  # noqa: E731
    assert sorted(clean[1], key=key) == sorted(dirty[1], key=key)
    assert not any(clean[2])


class _Replay:
    """The contract's pursuit / candidate state machines, to check the stories' own bookkeeping."""

    CAND = {
        "new": {"triaged", "archived"},
        "triaged": {"nurture", "on_hold", "promoted", "archived"},
        "nurture": {"triaged", "on_hold", "promoted", "archived"},
        "on_hold": {"triaged", "nurture", "promoted", "archived"},
    }
    PURSUIT = {
        "qual": {"pink", "lost"},
        "pink": {"red", "qual", "lost"},
        "red": {"submit", "pink", "lost"},
        "submit": {"won", "lost"},
    }


def test_stories_are_coherent(checked: tuple) -> None:
    events = sorted(checked[1], key=lambda ev: (ev["org_id"], parse_ts(ev["occurred_at"])[0], ev["event_id"]))
    outcomes: Counter = Counter()
    by_org: dict[str, list[dict]] = defaultdict(list)
    for ev in events:
        by_org[ev["org_id"]].append(ev)
    for org, evs in by_org.items():
        warn = False
        pink = {
            "budget_confirmed",
            "technical_scope_defined",
            "decision_makers_identified",
            "timeline_agreed",
        }
        signals, atoms = set(), {}
        cand: dict[str, str] = {}
        pur: dict[str, dict] = {}
        for ev in evs:
            name, eid, p = ev["event_name"], ev["entity_id"], ev["payload"]
            if name == "config.changed":
                assert eid == org
                if p["key"] == "gate_mode":
                    warn = p["value"] == "warn"
                elif p["key"] == "checklist.pink.items":
                    pink = set(p["value"])
            elif name == "signal.created":
                signals.add(eid)
            elif name.startswith("signal."):
                assert eid in signals, ev
            elif name == "candidate.created":
                assert set(p["signal_ids"]) <= signals
                cand[eid] = "new"
            elif name in ("candidate.status_changed", "candidate.promoted"):
                to = p.get("to", "promoted")
                ok = to in _Replay.CAND.get(cand[eid], set())
                outcomes["ok" if ok else "rejected"] += 1
                if ok:
                    cand[eid] = to
                    if to == "promoted":
                        pur[p["pursuit_id"]] = {"stage": "qual", "pink": set(), "red": set(), "sent": False}
            elif name.startswith("pursuit."):
                st = pur[eid]  # a pursuit's events follow its promotion
                if name == "pursuit.checklist_item_set":
                    (st[p["checklist"]].add if p["done"] else st[p["checklist"]].discard)(p["item"])
                elif name == "pursuit.proposal_sent":
                    st["sent"] = True
                elif name == "pursuit.stage_changed":
                    cur, to = st["stage"], p["to"]
                    legal = to in _Replay.PURSUIT.get(cur, set())
                    gate = None
                    if legal and to == "submit" and not pink <= st["pink"]:
                        gate = "gate:pink_incomplete"
                    elif legal and cur == "submit" and len(st["red"]) < 4:
                        gate = "gate:red_incomplete"
                    elif legal and to == "won" and not st["sent"]:
                        gate = "gate:no_sent_proposal"
                    if not legal:
                        outcomes["illegal_transition"] += 1
                        assert cur in ("won", "lost") or not warn  # illegal moves only while enforcing
                    elif gate:
                        outcomes[gate] += 1
                        if warn:
                            st["stage"] = to
                    else:
                        outcomes["ok"] += 1
                        st["stage"] = to
            elif name == "memory.recorded":
                atoms[ev["event_id"]] = eid
            elif name in ("memory.redacted", "memory.corrected"):
                assert atoms[p["atom_id"]] == eid
    assert outcomes["ok"] > 20 * sum(v for k, v in outcomes.items() if k != "ok")
    assert (
        outcomes["illegal_transition"]
        and outcomes["gate:pink_incomplete"]
        and outcomes["gate:no_sent_proposal"]
    )
    assert outcomes["gate:red_incomplete"] == 0


def test_progress_reports_every_event(tmp_path: Path) -> None:
    calls: list[int] = []
    result = generate(tmp_path, events=12_000, end=END, progress=calls.append)
    assert sum(calls) == result.events and len(calls) >= 2
    assert 12_000 <= result.events < 12_200


def test_file_count_default_and_explicit(tmp_path: Path) -> None:
    assert default_files(10_000) == 4 and default_files(1_000_000) == 4 and default_files(2_600_000) == 10
    result = generate(tmp_path, events=1000, end=END, files=6, bad_rate=0.05)
    assert [p.name.split(".", 1)[1] for p in result.files] == [*SUFFIXES, "jsonl", "jsonl.gz"]
    assert all(p.exists() for p in result.files)
    per_file = ingest_like(tmp_path)[0]
    assert sum(c["accepted"] for c in per_file.values()) == result.events
    empty = generate(tmp_path / "empty", events=0, end=END)
    assert empty.events == 0 and all(p.exists() for p in empty.files)


def test_memory_stays_bounded(tmp_path: Path) -> None:
    """Streaming: holding 20k events would take over 20 MB of Python objects; the generator keeps ~2 MB."""
    generate(tmp_path / "warm-up", events=200, end=END)  # lazy imports inside pyarrow are not the point
    tracemalloc.start()
    try:
        result = generate(tmp_path / "big", events=20_000, orgs=3, end=END, files=8, bad_rate=0.01)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.events >= 20_000 and len(result.files) == 8
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


def test_span_days_spreads_the_same_events_over_a_longer_history(tmp_path: Path) -> None:
    spans = {}
    for days in (120, 480):
        out = tmp_path / str(days)
        result = generate(out, orgs=2, events=4000, seed=5, end=END, span_days=days)
        times = sorted(parse_ts(ev["occurred_at"])[0] for ev in ingest_like(out)[1])
        spans[days] = (times[0], times[-1], result.events)
        assert json.loads((out / MANIFEST_NAME).read_text())["span_days"] == days
    (first120, last120, n120), (first480, last480, n480) = spans[120], spans[480]
    assert first120 >= END - timedelta(days=121) and first480 >= END - timedelta(days=481)
    assert first480 < END - timedelta(days=300)  # the longer span really reaches further back
    assert last120 <= END + timedelta(days=1) and last480 <= END + timedelta(days=1)
    assert abs(n480 - n120) < 200  # the same size, at a quarter of the rate
    with pytest.raises(ValueError, match="span_days"):
        generate(tmp_path / "short", events=10, end=END, span_days=30)


def test_every_owner_and_actor_of_the_demo_is_a_named_user_and_a_former_rep_is_forgotten(
    checked: tuple,
) -> None:
    events = checked[1]
    named: dict[tuple[str, str], str] = {}
    erased: set[tuple[str, str]] = set()
    for ev in sorted(events, key=lambda e: (parse_ts(e["occurred_at"])[0].astimezone(UTC), e["event_id"])):
        key = (ev["org_id"], ev["entity_id"])
        if ev["event_name"] == "user.updated":
            named[key] = ev["payload"]["name"]
        elif ev["event_name"] == "user.erased":
            erased.add(key)
    people = {
        (ev["org_id"], who)
        for ev in events
        if ev["event_name"] not in ("user.updated", "user.erased")
        for who in (
            ev["actor"],
            (ev["payload"] or {}).get("owner"),
            (ev["payload"] or {}).get("capture_lead"),
        )
        if isinstance(who, str) and "@" in who and not ev["event_id"].startswith(f"evt-{ev['org_id']}-q")
    }
    assert people and people <= set(named) - erased
    # A name reads as one: "Maria Lopez" for maria.lopez@…, never the email again.
    assert all(name != user and " " in name for (_, user), name in named.items())
    assert len(erased) == len({org for org, _ in named}) and not erased & people
