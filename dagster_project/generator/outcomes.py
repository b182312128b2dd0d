"""What makes a demo pursuit win: seeded, stated effects, so the demo data has something true to learn.

A submitted pursuit is won with probability `BASE_WIN_RATE` plus the `uplift` of each effect it has, drawn
from the story's seeded stream. Every effect is something known before the outcome, visible in the
events the story writes, and described in docs/generator.md; the scoring and the win patterns are tested
to find them. Anything else about a pursuit (its value band, tags, client, owner, compliance score)
has no effect on its outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

BASE_WIN_RATE = 0.10  # a submitted pursuit with none of the effects below


@dataclass(frozen=True)
class Effect:
    name: str
    uplift: float  # added to the win probability
    description: str


RISK_MITIGATION = Effect(
    "risk_mitigation",
    0.40,
    "a risk-mitigation note (a `risk` memory atom tagged `risk-mitigation`) recorded on the candidate "
    "as it is qualified, before its promotion to a pursuit",
)
FAST_FIRST_RESPONSE = Effect(
    "fast_first_response",
    0.25,
    "the inquiry's first signal (the earliest one linked to the candidate) was first touched within "
    "4 hours of its creation",
)
REFERRAL = Effect(
    "referral",
    0.20,
    "the inquiry came in by referral (the first signal's `source_type` is `referral`)",
)
EFFECTS = (RISK_MITIGATION, FAST_FIRST_RESPONSE, REFERRAL)

FAST_RESPONSE_HOURS = 4.0
RISK_MITIGATION_RATE = 0.5  # share of promoted candidates that record a risk-mitigation note
RISK_MITIGATION_TAG = "risk-mitigation"


def win_probability(effects: set[str]) -> float:
    """The chance a submitted pursuit with `effects` (names from `EFFECTS`) is won."""
    return BASE_WIN_RATE + sum(e.uplift for e in EFFECTS if e.name in effects)
