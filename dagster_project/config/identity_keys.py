"""The check of the `identity.default_region` config key (docs/identity.md), apart from the registry.

Phones without a country code are read in the org's region, so the value must be a region code the
`phonenumbers` library knows.
"""

from __future__ import annotations

from typing import Any

import phonenumbers


def check_region(value: Any) -> str | None:
    """None when `value` is a region code phonenumbers knows, else what is wrong with it."""
    if not isinstance(value, str) or value not in phonenumbers.SUPPORTED_REGIONS:
        return f"must be a region code phonenumbers knows (`US`, `GB`, `DE`, …), got {value!r}"
    return None
