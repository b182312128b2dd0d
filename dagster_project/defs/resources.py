"""Dagster resources: where the home and inbox are, the run's clock, and dbt."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
import yaml
from dagster_dbt import DbtCliInvocation, DbtCliResource, DbtProject
from pydantic import PrivateAttr

from dagster_project.defs.warm_launcher import dbt_resource_class
from dagster_project.settings import (
    DBT_PROJECT_DIR,
    HomePaths,
    as_of_is_past,
    default_clock,
    home_from_env,
    inbox_from_env,
    parse_timestamp,
    refuse_future_as_of,
)

# The executable `pyproject.toml` installs for `dagster_project.warehouse.dbt_launcher`.
LAUNCHER = "workstream-dbt"
PARTIAL_PARSE = "partial_parse.msgpack"
# Where the latest home's partial parse waits for the next new home (dbt's own, ignored, target folder).
SHARED_PARSE = DBT_PROJECT_DIR / "target" / "home-parse" / PARTIAL_PARSE

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# Under `dagster dev` this runs `dbt parse` so the manifest exists; elsewhere `make install` made it.
dbt_project.prepare_if_dev()


def dbt_executable() -> str:
    """The venv's `workstream-dbt` (dbt, run from its profile's folder: see `dagster_project.warehouse.
    dbt_launcher`), so runs work without an activated venv (dagster-dbt otherwise needs it on PATH)."""
    candidate = Path(sys.executable).parent / LAUNCHER
    return str(candidate) if candidate.exists() else LAUNCHER


class WorkstreamResource(dg.ConfigurableResource):
    """The home folder (warehouse, control store, snapshot) and the inbox; empty = from the environment."""

    home: str = ""
    inbox: str = ""

    @property
    def paths(self) -> HomePaths:
        return HomePaths(Path(self.home).resolve() if self.home else home_from_env()).ensure()

    @property
    def inbox_path(self) -> Path:
        return Path(self.inbox).resolve() if self.inbox else inbox_from_env()


class RunClockResource(dg.ConfigurableResource):
    """One clock for a whole run: `now` (ingest clock) and `as_of` (what outputs are computed as of).

    Empty values mean the process clock (WORKSTREAM_NOW or the system clock), read once per run so
    every asset in the run agrees. An as-of later than the clock (beyond `AS_OF_TOLERANCE`) is refused:
    whatever launched the run (CLI, launchpad, a schedule) gets the same answer.
    """

    now: str = ""
    as_of: str = ""
    _now: datetime | None = PrivateAttr(default=None)
    _as_of: datetime | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Parsed here once: every asset of the run asks for these times, and the apply stores them
        # (`core.run_clock`) for dbt, so nothing else parses the run's as-of again.
        self._now = parse_timestamp(self.now) if self.now else default_clock().now()
        self._as_of = parse_timestamp(self.as_of) if self.as_of else self._now
        refuse_future_as_of(self._as_of, self._now)

    def current(self) -> datetime:
        assert self._now is not None
        return self._now

    def as_of_time(self) -> datetime:
        assert self._as_of is not None
        return self._as_of

    def is_past(self) -> bool:
        """The run computes a view of the past (an as-of earlier than its clock beyond the tolerance):
        outputs about *now* (alerts) have no business being made from it."""
        return as_of_is_past(self.as_of_time(), self.current())


def _write_profile(folder: Path, warehouse: str) -> Path:
    """`dbt/profiles.yml` with `warehouse` as its path, in `folder`."""
    profile = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())
    for settings in profile.values():
        for output in settings.get("outputs", {}).values():
            output["path"] = warehouse
    folder.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(profile, sort_keys=False)
    target = folder / "profiles.yml"
    # Rewritten only when it differs: dbt's partial parse hashes the profile, and a concurrent reader
    # must never see a half-written file.
    if not target.exists() or target.read_text() != text:
        scratch = folder / f".profiles-{os.getpid()}-{threading.get_ident()}.yml"
        scratch.write_text(text)
        scratch.replace(target)
    return folder


def dbt_profiles_dir(paths: HomePaths) -> Path:
    """This home's dbt profile folder: `dbt/profiles.yml` with this home's warehouse written in, so a dbt
    process finds its warehouse from its configuration, never from the environment (runs for several
    homes in one process each reach their own). The path is relative to the profile's folder, where
    `workstream-dbt` runs dbt: the same text in every home, so dbt's partial parse (keyed on the
    profile's connection settings) made for one home holds for the next (see `seed_partial_parse`)."""
    folder = paths.home / "dbt-profile"
    return _write_profile(folder, os.path.relpath(paths.warehouse, folder))


def seed_partial_parse(paths: HomePaths) -> None:
    """A new home starts from the partial parse the latest home left (`SHARED_PARSE`) rather than from
    a full parse of the project. dbt checks any partial parse it reads (dbt version, profile, vars,
    every file's checksum) and parses again what differs: a seed only ever saves time."""
    own = paths.dbt_target / PARTIAL_PARSE
    if not own.exists() and SHARED_PARSE.exists():
        _copy_quietly(SHARED_PARSE, own)


def share_partial_parse(paths: HomePaths) -> None:
    """After a dbt command: this home's partial parse becomes the next new home's seed when it is newer
    than the shared one (the project may have changed since)."""
    own = paths.dbt_target / PARTIAL_PARSE
    if own.exists() and (not SHARED_PARSE.exists() or own.stat().st_mtime > SHARED_PARSE.stat().st_mtime):
        _copy_quietly(own, SHARED_PARSE)


def _copy_quietly(source: Path, target: Path) -> None:
    """Readers (dbt processes of other homes) see the old file or the new one, never half of one. A
    failed copy (a read-only project folder, a file removed meanwhile) only means a full parse."""
    scratch = target.parent / f".{target.name}-{os.getpid()}-{threading.get_ident()}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, scratch)
        scratch.replace(target)
    except OSError:
        with contextlib.suppress(OSError):
            scratch.unlink(missing_ok=True)


def _adapter_profiles_dir() -> Path:
    """The profile dagster-dbt's own resource (`WORKSTREAM_DBT_RESOURCE=stock`; see `LeanDbtCliResource`)
    builds its in-process dbt adapter handle from before every command. That handle only serves opt-in metadata (row counts, column schemas) we never ask for, so
    it names no warehouse: one folder for every home, and the dbt process gets its home's profile through
    `--profiles-dir`. Kept in dbt's own, ignored, target folder."""
    return _write_profile(DBT_PROJECT_DIR / "target" / "adapter-profile", ":memory:")


_DBT_PER_CONFIG: dict[tuple, DbtCliResource] = {}
_DBT_PER_CONFIG_LOCK = threading.Lock()


def _dbt_for_process(base: DbtCliResource) -> DbtCliResource:
    """One resource per configuration for the life of the process, whatever the home: dagster-dbt asks
    the dbt executable for its version once per resource object (a process of its own each time), and
    Dagster builds a new `base` for every run."""
    config = {
        "project_dir": base.project_dir,
        "global_config_flags": list(base.global_config_flags),
        "profile": base.profile,
        "target": base.target,
        "dbt_executable": base.dbt_executable,
        "state_path": base.state_path,
    }
    # The class is part of the key: `WORKSTREAM_DBT_RESOURCE` may change within a process (tests).
    resource_class = dbt_resource_class()
    key = (resource_class, *((name, tuple(v) if isinstance(v, list) else v) for name, v in config.items()))
    with _DBT_PER_CONFIG_LOCK:
        if key not in _DBT_PER_CONFIG:
            _DBT_PER_CONFIG[key] = resource_class(**config, profiles_dir=str(_adapter_profiles_dir()))
        return _DBT_PER_CONFIG[key]


def dbt_cli_for_home(
    base: DbtCliResource, paths: HomePaths, args: list[str], **kwargs: Any
) -> DbtCliInvocation:
    """`base.cli(args, ...)` run on this home: its profile (see `dbt_profiles_dir`) by `--profiles-dir`,
    and its own target folder, where dbt keeps its partial parse (seeded from the latest home's)."""
    profiles = dbt_profiles_dir(paths)
    seed_partial_parse(paths)
    return _dbt_for_process(base).cli(
        [*args, "--profiles-dir", str(profiles)], target_path=paths.dbt_target, **kwargs
    )


def build_dbt_resource() -> DbtCliResource:
    return DbtCliResource(
        project_dir=dbt_project,
        dbt_executable=dbt_executable(),
        # dbt's file log at info, not debug, and in dbt's own text lines rather than the JSON that
        # dagster-dbt's environment asks for: dbt formats every event, debug ones included, for each
        # log before the level drops it, and JSON is the dear format (Dagster reads dbt's JSON from
        # its standard output, not from this file). No manifest.json or run_results.json per
        # command: nothing reads them (Dagster reads dbt's structured output and the project's own
        # manifest), and dbt serializes the whole manifest twice to write them.
        global_config_flags=[
            "--log-level-file",
            "info",
            "--log-format-file",
            "debug",
            "--no-use-colors-file",
            "--no-send-anonymous-usage-stats",
            "--no-write-json",
        ],
    )
