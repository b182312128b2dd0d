"""`workstream-dbt`: dbt, started in the folder of the profile it is given (`--profiles-dir`).

A home's profile names its warehouse by a path relative to the profile's own folder, so the profile is
the same text in every home: dbt's partial parse is keyed on a hash of the profile's connection
settings, and one home's parse is then valid for the next (a new home skips dbt's full parse). dbt
opens a relative path from its working directory, which dagster-dbt sets to the project folder: this
launcher moves into the profile's folder first, then becomes dbt itself (same process, same arguments,
the profile folder's made absolute). Without `--profiles-dir` it is plain dbt; other relative paths in
the arguments would be read from the profile's folder: pipeline runs give dbt absolute ones.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

PROFILES_FLAG = "--profiles-dir"


def in_profiles_dir(args: list[str]) -> tuple[str | None, list[str]]:
    """The folder of the last `--profiles-dir` in dbt's arguments (dbt's own rule: the last one wins),
    and the arguments with every `--profiles-dir` made absolute, so dbt still finds the profile once
    the launcher stands in its folder."""
    found, out = None, list(args)
    for i, arg in enumerate(args):
        if arg == PROFILES_FLAG and i + 1 < len(args):
            found = out[i + 1] = os.path.abspath(args[i + 1])
        elif arg.startswith(PROFILES_FLAG + "="):
            found = os.path.abspath(arg.split("=", 1)[1])
            out[i] = f"{PROFILES_FLAG}={found}"
    return found, out


def dbt_beside_python() -> str:
    """The dbt of this interpreter's environment (it need not be on PATH), else the one on PATH."""
    candidate = Path(sys.executable).parent / "dbt"
    if candidate.exists():
        return str(candidate)
    return shutil.which("dbt") or "dbt"


def main() -> None:
    folder, args = in_profiles_dir(sys.argv[1:])
    # A folder that is not there is dbt's to report (it names the flag), not a traceback of ours.
    if folder is not None and os.path.isdir(folder):
        os.chdir(folder)
    dbt = dbt_beside_python()
    os.execvp(dbt, [dbt, *args])


if __name__ == "__main__":
    main()
