"""The dbt project (dbt/): house rules read from the manifest, and end-to-end builds on a tiny warehouse."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from core_fixture import create_core_tables, fold_into_core
from raw_fixture import create_raw_tables, insert_events, insert_rows

from dagster_project.contract import seeds
from dagster_project.contract.events import FUNNEL_STAGE_PAIRS, PURSUIT_STAGES
from dagster_project.contract.states import CANDIDATE_CLOSED, CANDIDATE_STATES, PURSUIT_CLOSED
from dagster_project.lifecycle.store import CORE_TABLES

REPO = Path(__file__).resolve().parents[2]
DBT_DIR = REPO / "dbt"
_VENV_DBT = Path(sys.executable).parent / "dbt"
DBT_EXE = _VENV_DBT if _VENV_DBT.exists() else Path(shutil.which("dbt") or "dbt")

AS_OF = "2026-11-27T17:00:00+00:00"
EARLIER_AS_OF = "2026-11-22T00:00:00+00:00"

PAIRS = list(FUNNEL_STAGE_PAIRS)


# Where a dbt command leaves its partial parse for the next one with the same vars (see `run_dbt`): a
# folder the session's workers share, set by tests/dbt/conftest.py; None runs every command from its
# own target folder alone.
PARSE_CACHE: Path | None = None


def _copy_atomically(source: Path, target: Path) -> None:
    """Another worker's dbt reads the old file or the new one, never half of one."""
    scratch = target.parent / f".{target.name}-{os.getpid()}-{threading.get_ident()}"
    shutil.copy2(source, scratch)
    scratch.replace(target)


def run_dbt(
    args: list[str], *, warehouse: Path, target: Path, as_of: str | None = None, full_parse: bool = False
) -> str:
    """Run the venv's dbt on the project; fail the test with dbt's output if it fails.

    dbt parses the whole project unless its target folder holds a partial parse made with the same
    vars and connection settings. dbt runs in the warehouse's folder and is given its file name, so the
    settings are the same for every warehouse of that name; a new target folder starts from the partial
    parse the latest command with the same vars and file name left in `PARSE_CACHE`. dbt checks what it
    reads (its version, the profile, the vars, every file's checksum) and parses again what differs.
    `full_parse` starts from nothing: a parse of the whole project, with all its warnings."""
    cmd = [str(DBT_EXE), *args, "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR)]
    cmd += ["--target-path", str(target), "--log-path", str(target / "logs")]
    if as_of is not None:
        cmd += ["--vars", json.dumps({"as_of": as_of})]
    env = {
        **os.environ,
        "WORKSTREAM_WAREHOUSE": warehouse.name,
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_USE_COLORS": "false",
    }
    own = target / "partial_parse.msgpack"
    shared = PARSE_CACHE / f"{warehouse.name}-{as_of or 'no-vars'}.msgpack" if PARSE_CACHE else None
    if shared is not None and not full_parse and not own.exists() and shared.exists():
        target.mkdir(parents=True, exist_ok=True)
        _copy_atomically(shared, own)
    proc = subprocess.run(cmd, cwd=warehouse.parent, env=env, capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{output[-6000:]}"
    if shared is not None and own.exists():
        _copy_atomically(own, shared)
    return output


# --------------------------------------------------------------------------- the tiny warehouse


def _ev(org: str, n: int, at: str, name: str, entity_id: str, payload: dict[str, Any] | None = None):
    return {
        "org_id": org,
        "event_id": f"evt-{n}",  # the same ids in both orgs: event ids are unique per org only
        "occurred_at": at,
        "event_name": name,
        "entity_type": name.split(".")[0],
        "entity_id": entity_id,
        "actor": "rep@example.com",
        "payload": payload or {},
    }


# Org acme. Hand-computed at AS_OF (2026-11-27T17:00Z): signal->candidate 3 entered, 2 converted (24 h, 48 h);
# candidate->promoted 48 h; qual->pink 24 h; pink->red 36 h; red->submit entered, not converted by AS_OF.
ACME_EVENTS = [
    _ev("acme", 1, "2026-11-20T09:00:00+00:00", "signal.created", "sig-1", {"source_type": "email"}),
    _ev("acme", 2, "2026-11-20T10:00:00+00:00", "signal.created", "sig-2", {"source_type": "call"}),
    _ev("acme", 3, "2026-11-27T16:00:00+00:00", "signal.created", "sig-3", {"source_type": "web"}),
    _ev(
        "acme",
        4,
        "2026-11-21T09:00:00+00:00",
        "candidate.created",
        "cand-1",
        {"title": "Fleet", "signal_ids": ["sig-1"]},
    ),
    _ev("acme", 5, "2026-11-22T10:00:00+00:00", "candidate.updated", "cand-1", {"signal_ids": ["sig-2"]}),
    _ev("acme", 6, "2026-11-22T12:00:00+00:00", "candidate.status_changed", "cand-1", {"to": "triaged"}),
    _ev("acme", 7, "2026-11-23T09:00:00+00:00", "candidate.promoted", "cand-1", {"pursuit_id": "pur-1"}),
    _ev("acme", 8, "2026-11-24T09:00:00+00:00", "pursuit.stage_changed", "pur-1", {"to": "pink"}),
    _ev("acme", 9, "2026-11-25T21:00:00+00:00", "pursuit.stage_changed", "pur-1", {"to": "red"}),
    _ev("acme", 10, "2026-11-26T09:00:00+00:00", "pursuit.proposal_sent", "pur-1", {"proposal_id": "prop-1"}),
    # after AS_OF: must not count
    _ev(
        "acme",
        11,
        "2026-11-27T18:00:00+00:00",
        "candidate.created",
        "cand-2",
        {"title": "Late", "signal_ids": ["sig-3"]},
    ),
    _ev("acme", 12, "2026-11-27T20:00:00+00:00", "pursuit.stage_changed", "pur-1", {"to": "submit"}),
]

# Org globex reuses the ids sig-1, sig-2 and pur-1. If anything crossed orgs, acme's sig-2 would convert after
# 2 h (not 48 h) and acme's pur-1 would be lost. At AS_OF: signal->candidate 3 h and 1 h; qual->lost 24 h.
GLOBEX_EVENTS = [
    _ev("globex", 1, "2026-11-20T09:00:00+00:00", "signal.created", "sig-1", {"source_type": "ad"}),
    _ev("globex", 2, "2026-11-20T11:00:00+00:00", "signal.created", "sig-2", {"source_type": "note"}),
    _ev(
        "globex",
        3,
        "2026-11-20T12:00:00+00:00",
        "candidate.created",
        "cand-9",
        {"title": "Grid", "signal_ids": ["sig-1", "sig-2"]},
    ),
    _ev("globex", 4, "2026-11-21T08:00:00+00:00", "candidate.status_changed", "cand-9", {"to": "triaged"}),
    _ev("globex", 5, "2026-11-21T12:00:00+00:00", "candidate.promoted", "cand-9", {"pursuit_id": "pur-1"}),
    _ev(
        "globex",
        6,
        "2026-11-22T12:00:00+00:00",
        "pursuit.stage_changed",
        "pur-1",
        {"to": "lost", "reason_code": "price"},
    ),
]

LEDGER = [
    {"content_hash": "f1", "file": "acme.jsonl", "format": "jsonl", "lines": 14, "accepted": 12, "duplicates": 1,
     "quarantined": 1, "org_id": "acme", "status": "ok", "ingested_at": "2026-11-28T00:00:00+00:00"},
    {"content_hash": "f2", "file": "globex.csv", "format": "csv", "lines": 6, "accepted": 6, "duplicates": 0,
     "quarantined": 0, "org_id": "globex", "status": "ok", "ingested_at": "2026-11-28T00:00:00+00:00"},
    {"content_hash": "f3", "file": "broken.parquet", "format": "parquet", "lines": 0, "accepted": 0, "duplicates": 0,
     "quarantined": 0, "org_id": None, "status": "unreadable", "ingested_at": "2026-11-28T00:00:00+00:00"},
]  # fmt: skip
LEDGER_ORGS = [
    {k: row[k] for k in ("content_hash", "file", "org_id", "lines", "accepted", "duplicates", "quarantined")}
    for row in LEDGER
]
QUARANTINE = [
    {"content_hash": "f1", "file": "acme.jsonl", "line": 14, "reason": "invalid_json", "detail": "unexpected end",
     "raw": "{\"event_id\": ", "org_id": None, "event_id": None, "quarantined_at": "2026-11-28T00:00:00+00:00"},
    {"content_hash": "f3", "file": "broken.parquet", "line": 0, "reason": "unreadable_file", "detail": "not parquet",
     "raw": None, "org_id": None, "event_id": None, "quarantined_at": "2026-11-28T00:00:00+00:00"},
]  # fmt: skip


def make_warehouse(path: Path, as_of: str = AS_OF) -> Path:
    """The raw tables, plus the core tables the apply step would write for `as_of` (the fold of the events)."""
    with duckdb.connect(str(path)) as con:
        create_raw_tables(con)
        insert_events(con, ACME_EVENTS, source_file="acme.jsonl")
        insert_events(con, GLOBEX_EVENTS, source_file="globex.csv")
        insert_rows(con, "ingest_ledger", LEDGER)
        insert_rows(con, "ingest_ledger_orgs", LEDGER_ORGS)
        insert_rows(con, "quarantine", QUARANTINE)
        create_core_tables(con)
        fold_into_core(con, [*ACME_EVENTS, *GLOBEX_EVENTS], as_of=as_of)
    return path


def query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def funnel(warehouse: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cur = con.execute("select * from marts.funnel_velocity order by org_id, pair_order")
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    return {(r["org_id"], r["from_stage"], r["to_stage"]): r for r in rows}


# --------------------------------------------------------------------------- fixtures (dbt runs in parallel)

# The reference data and the models, no data tests: what `dbt seed` then `dbt run` build, in one command.
SEEDS_AND_MODELS = ["build", "--resource-type", "seed", "--resource-type", "model"]


@pytest.fixture(scope="module")
def dbt_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`dbt build` at AS_OF (the var), and the seeds and models at EARLIER_AS_OF with no var (the run
    clock row the apply writes), concurrently. The latter parses the whole project with no vars, as
    `dbt parse` does: its manifest is the one the house rules read."""
    root = tmp_path_factory.mktemp("dbt")
    earlier_target = root / "earlier_target"
    build_wh = make_warehouse(root / "warehouse.duckdb")
    earlier_wh = make_warehouse(root / "warehouse_earlier.duckdb", as_of=EARLIER_AS_OF)
    with ThreadPoolExecutor(max_workers=2) as pool:
        build = pool.submit(run_dbt, ["build"], warehouse=build_wh, target=root / "build_target", as_of=AS_OF)
        earlier = pool.submit(
            run_dbt, SEEDS_AND_MODELS, warehouse=earlier_wh, target=earlier_target, full_parse=True
        )
        outputs = {"build": build.result(), "earlier": earlier.result()}
    manifest = json.loads((earlier_target / "manifest.json").read_text())
    return {"manifest": manifest, "build_wh": build_wh, "earlier_wh": earlier_wh, "outputs": outputs}


@pytest.fixture(scope="module")
def manifest(dbt_runs: dict[str, Any]) -> dict[str, Any]:
    return dbt_runs["manifest"]


def _models(manifest: dict[str, Any], folder: str | None = None) -> list[dict[str, Any]]:
    nodes = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    return [n for n in nodes if folder is None or n["fqn"][1] == folder]


def _tests_on(manifest: dict[str, Any], unique_id: str) -> list[dict[str, Any]]:
    return [
        n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "test" and n.get("attached_node") == unique_id
    ]


# --------------------------------------------------------------------------- house rules (manifest lint)


def test_parse_needs_no_vars_and_raises_no_deprecations(dbt_runs: dict[str, Any]) -> None:
    for step in ("build", "earlier"):
        assert "deprecat" not in dbt_runs["outputs"][step].lower(), dbt_runs["outputs"][step]


def test_project_layout_has_no_python_and_no_packages() -> None:
    assert not (DBT_DIR / "packages.yml").exists()
    assert not (DBT_DIR / "dependencies.yml").exists()
    ignored = {DBT_DIR / "target", DBT_DIR / "logs", DBT_DIR / "dbt_packages"}
    py_files = [p for p in DBT_DIR.rglob("*.py") if not any(d in p.parents for d in ignored)]
    assert py_files == [], "dbt/ must hold no Python (it would join the `dbt` namespace package)"


def test_every_model_and_column_is_documented(manifest: dict[str, Any]) -> None:
    for model in _models(manifest):
        assert model["description"].strip(), f"{model['name']} has no description"
        assert model["columns"], f"{model['name']} documents no columns"
        for name, column in model["columns"].items():
            assert column["description"].strip(), f"{model['name']}.{name} has no description"


def test_sources_are_documented_and_tied_to_dagster_assets(manifest: dict[str, Any]) -> None:
    sources = {s["name"]: s for s in manifest["sources"].values() if s["source_name"] == "raw"}
    assert set(sources) == {"events", "quarantine", "ingest_ledger", "ingest_ledger_orgs"}
    for name, source in sources.items():
        assert source["schema"] == "raw"
        assert source["description"].strip()
        assert source["columns"] and all(c["description"].strip() for c in source["columns"].values())
        assert source["config"]["meta"]["dagster"]["asset_key"] == ["raw", name]


def test_core_sources_are_documented_and_tied_to_the_apply_assets(manifest: dict[str, Any]) -> None:
    sources = {s["name"]: s for s in manifest["sources"].values() if s["source_name"] == "core"}
    assert set(sources) == set(CORE_TABLES)
    for name, source in sources.items():
        assert source["schema"] == "core"
        assert source["description"].strip()
        assert source["columns"] and all(c["description"].strip() for c in source["columns"].values())
        assert source["config"]["meta"]["dagster"]["asset_key"] == ["core", name]


def test_control_sources_are_documented_and_tied_to_the_apply_assets(manifest: dict[str, Any]) -> None:
    """The control store's state reaches dbt as data the apply step copies into the warehouse."""
    sources = {s["name"]: s for s in manifest["sources"].values() if s["source_name"] == "control"}
    assert set(sources) == {"outbox_health", "dead_letters", "alerts"}
    for name, source in sources.items():
        assert source["schema"] == "control"
        assert source["description"].strip()
        assert source["columns"] and all(c["description"].strip() for c in source["columns"].values())
        assert source["config"]["meta"]["dagster"]["asset_key"] == ["control", name]


def test_layers_names_schemas_and_groups(manifest: dict[str, Any]) -> None:
    for model in _models(manifest):
        layer = model["fqn"][1]
        assert layer in {"staging", "intermediate", "marts"}, f"{model['name']} is outside the three layers"
        # staging models are named after their source folder: staging/lifecycle/stg_lifecycle__<table>
        prefix = {"staging": f"stg_{model['fqn'][2]}__", "intermediate": "int_", "marts": ""}[layer]
        assert model["name"].startswith(prefix), model["name"]
        assert model["schema"] == layer, f"{model['name']} lands in {model['schema']}"
        assert model["meta"]["dagster"]["group"] == layer
        depends = model["depends_on"]["nodes"]
        if layer == "staging":
            assert depends and all(d.startswith("source.") for d in depends), f"{model['name']}: {depends}"
        else:
            assert not any(d.startswith("source.") for d in depends), f"{model['name']} reads a source"


def test_materializations(manifest: dict[str, Any]) -> None:
    materialized = {m["name"]: m["config"]["materialized"] for m in _models(manifest)}
    for model in _models(manifest, "staging"):
        assert materialized[model["name"]] == "view"
    # The only stored intermediate models are the kept rows of marts that grow with history: incremental
    # by the clusters the apply wrote (macros/incremental.sql), all in their own folder.
    incremental = set()
    for model in _models(manifest, "intermediate"):
        if model["fqn"][2] == "incremental":
            assert materialized[model["name"]] == "incremental", model["name"]
            assert model["config"]["on_schema_change"] == "fail", model["name"]
            incremental.add(model["unique_id"])
        else:
            assert materialized[model["name"]] in {"view", "ephemeral"}
    assert materialized["events"] == "view"  # large: exported to Parquet by the publisher
    assert materialized["alerts"] == "view"  # complete only after the alert step, read by the publisher
    # Or rows a pipeline step keeps itself (a source table marked `kept_rows`), read through its staging view.
    kept_sources = {
        s["unique_id"] for s in manifest["sources"].values() if s["config"]["meta"].get("kept_rows") is True
    }
    for model in _models(manifest, "staging"):
        if model["depends_on"]["nodes"] and set(model["depends_on"]["nodes"]) <= kept_sources:
            incremental.add(model["unique_id"])
    for model in _models(manifest, "marts"):
        if model["name"] in {"events", "alerts"}:
            continue
        # A mart is stored, or a view over its own kept rows that adds only the as-of (`built_at`, the cut).
        if materialized[model["name"]] == "view":
            kept = [d for d in model["depends_on"]["nodes"] if d in incremental]
            assert len(kept) == 1, f"{model['name']} is a view but not over kept rows"
        else:
            assert materialized[model["name"]] == "table", model["name"]


def test_marts_have_contracts_and_primary_key_tests(manifest: dict[str, Any]) -> None:
    marts = _models(manifest, "marts")
    assert {m["name"] for m in marts} >= {
        "events",
        "quarantine",
        "ingest_ledger",
        "ingest_ledger_by_org",
        "event_volume_daily",
        "funnel_velocity",
        "signals",
        "candidates",
        "pursuits",
        "clients",
        "transitions",
        "rejected_events",
        "config_registry",
        "gate_pass_rates",
        "win_loss",
        # served from the control store's state and the memory atoms: dbt models like every other table
        "outbox_health",
        "dead_letters",
        "alerts",
        "memory_health",
    }
    for model in marts:
        assert "cluster_id" not in model["columns"], f"{model['name']} exposes the internal cluster_id"
        assert model["config"]["contract"]["enforced"], f"{model['name']} has no enforced contract"
        assert all(c["data_type"] for c in model["columns"].values()), model["name"]
        assert "org_id" in model["columns"], f"{model['name']} has no org_id"
        tests = _tests_on(manifest, model["unique_id"])
        keys: list[list[str]] = [
            t["test_metadata"]["kwargs"]["combination_of_columns"]
            for t in tests
            if t["test_metadata"]["name"] == "unique_combination_of_columns"
        ]
        keys += [[t["column_name"]] for t in tests if t["test_metadata"]["name"] == "unique"]
        assert keys, f"{model['name']} has no primary-key test"
        not_null = {t["column_name"] for t in tests if t["test_metadata"]["name"] == "not_null"}
        for column in keys[0]:
            may_be_null = model["columns"][column]["config"]["meta"].get("key_may_be_null", False)
            assert column in not_null or may_be_null, f"{model['name']}.{column} key column lacks not_null"


def test_derived_models_have_unit_tests(manifest: dict[str, Any]) -> None:
    tested = {u["model"] for u in manifest["unit_tests"].values()}
    assert {
        "funnel_velocity",
        "int_incremental__funnel_stage_entries",
        "int_lifecycle__gate_attempts",
        "gate_pass_rates",
        "win_loss",
    } <= tested


def test_funnel_reads_applied_transitions(manifest: dict[str, Any]) -> None:
    entries = next(m for m in _models(manifest) if m["name"] == "int_incremental__funnel_stage_entries")
    depends = entries["depends_on"]["nodes"]
    assert sorted(d for d in depends if not d.startswith("seed.")) == [
        "model.workstream.stg_lifecycle__cluster_changes",  # which clusters a build takes
        "model.workstream.stg_lifecycle__transitions",
    ]


def _seeds(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in manifest["nodes"].values() if n["resource_type"] == "seed"]


def test_seeds_are_the_contracts_reference_data_documented_in_their_own_schema(
    manifest: dict[str, Any],
) -> None:
    found = _seeds(manifest)
    assert {f"{n['name']}.csv" for n in found} == set(seeds.render())
    for seed in found:
        assert seed["schema"] == "reference", f"{seed['name']} lands in {seed['schema']}"
        assert seed["config"]["meta"]["dagster"]["group"] == "reference"
        assert seed["description"].strip(), f"{seed['name']} has no description"
        header = next(iter(seeds.tables()[seed["name"]]))
        assert list(seed["columns"]) == header, seed["name"]
        assert all(c["description"].strip() for c in seed["columns"].values()), seed["name"]
        assert set(seed["config"]["column_types"]) == set(header), f"{seed['name']}: types not pinned"


# A literal list in SQL: `in ('a', 'b')`, or a `values (...), (...)` table up to its `) as name`.
_SQL_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/|\{#.*?#\}", re.S)
_LITERAL_LIST = re.compile(r"\bin\s*\(([^()]*)\)|\bvalues\b(.*?)\)\s*as\b", re.S | re.I)
_SQL_STRING = re.compile(r"'([^']*)'")


def literal_lists(sql: str) -> list[set[str]]:
    """The string literals of each literal list in `sql` (comments left out)."""
    code = _SQL_COMMENT.sub("", sql)
    return [set(_SQL_STRING.findall(m.group(1) or m.group(2))) for m in _LITERAL_LIST.finditer(code)]


# A rule may name the one or two stages it is about (a gate's, a clock's stop); a list that names every
# open stage is the vocabulary itself, and that is reference data: ref('pursuit_stages') and the like.
VOCABULARIES = {
    "open pursuit stages": set(PURSUIT_STAGES) - set(PURSUIT_CLOSED),
    "open candidate states": set(CANDIDATE_STATES) - set(CANDIDATE_CLOSED),
}


def test_literal_lists_finds_in_lists_and_values_tables_but_not_comments() -> None:
    sql = """
    -- stages in ('qual', 'pink', 'red', 'submit')
    select * from (values (1, 'qual'), (2, 'pink')) as s (n, stage) where stage in ('qual', 'red')
    """
    assert literal_lists(sql) == [{"qual", "pink"}, {"qual", "red"}]


def test_no_model_spells_out_a_state_list(manifest: dict[str, Any]) -> None:
    offenders = [
        (model["name"], name)
        for model in _models(manifest)
        for found in literal_lists(model["raw_code"])
        for name, vocabulary in VOCABULARIES.items()
        if vocabulary <= found
    ]
    assert offenders == [], f"read these from the seeds (dbt/seeds), not literal lists: {offenders}"


# --------------------------------------------------------------------------- end to end


def test_built_columns_match_documented_columns(dbt_runs: dict[str, Any]) -> None:
    built = query(
        dbt_runs["build_wh"],
        "select table_schema, table_name, list(column_name order by ordinal_position) "
        "from information_schema.columns group by all",
    )
    columns = {(schema, table): cols for schema, table, cols in built}
    for model in _models(dbt_runs["manifest"]):
        assert columns[(model["schema"], model["name"])] == list(model["columns"]), model["name"]


def test_funnel_velocity_at_as_of(dbt_runs: dict[str, Any]) -> None:
    rows = funnel(dbt_runs["build_wh"])
    assert len(rows) == 20  # 2 orgs x 10 pairs, zero-filled
    for org in ("acme", "globex"):
        assert [(r["from_stage"], r["to_stage"]) for k, r in rows.items() if k[0] == org] == PAIRS
        assert [r["pair_order"] for k, r in rows.items() if k[0] == org] == list(range(1, 11))
    assert {r["built_at"] for r in rows.values()} == {datetime.fromisoformat(AS_OF)}

    def check(org, pair, entered, converted, rate, median, p90):
        r = rows[(org, *pair)]
        assert (r["entered"], r["converted"]) == (entered, converted), (org, pair, r)
        assert r["conversion_rate"] == (None if rate is None else pytest.approx(rate)), (org, pair, r)
        assert r["median_hours"] == (None if median is None else pytest.approx(median)), (org, pair, r)
        assert r["p90_hours"] == (None if p90 is None else pytest.approx(p90)), (org, pair, r)

    # acme: sig-3 entered at 16:00 and is not linked by AS_OF; cand-2 and the submit come after AS_OF.
    check("acme", ("signal", "candidate"), 3, 2, 2 / 3, 36.0, 45.6)
    check("acme", ("candidate", "promoted"), 1, 1, 1.0, 48.0, 48.0)
    check("acme", ("qual", "pink"), 1, 1, 1.0, 24.0, 24.0)
    check("acme", ("pink", "red"), 1, 1, 1.0, 36.0, 36.0)
    check("acme", ("red", "submit"), 1, 0, 0.0, None, None)
    check("acme", ("submit", "won"), 0, 0, None, None, None)
    check("acme", ("qual", "lost"), 1, 0, 0.0, None, None)  # globex's pur-1 was lost, not acme's
    check("acme", ("pink", "lost"), 1, 0, 0.0, None, None)
    check("acme", ("red", "lost"), 1, 0, 0.0, None, None)
    check("acme", ("submit", "lost"), 0, 0, None, None, None)
    # globex
    check("globex", ("signal", "candidate"), 2, 2, 1.0, 2.0, 2.8)
    check("globex", ("candidate", "promoted"), 1, 1, 1.0, 24.0, 24.0)
    check("globex", ("qual", "pink"), 1, 0, 0.0, None, None)
    check("globex", ("qual", "lost"), 1, 1, 1.0, 24.0, 24.0)
    for pair in [("pink", "red"), ("red", "submit"), ("submit", "won"), ("pink", "lost"), ("red", "lost")]:
        check("globex", pair, 0, 0, None, None, None)


def test_other_marts_at_as_of(dbt_runs: dict[str, Any]) -> None:
    wh = dbt_runs["build_wh"]
    assert query(wh, "select org_id, count(*) from marts.events group by 1 order by 1") == [
        ("acme", 10),
        ("globex", 6),
    ]
    assert query(wh, "select sum(events), count(distinct built_at) from marts.event_volume_daily") == [
        (16, 1)
    ]
    assert query(
        wh,
        "select event_date::varchar, events from marts.event_volume_daily "
        "where org_id = 'acme' and event_name = 'signal.created' order by 1",
    ) == [("2026-11-20", 2), ("2026-11-27", 1)]
    assert query(wh, "select count(*) from marts.quarantine") == [(2,)]
    assert query(wh, "select content_hash, lines, status from marts.ingest_ledger order by 1") == [
        ("f1", 14, "ok"),
        ("f2", 6, "ok"),
        ("f3", 0, "unreadable"),
    ]
    assert query(wh, "select count(*) from marts.ingest_ledger_by_org where org_id is null") == [(1,)]
    # lifecycle marts (from the fold of the same events as of AS_OF): no gate attempts, one lost pursuit
    assert query(wh, "select org_id, gate, attempts, pass_rate from marts.gate_pass_rates order by 1, 2") == [
        ("acme", "pink", 0, None),
        ("acme", "red", 0, None),
        ("globex", "pink", 0, None),
        ("globex", "red", 0, None),
    ]
    assert query(
        wh, "select org_id, outcome, reason_code, pursuits, median_days_to_close from marts.win_loss"
    ) == [("globex", "lost", "price", 1, 1.0)]
    assert query(wh, "select org_id, pursuit_id, stage from marts.pursuits order by 1") == [
        ("acme", "pur-1", "red"),  # the submit comes after AS_OF
        ("globex", "pur-1", "lost"),
    ]


def test_earlier_as_of_excludes_later_events(dbt_runs: dict[str, Any]) -> None:
    wh = dbt_runs["earlier_wh"]
    rows = funnel(wh)
    assert len(rows) == 20
    assert {r["built_at"] for r in rows.values()} == {datetime.fromisoformat(EARLIER_AS_OF)}
    # acme at 2026-11-22T00:00: sig-2's link (11-22 10:00) and everything after are not known yet.
    acme = {
        k[1:]: (r["entered"], r["converted"], r["median_hours"]) for k, r in rows.items() if k[0] == "acme"
    }
    assert acme[("signal", "candidate")] == (2, 1, pytest.approx(24.0))
    assert acme[("candidate", "promoted")] == (1, 0, None)
    assert all(acme[p] == (0, 0, None) for p in PAIRS[2:])
    globex = {k[1:]: (r["entered"], r["converted"]) for k, r in rows.items() if k[0] == "globex"}
    assert globex[("candidate", "promoted")] == (1, 1)
    assert globex[("qual", "lost")] == (1, 0)  # lost at 11-22 12:00, after the earlier as-of
    assert query(wh, "select count(*) from marts.events") == [(8,)]
    assert query(wh, "select max(occurred_at) <= timestamptz '2026-11-22 00:00:00+00' from marts.events") == [
        (True,)
    ]
    # operational logs are not as-of views: quarantined after the as-of time, still listed
    assert query(wh, "select count(*) from marts.quarantine") == [(2,)]
    # the core tables were computed for the earlier as-of: globex's pursuit is still open
    assert query(wh, "select org_id, stage from marts.pursuits order by 1") == [("globex", "qual")]
    assert query(wh, "select count(*) from marts.win_loss") == [(0,)]
