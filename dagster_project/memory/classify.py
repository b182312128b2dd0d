"""An explainable, rule-based note classifier: which atom type a `*.note_added` text becomes.

The rules are data (`memory.note_rules` in the config registry; defaults in
`dagster_project.lifecycle.config.NOTE_RULES`): per type, an ordered list of regular expressions,
matched case-insensitively anywhere in the text. Types are tried in a fixed priority,
decision > risk > preference, and within a type in list order; the first match wins and is returned
as the explanation (`"<type>:<pattern>"`). No match: `note`, with no rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache

# Fixed priority: a sentence that records a decision and mentions a risk is a decision.
TYPE_PRIORITY: tuple[str, ...] = ("decision", "risk", "preference")
FALLBACK_TYPE = "note"


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error:  # the registry validates rules; a bad one here is skipped, never raised
        return None


def _normal(text: str) -> str:
    # Typographic apostrophes and runs of whitespace would otherwise defeat simple patterns.
    return " ".join(text.replace("\u2019", "'").replace("\u2018", "'").split())


def classify(text: str, rules: Mapping[str, Sequence[str]]) -> tuple[str, str | None]:
    """`(atom_type, matched_rule)` for a note text; `matched_rule` is `"<type>:<pattern>"` or None."""
    normal = _normal(text or "")
    for atom_type in TYPE_PRIORITY:
        for pattern in rules.get(atom_type, ()) or ():
            compiled = _compiled(pattern)
            if compiled is not None and compiled.search(normal):
                return atom_type, f"{atom_type}:{pattern}"
    return FALLBACK_TYPE, None
