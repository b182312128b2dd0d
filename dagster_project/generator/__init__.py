"""Deterministic demo data: realistic multi-org sales events, optionally with bad lines, in every inbox format.

`generate()` is what `workstream generate` calls; `.manifest.json` in the output folder says exactly what
an ingest of each file must report (accepted, duplicates, quarantined per reason). Whole-file failures
(`unreadable_file`, `bad_header`) are never generated: tests build those files by hand.
"""

from .corruption import IDENTICAL_DUPLICATE, KINDS, LINE_REASONS
from .engine import DEFAULT_END, MANIFEST_NAME, FileStats, GenerateResult, default_files, generate

__all__ = [
    "DEFAULT_END",
    "IDENTICAL_DUPLICATE",
    "KINDS",
    "LINE_REASONS",
    "MANIFEST_NAME",
    "FileStats",
    "GenerateResult",
    "default_files",
    "generate",
]
