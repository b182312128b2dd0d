"""An explainable, rule-based note classifier: which atom type a `*.note_added` text becomes.

The rules are data (`memory.note_rules` in the config registry; defaults in
`dagster_project.config.registry.NOTE_RULES`): per type, an ordered list of regular expressions,
matched case-insensitively anywhere in the text. Types are tried in a fixed priority,
decision > risk > preference, and within a type in list order; the first match wins and is returned
as the explanation (`"<type>:<pattern>"`). No match: `note`, with no rule.

Patterns run on RE2 (google-re2), whose matching time is linear in the text, so no pattern (`(a+)+$`
and the like) and no note text can make an apply backtrack for hours. RE2 has no lookaround or
backreferences: the registry refuses an org's pattern RE2 cannot compile, and only the reviewed
built-in patterns that use lookbehind run on Python's `re`. Every rule reads at most the first
`NOTE_RULE_MAX_TEXT` characters of a note: with the registry's caps on pattern count and length, that
bounds the time one org's rules may take per note.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import re2

from dagster_project.config.registry import NOTE_RULE_BUILTINS, NOTE_RULE_MAX_TEXT, re2_options

# Fixed priority: a sentence that records a decision and mentions a risk is a decision.
TYPE_PRIORITY: tuple[str, ...] = ("decision", "risk", "preference")
FALLBACK_TYPE = "note"


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> Any:
    """The pattern's matcher (`search(text)`), or None for one no engine here compiles."""
    try:
        return re2.compile(pattern, re2_options())
    except re2.error:
        pass
    if pattern not in NOTE_RULE_BUILTINS:  # the registry refuses these; one here is skipped, never raised
        return None
    return re.compile(pattern, re.IGNORECASE)


def _normal(text: str) -> str:
    # Typographic apostrophes and runs of whitespace would otherwise defeat simple patterns.
    return " ".join(text.replace("\u2019", "'").replace("\u2018", "'").split())


def classify(text: str, rules: Mapping[str, Sequence[str]]) -> tuple[str, str | None]:
    """`(atom_type, matched_rule)` for a note text; `matched_rule` is `"<type>:<pattern>"` or None."""
    normal = _normal((text or "")[:NOTE_RULE_MAX_TEXT])
    for atom_type in TYPE_PRIORITY:
        for pattern in rules.get(atom_type, ()) or ():
            compiled = _compiled(pattern)
            if compiled is not None and compiled.search(normal):
                return atom_type, f"{atom_type}:{pattern}"
    return FALLBACK_TYPE, None
