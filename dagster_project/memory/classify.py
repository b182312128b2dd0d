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

import duckdb
import pyarrow as pa
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


def classify_many(texts: Sequence[str], rules: Mapping[str, Sequence[str]]) -> list[tuple[str, str | None]]:
    """`classify` of every text, the same answers, with the RE2 patterns run over all texts at once.

    DuckDB's regular expressions are RE2 too: one CASE over the RE2 patterns in priority order gives each
    text its first matching RE2 rule. Only the few patterns that run on Python's `re` (reviewed built-ins
    with lookaround) are then tried per text, and only those ranked before that rule.
    """
    ordered = [(t, p) for t in TYPE_PRIORITY for p in rules.get(t, ()) or ()]
    matchers = [_compiled(pattern) for _, pattern in ordered]
    normals = [_normal((text or "")[:NOTE_RULE_MAX_TEXT]) for text in texts]
    on_re2 = [(i, p) for i, ((_, p), m) in enumerate(zip(ordered, matchers, strict=True)) if _on_re2(m)]
    first = _first_re2_match(normals, on_re2)
    if first is None:  # DuckDB could not run them: the same answers, one text at a time
        return [classify(text, rules) for text in texts]
    python_side = [(i, m) for i, m in enumerate(matchers) if m is not None and not _on_re2(m)]
    out: list[tuple[str, str | None]] = []
    for normal, hit in zip(normals, first, strict=True):
        best = len(ordered) if hit is None else hit
        for i, matcher in python_side:
            if i >= best:
                break
            if matcher.search(normal):
                best = i
                break
        if best == len(ordered):
            out.append((FALLBACK_TYPE, None))
        else:
            atom_type, pattern = ordered[best]
            out.append((atom_type, f"{atom_type}:{pattern}"))
    return out


def _on_re2(matcher: Any) -> bool:
    return matcher is not None and not isinstance(matcher, re.Pattern)


def _first_re2_match(normals: list[str], patterns: list[tuple[int, str]]) -> list[int | None] | None:
    """Per text, the rank of the first RE2 pattern that matches it (None: none does); None if DuckDB fails.

    Patterns go in as constants of DuckDB's expression API, never as SQL text, so each compiles once
    (a bound parameter would be compiled again for every row).
    """
    if not patterns or not normals:
        return [None] * len(normals)
    from duckdb import CaseExpression, ColumnExpression, ConstantExpression, FunctionExpression

    expr = None
    for rank, pattern in patterns:
        cond = FunctionExpression(
            "regexp_matches", ColumnExpression("t"), ConstantExpression(pattern), ConstantExpression("i")
        )
        then = ConstantExpression(rank)
        expr = CaseExpression(cond, then) if expr is None else expr.when(cond, then)
    try:
        con = duckdb.connect(":memory:", config={"threads": 1})
        try:
            rel = con.from_arrow(pa.table({"n": list(range(len(normals))), "t": normals}))
            rows = rel.select(ColumnExpression("n"), expr.otherwise(ConstantExpression(None)).alias("hit"))
            hits = dict(rows.fetchall())
        finally:
            con.close()
    except duckdb.Error:
        return None
    return [hits.get(n) for n in range(len(normals))]
