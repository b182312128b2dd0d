"""Nothing in the repository points at files outside it: a reader of a clone has only the clone."""

from __future__ import annotations

import re
import subprocess

from dagster_project.settings import PROJECT_ROOT

# Paths that lead out of the repository into the folder it was developed beside (written so that
# this file does not match itself).
OUTSIDE = re.compile(r"\.\./share[d]|/work/share[d]")
# The lock file records package sources, never prose a reader follows.
EXEMPT = {"uv.lock"}


def _tracked_text_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=PROJECT_ROOT, capture_output=True, check=True
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and name not in EXEMPT]


def test_no_tracked_file_refers_to_the_shared_folder_outside_the_repository():
    offenders = []
    for name in _tracked_text_files():
        path = PROJECT_ROOT / name
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary sample data (gzip, Parquet) holds no references
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{name}:{number}: {line.strip()}")
    assert not offenders, "files refer outside the repository:\n" + "\n".join(offenders)
