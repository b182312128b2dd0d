"""Canonical keys: the forms of an email, a phone number, a company domain and a name that two records
of one person (or one company) share however they were typed. docs/identity.md states each rule.

Pure functions, no network, no clock: the same text always gives the same key, and a text that does
not hold a usable value gives None (never an exception), so hostile input only loses its key.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers
import tldextract

DEFAULT_REGION = "US"

_SCHEME = re.compile(r"^[a-z][a-z0-9+.\-]*://")
_PORT = re.compile(r":\d*$")
_SPACES = re.compile(r"\s+")
# Longer than any real address or host: a longer text is not one, and is not worth parsing.
_MAX_TEXT = 320


def _text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    return text if text and len(text) <= _MAX_TEXT else None


def canonical_email(value: object) -> str | None:
    """The mailbox an address names: trimmed, lower-cased, `mailto:` and `<…>` dropped, and the
    plus-address tag removed (`Ana.Lima+crm@Example.org` → `ana.lima@example.org`).

    The plus rule: everything from the first `+` of the local part to the `@` is a sub-address tag that
    the mail server delivers to the same mailbox (Gmail, Outlook, Fastmail and most company servers do),
    so it is dropped for every domain. Dots in the local part are kept (only some providers ignore them).
    Not an address (no single `@`, an empty side, a domain without a dot, spaces): None.
    """
    text = _text(value)
    if text is None:
        return None
    text = text.lower().removeprefix("mailto:").strip().strip("<>").strip()
    if text.count("@") != 1 or _SPACES.search(text):
        return None
    local, domain = text.split("@")
    local = local.split("+", 1)[0]
    domain = domain.rstrip(".")
    if not local or "." not in domain or domain.startswith(".") or ".." in domain:
        return None
    return f"{local}@{domain}"


def canonical_phone(value: object, region: str = DEFAULT_REGION) -> str | None:
    """The number in E.164 (`+14155550100`), read as a number of `region` (the org's
    `identity.default_region`) when it has no country code. A text that is not a complete possible
    number (too short or long for its country, no digits, a local number without its area code): None.
    """
    text = _text(value)
    if text is None:
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    # Only a complete number: one possible only locally (`555-0142`, no area code) names no one line.
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=1)
def _extractor() -> tldextract.TLDExtract:
    # The suffix list bundled with the package: no download (`suffix_list_urls=()`) and no cache
    # written to the home folder (`cache_dir=None`), so the key never depends on the network or the day.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def registrable_domain(value: object) -> str | None:
    """The domain a company registered, from a host, a URL or an email address:
    `https://www.Shop.Example.co.uk/about` → `example.co.uk`, `ana@mail.example.org` → `example.org`.

    Lower-cased; scheme, user, port, path, query and a leading `www.` dropped; the public suffix list
    bundled with tldextract decides where the registrable part starts. A host whose suffix is not on the
    list (`.example`, `.test`, `.internal`, `.local`, an intranet name) keeps its last two labels.
    """
    text = _text(value)
    if text is None:
        return None
    host = _SCHEME.sub("", text.lower())
    host = re.split(r"[/?#]", host, maxsplit=1)[0]
    host = host.rsplit("@", 1)[-1]
    host = _PORT.sub("", host).strip(".")
    host = host.removeprefix("www.")
    if not host or _SPACES.search(host) or ".." in host:
        return None
    parts = _extractor()(host)
    if parts.suffix and parts.domain:
        return f"{parts.domain}.{parts.suffix}"
    labels = host.split(".")
    return ".".join(labels[-2:])


def normalized_name(value: object) -> str | None:
    """A person's name for comparison: accents and punctuation dropped, case folded, spaces collapsed,
    and `Last, First` turned into `first last`. Empty: None."""
    text = _text(value)
    if text is None:
        return None
    if text.count(",") == 1:
        last, first = text.split(",")
        text = f"{first} {last}"
    decomposed = unicodedata.normalize("NFKD", text)
    letters = "".join(
        c if c.isalnum() or c in " -'" else " " for c in decomposed if not unicodedata.combining(c)
    )
    name = _SPACES.sub(" ", letters.casefold().replace("'", "")).strip(" -")
    return name or None


def last_name(value: object) -> str | None:
    """The last word of the normalized name (`Ana María Lima` → `lima`); None without a name."""
    name = normalized_name(value)
    return name.rsplit(" ", 1)[-1] if name else None
