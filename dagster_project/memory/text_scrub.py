"""Erased text, judged by what it decodes to: markers, and secrets scrubbed out of raw lines and payloads.

The text half of erasure (memory/governance.py drives it over the event log and quarantine): a scrub
replaces an erased text by a marker (`[redacted: <audit_id>]`, `[corrected: <audit_id>]`), and a raw line
is searched through every layer of JSON escaping and CSV quoting, so an escaped or split copy of a
secret is found and replaced too. Pure: no I/O.
"""

from __future__ import annotations

import re

import orjson

from dagster_project.memory.atoms import CORRECTED_MARKER

_MARKER = re.compile(r"\[(?:redacted|corrected): [^\]]*\]")


def marker(audit_id: str) -> str:
    return f"[redacted: {audit_id}]"


def correction_marker(audit_id: str) -> str:
    return CORRECTED_MARKER.format(audit_id=audit_id)


def is_marker(value: object) -> bool:
    """A text some earlier scrub left in place of erased text (nothing left to erase in it)."""
    return isinstance(value, str) and _MARKER.fullmatch(value) is not None


_JSON_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|[\"\\/bfnrt])")
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _unescape(text: str) -> str:
    """One layer of JSON string escapes and CSV quote doubling undone, leniently (broken text too)."""

    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        return chr(int(code[1:], 16)) if code[0] == "u" else _SIMPLE_ESCAPES[code]

    decoded = _JSON_ESCAPE.sub(one, text.replace('""', '"'))
    # Escaped surrogate pairs come out as two lone surrogates: join them into their character.
    return decoded.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def decoded_layers(text: str, depth: int = 4) -> list[str]:
    """The text, then each successive lenient unescaping of it, until nothing changes."""
    layers = [text]
    for _ in range(depth):
        nxt = _unescape(layers[-1])
        if nxt == layers[-1]:
            break
        layers.append(nxt)
    return layers


def _holds(text: str, secrets: set[str]) -> bool:
    return any(secret in layer for layer in decoded_layers(text) for secret in secrets)


def _scrub_value(value: object, secrets: set[str], replacement: str) -> object:
    """Secrets replaced in every string of a decoded JSON value; strings that are JSON are decoded too."""
    if isinstance(value, dict):
        return {k: _scrub_value(v, secrets, replacement) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_value(v, secrets, replacement) for v in value]
    if not isinstance(value, str):
        return value
    stripped = value.strip()
    if stripped[:1] in ("{", "[") and _holds(value, secrets):
        try:
            inner = orjson.loads(value)
        except orjson.JSONDecodeError:
            inner = None
        if isinstance(inner, dict | list):
            return orjson.dumps(_scrub_value(inner, secrets, replacement)).decode()
    for secret in sorted(secrets, key=len, reverse=True):
        value = value.replace(secret, replacement)
    return value


def _blank_fields(record: object, fields: tuple[str, ...], replacement: str) -> object:
    """A quarantined event's payload with its free-text fields replaced (payload an object or JSON text)."""
    if not isinstance(record, dict) or not fields:
        return record
    payload = record.get("payload")
    as_text = isinstance(payload, str)
    if as_text:
        try:
            payload = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return record
    if not isinstance(payload, dict):
        return record
    payload = {
        k: replacement if k in fields and isinstance(v, str) and v.strip() and not is_marker(v) else v
        for k, v in payload.items()
    }
    return {**record, "payload": orjson.dumps(payload).decode() if as_text else payload}


def scrub_text(
    text: str, secrets: set[str], replacement: str, *, payload_fields: tuple[str, ...] = ()
) -> str:
    """`text` with every secret replaced, judged by its decoded content, not its bytes.

    A JSON text (a JSON Lines record, a CSV or Parquet row as JSON with `payload` a JSON string, a
    ragged CSV row) is decoded, scrubbed string by string and re-encoded; `payload_fields` are replaced
    whole in its payload. Text that does not parse (a broken line) gets the literal replacement, and if
    an escaped copy still decodes to a secret, the decoded text replaces it. Unchanged text is returned
    as is.
    """
    secrets = {s for s in secrets if s}
    out = text
    for secret in sorted(secrets, key=len, reverse=True):
        out = out.replace(secret, replacement)
    if not payload_fields and not _holds(out, secrets) and not _split_holds(out, secrets):
        return out
    try:
        record = orjson.loads(out)
    except orjson.JSONDecodeError:
        record = None
    if isinstance(record, dict | list):
        scrubbed = _scrub_value(_blank_fields(record, payload_fields, replacement), secrets, replacement)
        if scrubbed != record:
            out = orjson.dumps(scrubbed).decode()
    if _split_holds(out, secrets):
        # The fields re-joined are the row as it was written; it stays one field, scrubbed.
        joined = ",".join(str(v) for v in orjson.loads(out)["csv_row"])
        out = orjson.dumps({"csv_row": [scrub_text(joined, secrets, replacement)]}).decode()
    if _holds(out, secrets):
        # Escaped in a way no parser undid (a broken line): keep the decoded text, secrets replaced.
        out = decoded_layers(out)[-1]
        for secret in sorted(secrets, key=len, reverse=True):
            out = out.replace(secret, replacement)
        if _holds(out, secrets):
            out = replacement
    return out


def _split_holds(text: str, secrets: set[str]) -> bool:
    """A ragged CSV row (`{"csv_row": [...]}`) cut a text at its commas: judge the fields re-joined."""
    joined = _split_text(text)
    return joined is not None and _holds(joined, secrets)


def _split_text(text: str) -> str | None:
    """A ragged CSV row's fields re-joined, as `_split_holds` judges them; None for any other text."""
    try:
        record = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    row = record.get("csv_row") if isinstance(record, dict) else None
    return ",".join(str(v) for v in row) if isinstance(row, list) else None


def judged_layers(text: str) -> list[str]:
    """Every text `scrub_text` looks for a secret in: the text's decoded layers, and for a ragged CSV
    row those of its fields re-joined. `scrub_text` without payload fields returns the text unchanged
    exactly when no secret occurs in any of them."""
    layers = decoded_layers(text)
    joined = _split_text(text)
    return layers if joined is None else layers + decoded_layers(joined)


class SecretFinder:
    """Which of many secrets occur in a text, without trying each one: the secrets are indexed by their
    first `PREFIX` characters (shorter ones by length), and a text's substrings of those lengths are
    looked up. Exact: every secret found occurs in the text, and every one that occurs is found."""

    PREFIX = 8

    def __init__(self, secrets: set[str]) -> None:
        self._by_prefix: dict[str, list[str]] = {}
        self._short: dict[int, set[str]] = {}
        for secret in secrets:
            if len(secret) >= self.PREFIX:
                self._by_prefix.setdefault(secret[: self.PREFIX], []).append(secret)
            elif secret:
                self._short.setdefault(len(secret), set()).add(secret)

    def found(self, texts: list[str]) -> set[str]:
        found: set[str] = set()
        for text in texts:
            if self._by_prefix and len(text) >= self.PREFIX:
                grams = {text[i : i + self.PREFIX] for i in range(len(text) - self.PREFIX + 1)}
                for gram in grams & self._by_prefix.keys():
                    found.update(s for s in self._by_prefix[gram] if s in text)
            for length, group in self._short.items():
                if len(text) >= length:
                    found |= group & {text[i : i + length] for i in range(len(text) - length + 1)}
        return found
