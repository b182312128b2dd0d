"""`import.stage_map`: how a CRM's opportunity and deal stage names become the contract's stages.

The importers (dagster_project/importers/) read it for the org they import into. A value maps a vendor
(`salesforce`, `hubspot`) to an object stage name → target; the names are matched case-insensitively
(a HubSpot stage by its internal id first, then by its label). A target is a pursuit stage or
`candidate`: an opportunity still at that stage is a candidate, not yet a pursuit.
"""

from __future__ import annotations

from typing import Any

from dagster_project.contract.events import PURSUIT_STAGES

CANDIDATE_STAGE = "candidate"
STAGE_TARGETS: tuple[str, ...] = (CANDIDATE_STAGE, *PURSUIT_STAGES)
VENDORS: tuple[str, ...] = ("salesforce", "hubspot")

# The stock pipelines: Salesforce's default Opportunity stage picklist and HubSpot's default sales
# pipeline (its internal stage ids and their labels).
DEFAULT_STAGE_MAP: dict[str, dict[str, str]] = {
    "salesforce": {
        "Prospecting": "candidate",
        "Qualification": "qual",
        "Needs Analysis": "qual",
        "Value Proposition": "pink",
        "Id. Decision Makers": "pink",
        "Perception Analysis": "pink",
        "Proposal/Price Quote": "red",
        "Negotiation/Review": "submit",
        "Closed Won": "won",
        "Closed Lost": "lost",
    },
    "hubspot": {
        "appointmentscheduled": "candidate",
        "Appointment Scheduled": "candidate",
        "qualifiedtobuy": "qual",
        "Qualified To Buy": "qual",
        "presentationscheduled": "pink",
        "Presentation Scheduled": "pink",
        "decisionmakerboughtin": "red",
        "Decision Maker Bought-In": "red",
        "contractsent": "submit",
        "Contract Sent": "submit",
        "closedwon": "won",
        "Closed Won": "won",
        "closedlost": "lost",
        "Closed Lost": "lost",
    },
}


def check_stage_map(value: Any) -> str | None:
    """A human detail when `value` is not a valid `import.stage_map`, else None."""
    if not isinstance(value, dict):
        return f"must be an object vendor -> (stage name -> target), got {type(value).__name__}"
    if unknown := sorted(set(value) - set(VENDORS)):
        return f"names unknown vendors {', '.join(unknown)} (allowed: {', '.join(VENDORS)})"
    for vendor, stages in value.items():
        if not isinstance(stages, dict) or not all(isinstance(k, str) and k.strip() for k in stages):
            return f"{vendor}: must map non-empty stage names to targets"
        folded = [name.strip().casefold() for name in stages]
        if len(set(folded)) != len(folded):
            return f"{vendor}: names a stage twice (names are matched case-insensitively)"
        if bad := sorted({str(t) for t in stages.values() if t not in STAGE_TARGETS}):
            return f"{vendor}: unknown targets {', '.join(bad)} (allowed: {', '.join(STAGE_TARGETS)})"
    return None
