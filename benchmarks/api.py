"""Read-API latency on a published snapshot: card 200, card 304 (If-None-Match), search, Today panel.

Requests go in-process through httpx to the ASGI app (FastAPI's TestClient), one at a time, without a
network. Two numbers per kind: the client's (including the test transport: its anyio portal and
threadpool hops; `noop`, an empty route, shows that baseline) and the app's own time inside ASGI
(routing, validation, DuckDB, JSON). Up to `--cards` cards are
drawn from `marts.memory_cards`, search terms from random atoms' contents. Not a test: nothing is
asserted. A JSON line closes the output.

Usage: python -m benchmarks.api HOME [--cards 200] [--searches 200] [--rounds 3]
       python -m benchmarks.api HOME --synthetic-atoms 200000   # first write a synthetic snapshot

`--synthetic-atoms N` writes `HOME/serving.duckdb` with N atoms over 3 orgs (roughly what a 1M-event
history leaves live), cards aggregated from them with the real budgets, a Today panel and the BM25
index, for when no pipeline-built snapshot with memory marts is at hand.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import time
from pathlib import Path

import duckdb
from fastapi.responses import Response
from fastapi.testclient import TestClient

from benchmarks.record import save, snapshot_events
from dagster_project.access import add_user
from dagster_project.api import create_app
from dagster_project.memory.search import build_index
from dagster_project.settings import HomePaths, default_clock

STOPWORDS = {"with", "from", "that", "this", "have", "will", "about", "their", "they", "were", "been"}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(name: str, times_s: list[tuple[float, float]]) -> dict:
    client = [t[0] * 1000 for t in times_s]
    server = [t[1] * 1000 for t in times_s]
    return {
        "name": name,
        "n": len(client),
        "p50_ms": round(statistics.median(client), 3),
        "p99_ms": round(_pct(client, 0.99), 3),
        "max_ms": round(max(client), 3),
        "server_p50_ms": round(statistics.median(server), 3),
        "server_p99_ms": round(_pct(server, 0.99), 3),
    }


class ServerTimer:
    """ASGI middleware: the app's own time per request (routing, validation, handler, JSON), the part a
    real server adds on top of HTTP parsing; the client-side numbers include the test transport."""

    def __init__(self, app) -> None:
        self.app = app
        self.last = 0.0

    async def __call__(self, scope, receive, send) -> None:
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.last = time.perf_counter() - started


def _timed(client: TestClient, timer: ServerTimer, url: str, expect: int, **kwargs) -> tuple[float, float]:
    started = time.perf_counter()
    r = client.get(url, **kwargs)
    elapsed = time.perf_counter() - started
    if r.status_code != expect:
        raise SystemExit(f"{url}: expected {expect}, got {r.status_code}: {r.text[:200]}")
    return elapsed, timer.last


def sample(serving: Path, cards: int, searches: int, seed: int) -> tuple[list[tuple], list[tuple], list[str]]:
    """(org, entity_type, entity_id, etag) cards, (org, query) searches and the orgs, from the snapshot."""
    con = duckdb.connect(str(serving), read_only=True)
    try:
        con.execute(f"select setseed({(seed % 1000) / 1000})")
        card_rows = con.execute(
            "select org_id, entity_type, entity_id, etag from marts.memory_cards order by random() limit ?",
            [cards],
        ).fetchall()
        atom_rows = con.execute(
            "select org_id, content from marts.memory_atoms order by random() limit ?", [searches]
        ).fetchall()
        orgs = [
            r[0] for r in con.execute("select distinct org_id from marts.today_panel order by 1").fetchall()
        ]
    finally:
        con.close()
    rng = random.Random(seed)
    queries = []
    for org, content in atom_rows:
        words = [w for w in re.findall(r"[a-z]{4,}", content.lower()) if w not in STOPWORDS] or ["pricing"]
        queries.append((org, " ".join(rng.sample(words, min(len(words), rng.choice((1, 2)))))))
    return card_rows, queries, orgs


def run(home: Path, cards: int, searches: int, rounds: int, seed: int) -> dict:
    paths = HomePaths(home.resolve())
    card_rows, queries, orgs = sample(paths.serving, cards, searches, seed)
    if not card_rows:
        raise SystemExit(f"{paths.serving} has no memory cards")
    results: dict[str, list[tuple[float, float]]] = {
        "noop": [],
        "card_200": [],
        "card_304": [],
        "card_304_cold": [],
        "search": [],
        "today": [],
    }
    app = create_app(paths.home)
    app.add_api_route("/__noop", lambda: Response(b""), include_in_schema=False)  # transport baseline
    timer = ServerTimer(app)
    # Every org route needs a token: an admin's (every org), short-lived, as `workstream users add` makes.
    _principal, _token_id, token = add_user(
        paths.home, "api-benchmark@example.invalid", "admin", now=default_clock().now(),
        expires_in_days=1, actor="benchmark",
    )  # fmt: skip
    with TestClient(timer, headers={"Authorization": f"Bearer {token}"}) as client:
        version = client.get("/health").json()["snapshot_version"]
        org, et, eid, _ = card_rows[0]
        for _ in range(20):  # warm up: open the snapshot, load fts, fill caches
            client.get(f"/orgs/{org}/cards/{et}/{eid}")
            client.get(f"/orgs/{queries[0][0]}/search", params={"q": queries[0][1]})
        for org, et, eid, etag in card_rows:  # revalidations of cards this process has not served yet
            url = f"/orgs/{org}/cards/{et}/{eid}"
            headers = {"If-None-Match": etag}
            results["card_304_cold"].append(_timed(client, timer, url, 304, headers=headers))
        app.state.store.fresh_version().etags.clear()  # forget them: the 200s below start cold
        for _ in range(rounds):
            for org, et, eid, etag in card_rows:
                url = f"/orgs/{org}/cards/{et}/{eid}"
                results["noop"].append(_timed(client, timer, "/__noop", 200))
                results["card_200"].append(_timed(client, timer, url, 200))
                results["card_304"].append(_timed(client, timer, url, 304, headers={"If-None-Match": etag}))
        for org, q in queries:
            results["search"].append(_timed(client, timer, f"/orgs/{org}/search", 200, params={"q": q}))
        for _ in range(rounds * 5):
            for org in orgs:
                results["today"].append(_timed(client, timer, f"/orgs/{org}/today", 200))
    summaries = [_summary(name, times) for name, times in results.items() if times]
    return {
        "benchmark": "api",
        "home": str(paths.home),
        "snapshot_version": version,
        "cards": len(card_rows),
        "searches": len(queries),
        "rounds": rounds,
        "results": {s.pop("name"): s for s in summaries},
    }


# --- synthetic snapshot ---------------------------------------------------------------------------------

_PREFIXES = [
    "price",
    "budg",
    "deliv",
    "contr",
    "renew",
    "compet",
    "legal",
    "timel",
    "scope",
    "proc",
    "secur",
    "integr",
    "migr",
    "supp",
    "train",
]
_SUFFIXES = [
    "al",
    "ing",
    "ment",
    "ion",
    "er",
    "ure",
    "ity",
    "ance",
    "ive",
    "ory",
    "ics",
    "ward",
    "ship",
    "hood",
    "ness",
]


def write_synthetic(home: Path, atoms: int, seed: int = 7) -> Path:
    """A snapshot with `atoms` live atoms over 3 orgs, their cards (contract budgets), a Today panel and the
    search index; swapped in with os.replace like a publish."""
    paths = HomePaths(home.resolve()).ensure()
    tmp = paths.home / ".serving-synthetic.duckdb"
    tmp.unlink(missing_ok=True)
    words = [p + s for p in _PREFIXES for s in _SUFFIXES]  # 225 words, drawn Zipf-like below
    con = duckdb.connect(str(tmp))
    try:
        con.execute(f"select setseed({(seed % 1000) / 1000})")
        con.execute("create schema marts")
        con.execute(
            """create table marts.memory_atoms as
               with base as (
                   select i, 'org-' || (i % 3) as org_id,
                          ['signal', 'candidate', 'pursuit'][1 + (hash(i, 1) % 3)::int] as entity_type,
                          (i // 3) // 4 as entity_n,
                          ['decision', 'risk', 'preference', 'note', 'status'][1 + (hash(i, 2) % 5)::int]
                              as atom_type
                   from range($n) t(i)
               )
               select org_id, 'atom-' || i as atom_id, entity_type,
                      left(entity_type, 1) || '-' || entity_n as entity_id,
                      'cl-' || (entity_n // 10) as client_id, atom_type,
                      array_to_string(list_transform(range(8 + (hash(i, 3) % 18)::int),
                          x -> $words[1 + floor(pow(random(), 2) * len($words))::int]), ' ') as content,
                      timestamptz '2026-11-27 17:00:00+00' - to_seconds((hash(i, 4) % 31536000)::bigint)
                          as occurred_at,
                      1 as version,
                      round(random() * 100, 3) as relevance
               from base""",
            {"n": atoms, "words": words},
        )
        con.execute(
            """create table marts.memory_cards as
               with membership as (
                   select org_id, entity_type as card_type, entity_id as card_id, atom_id from marts.memory_atoms
                   union
                   select org_id, 'client', client_id, atom_id from marts.memory_atoms
               ),
               card_atoms as (
                   select m.card_type, m.card_id, a.*,
                          json_object('atom_id', a.atom_id, 'atom_type', a.atom_type,
                                      'content', left(a.content, 300),
                                      'occurred_at', strftime(timezone('UTC', a.occurred_at),
                                                              '%Y-%m-%dT%H:%M:%S.%fZ')) as item
                   from membership m join marts.memory_atoms a using (org_id, atom_id)
               ),
               ranked as (
                   select *,
                          row_number() over (partition by org_id, card_type, card_id
                                             order by relevance desc, atom_id) as top_rank,
                          row_number() over (partition by org_id, card_type, card_id
                                             order by occurred_at desc, atom_id) as recent_rank,
                          row_number() over (partition by org_id, card_type, card_id,
                                             atom_type in ('preference', 'decision')
                                             order by relevance desc, atom_id) as fact_rank,
                          row_number() over (partition by org_id, card_type, card_id, atom_type
                                             order by relevance desc, atom_id) as type_rank
                   from card_atoms
               ),
               cards as (
                   select org_id, card_type as entity_type, card_id as entity_id,
                          coalesce(to_json(list(item order by relevance desc, atom_id) filter (
                              where atom_type in ('preference', 'decision') and fact_rank <= 5)),
                              '[]'::json) as key_facts,
                          coalesce(to_json(list(item order by occurred_at desc, atom_id)
                              filter (where recent_rank <= 3)), '[]'::json) as recent_activity,
                          coalesce(to_json(list(item order by relevance desc, atom_id)
                              filter (where atom_type = 'decision' and type_rank <= 3)), '[]'::json)
                              as decisions,
                          coalesce(to_json(list(item order by relevance desc, atom_id)
                              filter (where atom_type = 'risk' and type_rank <= 3)), '[]'::json) as risks,
                          coalesce(to_json(list(item order by relevance desc, atom_id)
                              filter (where top_rank <= 10)), '[]'::json) as top_atoms,
                          count(*) as atoms_total, sum(version)::bigint as version
                   from ranked group by all
               )
               select *, '"' || md5(key_facts::varchar || recent_activity::varchar || decisions::varchar
                                    || risks::varchar || top_atoms::varchar) || '"' as etag,
                      timestamptz '2026-11-27 17:00:00+00' as built_at
               from cards"""
        )
        con.execute(
            """create table marts.today_panel as
               with items as (
                   select 'org-' || (i % 3) as org_id, case when i % 2 = 0 then 'pursuit' else 'candidate' end
                          as item_type, 'item-' || i as item_id, random() * 100 as priority_score, i
                   from range(greatest($n // 20, 10)) t(i)
               )
               select org_id, item_type, item_id, 'Item ' || i as label, 'qual' as state,
                      'owner-' || (i % 12) as owner, date '2026-12-01' + (i % 60)::int as due_date,
                      timestamptz '2026-11-27 17:00:00+00' - to_hours(i % 500) as last_touch_at,
                      (i % 500)::double as hours_since_touch, ['tag-' || (i % 7)] as tags, 'med' as value_band,
                      (1000 * (i % 90))::double as forecast_value_usd, null::varchar as sla_metric,
                      null::varchar as badge, 10.0 as urgency_points, 5.0 as value_points, 3.0 as stage_points,
                      0.0 as compliance_points, -1.0 as workload_points, priority_score,
                      case when priority_score >= 75 then 'critical' when priority_score >= 50 then 'high'
                           when priority_score >= 25 then 'medium' else 'low' end as priority_tier,
                      row_number() over (partition by org_id order by priority_score desc, item_id) as rank,
                      'synthetic' as why, timestamptz '2026-11-27 17:00:00+00' as built_at
               from items""",
            {"n": atoms},
        )
        con.execute(
            "create table marts.snapshot_info as select 'synthetic-' || ? as snapshot_version, "
            "timestamptz '2026-11-27 17:00:00+00' as built_at, now() as published_at, 0::bigint as events",
            [str(atoms)],
        )
        build_index(con)
    finally:
        con.close()
    os.replace(tmp, paths.serving)
    return paths.serving


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("home", type=Path)
    parser.add_argument("--cards", type=int, default=200, help="Cards to request (at most).")
    parser.add_argument("--searches", type=int, default=200, help="Search requests.")
    parser.add_argument("--rounds", type=int, default=3, help="Passes over the cards.")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--synthetic-atoms", type=int, default=0, help="First write a synthetic snapshot with N atoms."
    )
    args = parser.parse_args(argv)
    if args.synthetic_atoms:
        started = time.perf_counter()
        path = write_synthetic(args.home, args.synthetic_atoms, args.seed)
        print(f"wrote {path} ({args.synthetic_atoms:,} atoms) in {time.perf_counter() - started:.1f} s")
    out = run(args.home, args.cards, args.searches, args.rounds, args.seed)
    print(f"snapshot {out['snapshot_version']}: {out['cards']} cards, {out['searches']} searches")
    for name, s in out["results"].items():
        print(
            f"{name:>9}  n={s['n']:<5} client p50 {s['p50_ms']:7.2f} ms  p99 {s['p99_ms']:7.2f} ms   "
            f"app p50 {s['server_p50_ms']:7.2f} ms  p99 {s['server_p99_ms']:7.2f} ms"
        )
    events = snapshot_events(HomePaths(args.home.resolve()).serving)
    out = json.loads(save(f"api-{events}", out, size=events).read_text())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
