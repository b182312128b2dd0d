"""Record checks DuckDB's JSON parser does not make: duplicate keys, nesting depth, overflowing numbers.

DuckDB reads a duplicate key's first value and the apply's parser (orjson) its last, so a record like
`{"value_band":"low","value_band":"gigantic"}` would be validated on one value and folded with the
other. A payload nested deeper than the apply's parser allows, or a number it cannot hold, would be
accepted and then fail the apply for every org. These records are refused at the door instead, each
with its own reason code.

The texts judged are what the apply will parse: a JSON Lines record whole (its envelope keys too), a
CSV or Parquet row's `payload` string. Duplicate keys need a parse that keeps every key: jiter's (with
`catch_duplicate_keys`), once per record. Depth and numbers are first screened by cheap text tests that
every offending record passes (enough brackets; a long digit run or a three-digit exponent), and only
the few records that pass them are measured exactly.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable

import jiter
import polars as pl

from dagster_project.contract.events import MAX_INTEGER, MAX_NESTING, MIN_INTEGER, Reason

REASONS_SCHEMA = {"line": pl.Int64, "reason": pl.String, "detail": pl.String}
# A text test every payload with an overflowing number or too deep a nesting passes (RE2, run by DuckDB
# over the payloads): a run of 19 digits (an integer past 64 bits), a three-digit exponent (a double
# past about 1.8e308), or more opening brackets than the limit allows.
SUSPECT_PATTERN = r"\d{19}|[eE][+-]?\d{3}|([\[{][^\[{]*){" + str(MAX_NESTING + 1) + "}"
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
# Precedence when a record has several of these problems: the first of this order is its reason.
_ORDER = (Reason.TOO_DEEP, Reason.DUPLICATE_KEY, Reason.NUMBER_OVERFLOW)


class _Overflow(ValueError):
    pass


def nesting(text: str) -> int:
    """How deep arrays and objects nest in a JSON text (0 for a scalar), brackets in strings ignored."""
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _float(literal: str) -> float:
    value = float(literal)
    if math.isinf(value):
        raise _Overflow(literal)
    return value


def _int(literal: str) -> int:
    # the length first: Python refuses to convert integers of thousands of digits
    if len(literal.lstrip("-")) > len(str(MAX_INTEGER)) or not MIN_INTEGER <= int(literal) <= MAX_INTEGER:
        raise _Overflow(literal)
    return 0


def overflowing_number(text: str) -> str | None:
    """The first number of a JSON text that overflows (an integer outside 64 bits, a double past its
    range), or None. The text is known to be nested at most MAX_NESTING levels."""
    try:
        json.loads(text, parse_float=_float, parse_int=_int)
    except _Overflow as exc:
        return str(exc)
    except ValueError:  # not JSON: the parse stage tells why
        return None
    return None


def payload_reasons(payloads: Iterable[tuple[int, str]]) -> list[tuple[int, str, str]]:
    """(line, reason, detail) for the suspect payloads (`SUSPECT_PATTERN`) that nest too deep or hold
    a number that overflows."""
    out = []
    for line, payload in payloads:
        if (depth := nesting(payload)) > MAX_NESTING:
            out.append(
                (line, Reason.TOO_DEEP, f"the payload nests {depth} levels deep; the limit is {MAX_NESTING}")
            )
        elif (number := overflowing_number(payload)) is not None:
            shown = number if len(number) <= 40 else number[:37] + "..."
            out.append(
                (
                    line,
                    Reason.NUMBER_OVERFLOW,
                    f"the number {shown} does not fit a 64-bit integer or a double",
                )
            )
    return out


def duplicate_keys(texts: Iterable[tuple[int, str | bytes | None]]) -> list[tuple[int, str, str]]:
    """(line, reason, detail) for each JSON text with an object holding a key twice, at any depth.

    A text nested past jiter's own recursion limit cannot be searched: it is too deep (the limit is
    far above MAX_NESTING). A text that is not JSON is left to the parse stage.
    """
    out = []
    for line, value in texts:
        if value is None:
            continue
        try:
            jiter.from_json(
                value if isinstance(value, bytes) else value.encode("utf-8", errors="replace"),
                catch_duplicate_keys=True,
                cache_mode="none",  # the texts are parsed once: caching strings only costs
            )
        except ValueError as exc:
            message = str(exc)
            if message.startswith("Detected duplicate key"):
                out.append((line, Reason.DUPLICATE_KEY, f"an object holds a key twice: {message}"))
            elif message.startswith("recursion limit exceeded"):
                out.append(
                    (line, Reason.TOO_DEEP, f"the record nests deeper than its parser allows: {message}")
                )
    return out


def first_reasons(*found: list[tuple[int, str, str]]) -> pl.DataFrame:
    """One (line, reason, detail) per line, the first reason in `_ORDER`, as a `REASONS_SCHEMA` frame."""
    rank = {reason: i for i, reason in enumerate(_ORDER)}
    best: dict[int, tuple[int, str, str]] = {}
    for rows in found:
        for row in rows:
            if row[0] not in best or rank[row[1]] < rank[best[row[0]][1]]:
                best[row[0]] = row
    return pl.DataFrame(sorted(best.values()), schema=REASONS_SCHEMA, orient="row")
