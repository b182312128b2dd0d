"""dbt's static nodes, views and seeds, built once per version of the dbt project instead of every run.

A view holds no rows: DuckDB binds it to its tables by name each time it is read, so the view made by
an earlier build reads the tables this build replaced (with their new columns too). A seed's rows come
from a file of the project. Neither can change between two builds of the same project, so a drop's
build leaves them out (`--exclude`) once a build of this project made them all in this warehouse.

The views of the published schema (`marts`) are built every run all the same: publish reads them, and
Dagster skips a step when an asset it depends on was not materialized earlier in the same run.

What counts as "this project": a digest of every model's and seed's file checksum, configuration,
relation and dependencies, every macro's text and dbt's version, from the manifest Dagster loaded. Any
change to any of those (a deploy) makes the next build a whole one again; so does a warehouse that
lacks one of the relations (a new or restored file), and a full refresh. The digest is kept in the
home's dbt target folder, written only after a whole build of every node succeeded.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from pathlib import Path

import duckdb

from dagster_project.settings import HomePaths

MARKER = "static-nodes.digest"
PUBLISHED_SCHEMA = "marts"

_CACHE: dict[tuple, dict] = {}
_CACHE_LOCK = threading.Lock()


def _manifest_facts(manifest_path: Path) -> dict:
    """The project's digest and its static relations, read once per version of the manifest file."""
    stat = manifest_path.stat()
    key = (str(manifest_path), stat.st_mtime_ns, stat.st_size)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
    manifest = json.loads(manifest_path.read_bytes())
    built = {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in ("model", "seed", "snapshot")
    }
    static = [node for node in built.values() if _is_static(node)]
    view_schemas = sorted({node["config"]["schema"] for node in static if node["resource_type"] == "model"})
    facts = {
        "digest": project_digest(manifest, built),
        "relations": sorted((node["schema"], node["alias"]) for node in static),
        "unique_ids": sorted(node["unique_id"] for node in static),
        # dbt selectors: a comma intersects, and the build joins them with spaces, a union.
        "selectors": [
            "resource_type:seed",
            *(f"config.materialized:view,config.schema:{schema}" for schema in view_schemas),
        ],
    }
    with _CACHE_LOCK:
        _CACHE[key] = facts
    return facts


def _is_static(node: dict) -> bool:
    if node["resource_type"] == "seed":
        return True
    config = node["config"]
    return (
        node["resource_type"] == "model"
        and config.get("materialized") == "view"
        and bool(config.get("schema"))
        and config["schema"] != PUBLISHED_SCHEMA
    )


def project_digest(manifest: dict, built: dict) -> str:
    """What the static nodes are made from, without what changes from one parse to the next (parse
    times, the database name taken from the profile's path)."""
    nodes = {
        uid: [
            node["checksum"]["checksum"],
            node["config"],
            node["schema"],
            node["alias"],
            node["depends_on"],
        ]
        for uid, node in built.items()
    }
    macros = {
        uid: hashlib.sha256(macro["macro_sql"].encode()).hexdigest()
        for uid, macro in manifest["macros"].items()
    }
    text = json.dumps([manifest["metadata"].get("dbt_version"), nodes, macros], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def static_relations(manifest_path: Path) -> list[tuple[str, str]]:
    """(schema, name) of every static node of the project."""
    return _manifest_facts(manifest_path)["relations"]


def static_unique_ids(manifest_path: Path) -> list[str]:
    """dbt's unique id of every static node of the project."""
    return _manifest_facts(manifest_path)["unique_ids"]


def static_selectors(manifest_path: Path) -> list[str]:
    """dbt selectors that name exactly the static nodes, for `--exclude`."""
    return _manifest_facts(manifest_path)["selectors"]


def _relations_present(warehouse: Path, wanted: list[tuple[str, str]]) -> bool:
    if not warehouse.exists():
        return False
    # The same connection settings as every other writer of the warehouse in this process: DuckDB
    # refuses a second connection to one file with a different configuration.
    from dagster_project.warehouse.store import connect

    con = connect(warehouse)
    try:
        present = set(
            con.execute("select table_schema, table_name from information_schema.tables").fetchall()
        )
    except duckdb.Error:
        return False
    finally:
        con.close()
    return all(relation in present for relation in wanted)


def static_nodes_current(paths: HomePaths, manifest_path: Path) -> bool:
    """True when an earlier whole build of this very project made every view and seed in this
    home's warehouse: a build may then leave them out."""
    marker = paths.dbt_target / MARKER
    facts = _manifest_facts(manifest_path)
    try:
        recorded = marker.read_text().strip()
    except OSError:
        return False
    return recorded == facts["digest"] and _relations_present(paths.warehouse, facts["relations"])


def record_static_nodes(paths: HomePaths, manifest_path: Path) -> None:
    """After a successful build of every node: the views and seeds now match this project."""
    paths.dbt_target.mkdir(parents=True, exist_ok=True)
    marker = paths.dbt_target / MARKER
    scratch = marker.with_name(f".{MARKER}-{threading.get_ident()}")
    scratch.write_text(_manifest_facts(manifest_path)["digest"] + "\n")
    scratch.replace(marker)


def copy_record(source: HomePaths, target: HomePaths) -> None:
    """For a whole copy of `source`'s warehouse at `target` (a past snapshot's scratch home): the copy
    holds the same views and seeds, so their record goes with it and the copy's build leaves them out
    too. The record is checked as any home's is (this project's digest, every relation present)."""
    marker = source.dbt_target / MARKER
    if marker.exists():
        target.dbt_target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(marker, target.dbt_target / MARKER)
