"""Scrubbing the quarantine tries on each row only the erasures that can change it, with the very result of
trying every erasure on every row (which cost jobs × rows decodes: it grew with the square of the history)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import duckdb
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from dagster_project.memory.quarantine_scrub import scrub_quarantine
from dagster_project.memory.text_scrub import SecretFinder, judged_layers, scrub_text
from dagster_project.warehouse.store import ensure_raw_schema

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
# A small alphabet, so that secrets occur in texts (and overlap, and sit in each other) often.
TEXT = st.text(alphabet='ab,\\"u0', max_size=40)


SECRET = st.text(alphabet='ab,\\"u0', min_size=1, max_size=12)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(secrets=st.lists(SECRET, min_size=1, max_size=8, unique=True), data=st.data())
def test_the_finder_finds_exactly_the_secrets_a_text_holds(secrets: list[str], data: st.DataObject) -> None:
    # Texts made of secrets and other text, so secrets sit at the start, the end, across each other.
    piece = st.one_of(TEXT, st.sampled_from(secrets))
    texts = data.draw(st.lists(st.lists(piece, max_size=4).map("".join), max_size=3))
    assert SecretFinder(set(secrets)).found(texts) == {s for s in secrets if any(s in t for t in texts)}


def test_a_secret_in_any_encoding_is_in_a_judged_layer_and_a_text_without_one_is_left_as_it_is() -> None:
    secret = "Köln, secret"
    escaped = orjson.dumps({"payload": orjson.dumps({"text": secret}).decode()}).decode()
    ragged = orjson.dumps({"csv_row": ["x Köln", " secret y"]}).decode()  # a CSV row cut at its comma
    hidden = (escaped.replace("ö", "\\u00f6"), ragged)  # neither holds the secret's own characters
    assert not any(secret in text for text in hidden)
    for text in (escaped, *hidden):
        assert any(secret in layer for layer in judged_layers(text)), text
        assert scrub_text(text, {secret}, "[x]") != text
    clean = orjson.dumps({"payload": orjson.dumps({"text": "Köln, other"}).decode()}).decode()
    assert not any(secret in layer for layer in judged_layers(clean))
    assert scrub_text(clean, {secret}, "[x]") == clean


def _naive(rows: list[tuple], jobs: list) -> tuple[dict[int, list], list[int]]:
    """Every job tried on every row, in order: what `scrub_quarantine` did before."""
    current = {rowid: [raw, detail] for rowid, _, _, raw, detail in rows}
    counts = [0] * len(jobs)
    for j, (secrets, copies, replacement) in enumerate(jobs):
        for rowid, org_id, event_id, _, _ in rows:
            raw, detail = current[rowid]
            fields = copies.get((org_id, event_id), ())
            if not secrets and not fields:
                continue
            new_raw = scrub_text(raw, secrets, replacement, payload_fields=fields) if raw else raw
            new_detail = scrub_text(detail, secrets, replacement) if detail else detail
            if (new_raw, new_detail) != (raw, detail):
                current[rowid] = [new_raw, new_detail]
                counts[j] += 1
    return current, counts


def _rows(rng: random.Random, secrets: list[str]) -> list[tuple[str, str, str | None, str | None]]:
    """Quarantined lines holding the secrets as a user's input may: plain, JSON-escaped, doubly escaped
    inside a CSV row's payload, split at a comma, in a broken line, in the detail, or not at all."""
    out = []
    for n in range(60):
        s = rng.choice(secrets)
        other = rng.choice(secrets)
        shape = n % 7
        if shape == 0:
            raw = orjson.dumps({"event_id": f"e{n}", "payload": {"text": f"note: {s}"}}).decode()
        elif shape == 1:
            raw = (
                orjson.dumps({"payload": orjson.dumps({"text": s}).decode()}).decode().replace("ö", "\\u00f6")
            )
        elif shape == 2:
            half = max(1, len(s) // 2)
            raw = orjson.dumps({"csv_row": [f"x {s[:half]}", f"{s[half:]} y"]}).decode()
        elif shape == 3:
            raw = '{"text": "' + s.replace('"', '\\"') + ", and " + other + '"'  # broken: no closing brace
        elif shape == 4:
            raw = orjson.dumps(
                {"event_id": f"copy-{n % 3}", "payload": {"text": "words of its own"}}
            ).decode()
        elif shape == 5:
            raw = f"plain {s} and {other}"
        else:
            raw = orjson.dumps({"payload": {"text": "nothing to see"}}).decode()
        detail = f"line said {other}" if n % 4 == 0 else None
        event_id = f"copy-{n % 3}" if shape == 4 else f"e{n}"
        out.append(("acme", event_id, raw, detail))
    return out


def test_scrubbing_the_quarantine_gives_what_trying_every_job_on_every_row_gives(tmp_path) -> None:
    rng = random.Random(5)
    secrets = ["Köln meeting", "budget owner leaves", "call Ann on 555", "owner", "Köln", "555 0100 secret"]
    jobs = []
    for j in range(12):
        picked = set(rng.sample(secrets, rng.randint(0, 2)))
        copies = {("acme", f"copy-{j % 3}"): ("text",)} if j % 4 == 0 else {}
        jobs.append((picked, copies, f"[redacted: job-{j}]"))
    rows = _rows(rng, secrets)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_raw_schema(con)
    for n, (org_id, event_id, raw, detail) in enumerate(rows):
        con.execute(
            "insert into raw.quarantine values (?, 'bad.jsonl', ?, 'bad_json', ?, ?, ?, ?, ?)",
            [f"h{n}", n + 1, detail, raw, org_id, event_id, NOW],
        )
    read = "select rowid, org_id, event_id, raw, detail from raw.quarantine order by rowid"
    before = con.execute(read).fetchall()
    want, want_counts = _naive(before, jobs)

    counts = scrub_quarantine(con, jobs)

    got = {rowid: [raw, detail] for rowid, _, _, raw, detail in con.execute(read).fetchall()}
    assert got == want
    assert counts == want_counts
    assert sum(counts) > 10  # the case is not empty: many rows changed, by several jobs
