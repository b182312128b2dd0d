"""Writes docs/configuration.md from the config registry, so the page cannot disagree with the code.

    python -m dagster_project.config.doc           # rewrite docs/configuration.md
    python -m dagster_project.config.doc --check   # exit 1 when the committed page is stale

Every key of `config.KEYS` must have a meaning below and every value check a wording: a new key or a
new kind of check makes `render` raise, so the page is updated in the same change as the registry.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

from dagster_project.config import registry as config
from dagster_project.settings import PROJECT_ROOT

DOC_PATH = PROJECT_ROOT / "docs" / "configuration.md"

# What an override must be, per value check (by the check's qualified name: closures share one). A
# check made for a bound (`_positive_number(high)`) is named after its factory, and the key's `high`
# is added to the wording.
ALLOWED: dict[str, str] = {
    "_positive_number": "a number > 0",
    "_positive_number.<locals>.check": "a number > 0",
    "_non_negative_number": "a number ≥ 0",
    "_non_negative_number.<locals>.check": "a number ≥ 0",
    "_positive_int": "an integer > 0",
    "_positive_int.<locals>.check": "an integer > 0",
    "_fraction": "a number in (0, 1)",
    "_share": "a number in (0, 1]",
    "_gate_mode": " or ".join(f"`{mode}`" for mode in config.GATE_MODES),
    "_checklist": "a non-empty list of distinct item names",
    "_pinned_types": "a list of distinct atom types",
    "_note_rules": "an object: atom type → list of regular expressions",
    "_transitions.<locals>.check": "an object: state → list of next states (only known states)",
    "check_stage_map": "an object: vendor (`salesforce`, `hubspot`) → (stage name → `candidate` or a "
    "pursuit stage)",
    "check_region": "a region code `phonenumbers` knows (`US`, `GB`, …)",
    "_flag": "`true` or `false`",
    "check_enrichment": "`{}` (off) or an object: `server`, `fields`, `rate_limit_per_minute` (docs/mcp.md)",
}

# What each key means, by key or by the key's prefix (longest prefix wins).
MEANING: dict[str, str] = {
    "sla.triage.threshold_hours": "hours from `signal.created` to the triage deadline",
    "sla.proposal.threshold_hours": "hours from `candidate.promoted` to the proposal deadline",
    "sla.response.threshold_hours": "hours from the first `pursuit.proposal_sent` to the response deadline",
    "sla.at_risk_fraction": "an open clock is `at_risk` once elapsed ≥ this × its threshold",
    "health.gate_pass_rate": "a gate whose pass rate is below this is flagged (`marts.gate_pass_rates`, "
    "`health_line`) and the Quality gates page draws it",
    "health.sla_breach_rate_pct": "an SLA metric whose breach rate (%) is above this is flagged "
    "(`marts.sla_compliance_summary`, `health_line_pct`); the SLA page draws 100 − this as compliance",
    "followup.proposal_quiet_days": "days without any event after which an open pursuit with a sent proposal "
    "gets a follow-up (`marts.follow_ups`, `today_panel.follow_up_due`)",
    "followup.signal_quiet_days": "days without any event after which a touched signal (answered, not yet "
    "linked or dismissed) gets a follow-up (`marts.follow_ups`)",
    "checklist.pink.items": "items that must all be done before a pursuit enters `submit`",
    "checklist.red.items": "items that must all be done before `submit` → `won` or `lost`",
    "enrichment": "switches on enrichment of new signals through an MCP server the operator declared, "
    "maps its answer onto `client.updated` and caps the calls per minute (docs/mcp.md)",
    "gate_mode": "`enforce` rejects an event that fails a gate; `warn` applies it (never out of a terminal "
    "state) and records it with `outcome = warned`",
    "transitions.candidate": "the candidate machine: state → allowed next states; an override replaces the "
    "whole map",
    "transitions.pursuit": "the pursuit machine: state → allowed next states; an override replaces the "
    "whole map",
    "memory.score.": "base score of an atom of this type (× its trust weight, capped at 100)",
    "memory.retention_days.": "days from `occurred_at` until an atom of this type expires (an explicit "
    "`expires_at` wins)",
    "memory.half_life_days.": "days in which this type's relevance halves",
    "memory.pinned_types": "atom types whose relevance does not decay",
    "memory.note_rules": "how a `*.note_added` text gets its atom type (below); an override replaces the "
    "whole map",
    "ranking.candidate_urgency.breach": "candidate urgency points: an open SLA breach",
    "ranking.candidate_urgency.stale": "candidate urgency points: untouched longer than `stale_after_hours`",
    "ranking.candidate_urgency.aging": "candidate urgency points: untouched longer than `aging_after_hours`",
    "ranking.candidate_urgency.fresh": "candidate urgency points: otherwise (also never touched)",
    "ranking.candidate_urgency.stale_after_hours": "cut-off: hours untouched before a candidate is stale",
    "ranking.candidate_urgency.aging_after_hours": "cut-off: hours untouched before a candidate is aging "
    "(amber badge)",
    "ranking.candidate_value.": "candidate value points for this `value_band` (`none`: no band)",
    "ranking.candidate_stage.": "candidate stage points for this status (`new` scores 0)",
    "ranking.candidate_workload.per_item": "subtracted per open candidate of the same owner (itself included)",
    "ranking.pursuit_urgency.breach": "pursuit urgency points: an open proposal or response breach",
    "ranking.pursuit_urgency.overdue": "pursuit urgency points: `due_date` before today",
    "ranking.pursuit_urgency.due_soon": "pursuit urgency points: due within `due_soon_days`",
    "ranking.pursuit_urgency.normal": "pursuit urgency points: otherwise (also no due date)",
    "ranking.pursuit_urgency.due_soon_days": "cut-off: days ahead that count as due soon",
    "ranking.pursuit_value.large": "pursuit value points: forecast ≥ `large_min_usd`",
    "ranking.pursuit_value.medium": "pursuit value points: forecast ≥ `medium_min_usd`",
    "ranking.pursuit_value.small": "pursuit value points: forecast ≥ `small_min_usd`",
    "ranking.pursuit_value.other": "pursuit value points: below `small_min_usd` or no forecast",
    "ranking.pursuit_value.large_min_usd": "cut-off in USD for a large pursuit",
    "ranking.pursuit_value.medium_min_usd": "cut-off in USD for a medium pursuit",
    "ranking.pursuit_value.small_min_usd": "cut-off in USD for a small pursuit",
    "ranking.pursuit_stage.": "pursuit stage points for this stage",
    "ranking.pursuit_compliance.high": "compliance points: `compliance_score` ≥ `high_min`",
    "ranking.pursuit_compliance.mid": "compliance points: `compliance_score` ≥ `mid_min`",
    "ranking.pursuit_compliance.low": "compliance points: `compliance_score` ≥ `low_min`",
    "ranking.pursuit_compliance.none": "compliance points: below `low_min` or no score",
    "ranking.pursuit_compliance.high_min": "cut-off: `compliance_score` for high compliance",
    "ranking.pursuit_compliance.mid_min": "cut-off: `compliance_score` for mid compliance",
    "ranking.pursuit_compliance.low_min": "cut-off: `compliance_score` for low compliance",
    "ranking.pursuit_workload.per_item": "subtracted per open pursuit of the same capture lead (itself "
    "included)",
    "ranking.tier.critical_min": "score at or above which an item is `critical`",
    "ranking.tier.high_min": "score at or above which an item is `high`",
    "ranking.tier.medium_min": "score at or above which an item is `medium` (below: `low`)",
    "import.stage_map": "how `workstream import` maps a CRM's opportunity/deal stage names (case-insensitive) "
    "to a pursuit stage, or `candidate` for an early stage; an override replaces the whole map "
    "([import.md](import.md))",
    "identity.default_region": "region a phone number without a country code is read in (E.164 keys)",
    "identity.auto_link": "`true`: a new signal from a known contact with one open candidate is linked to it "
    "by a `candidate.updated` event written to the inbox; `false`: only suggested",
    "identity.matcher_min_records": "person records an org needs before the probabilistic matcher runs "
    "(below: deterministic rules only)",
    "identity.match_probability": "match probability at or above which the matcher links two records",
    "identity.train_min_records": "person records an org needs before the matcher's parameters are trained on "
    "its own records (below, or when training does not converge: the fixed parameters); the default keeps "
    "training off, as trained parameters were less precise ([identity.md](identity.md))",
    "identity.max_block_size": "most person records one blocking key of the matcher may gather; a larger block "
    "(a name or an address local part that many people share) is left out for that rule and counted "
    "([identity.md](identity.md))",
    "outbox.max_attempts": "attempts before an outbox item becomes a dead letter",
    "outbox.backoff_cap_minutes": "longest wait between two attempts (waits double from 1 minute)",
    "outbox.stale_claim_minutes": "age after which a claim is taken to be dead and its items recovered",
}

# Defaults too long for the table get their own section; the table points there.
LONG_DEFAULTS = {"memory.note_rules", "import.stage_map"}

INTRO = """\
# Configuration

<!-- Generated by `python -m dagster_project.config.doc` from the config registry
(dagster_project/config/registry.py); edit those, not this file. A test fails when they differ. -->

Every rule value lives in one registry, `dagster_project/config/registry.py`. Each key has a built-in
default; an org overrides a key with a `config.changed` event (`payload.key`, `payload.value`, any JSON),
in force from that event's `occurred_at` on. Overrides are per org and effective-dated:

- A rule judging an event uses the value in force at that event's time; a change at the same instant
  applies first (changes at one instant apply in `event_id` order, the last one wins).
- An SLA clock keeps the threshold in force when it started. Ranking, relevance, retention, the
  at-risk fraction and the health lines use the values in force at the as-of time.
- An unknown key or a value that fails its check is not applied: the event goes to `rejected_events`
  with rule `invalid_config` and a detail naming the problem, and the previous value stays in force.
  A bad config never stops a run: number keys have upper bounds, and an org's own `memory.note_rules`
  patterns run on RE2 (linear time; see [poison-isolation.md](poison-isolation.md)).
- `marts.config_registry` lists, per org, every key's default and each override with its
  `effective_from` / `effective_to`.

## The Today panel's score

Every open candidate and pursuit gets points per component, each read from the `ranking.*` keys in
force at the as-of time:

- candidate score = urgency + value + stage − workload
- pursuit score = urgency + value + stage + compliance − workload

The score sets the tier (`ranking.tier.*`), and the panel ranks each org's items by score (highest
first), then due date, last touch and id. "Today" is the UTC date of the as-of time.

## Keys
"""


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _meaning(key: str) -> str:
    if key in MEANING:
        return MEANING[key]
    prefixes = [prefix for prefix in MEANING if prefix.endswith(".") and key.startswith(prefix)]
    if not prefixes:
        raise KeyError(f"config key {key!r} has no meaning in {__name__}.MEANING: describe it there")
    return MEANING[max(prefixes, key=len)]


def _allowed(spec: config.KeySpec) -> str:
    name = spec.check.__qualname__
    if name not in ALLOWED:
        raise KeyError(f"value check {name!r} has no wording in {__name__}.ALLOWED: describe it there")
    high = getattr(spec, "high", None)
    return ALLOWED[name] if high is None else f"{ALLOWED[name]}, at most {_number(high)}"


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    """The whole page, from `config.KEYS`."""
    lines = [INTRO, "| key | default | an override must be | meaning |", "|---|---|---|---|"]
    for key, spec in config.KEYS.items():
        default = "see below" if key in LONG_DEFAULTS else f"`{_json(spec.default)}`"
        lines.append(f"| `{key}` | {_cell(default)} | {_cell(_allowed(spec))} | {_cell(_meaning(key))} |")
    lines += [
        "",
        "## `memory.note_rules`",
        "",
        *textwrap.wrap(
            "A `*.note_added` text becomes an atom whose type is found by these regular expressions, "
            "matched case-insensitively anywhere in the text (its first "
            f"{_number(config.NOTE_RULE_MAX_TEXT)} characters). The types are tried in the order "
            + " > ".join(f"`{t}`" for t in config.NOTE_RULE_TYPES)
            + "; the first match wins, and a text no rule matches is a `note`. The matched rule is kept "
            "in the atom's `classified_by`. An override may give at most "
            f"{config.NOTE_RULE_MAX_PATTERNS} patterns per type, each at most "
            f"{config.NOTE_RULE_MAX_LENGTH} characters. An org's own patterns run on RE2, in time "
            "linear in the text, so they may not use lookaround or backreferences; the built-in ones "
            "below are always accepted. The default:",
            width=104,
            break_on_hyphens=False,
        ),
        "",
        "```json",
        json.dumps(config.DEFAULTS["memory.note_rules"], ensure_ascii=False, indent=2),
        "```",
        "",
        "## `import.stage_map`",
        "",
        "The stock Salesforce and HubSpot pipelines (what each target means: [import.md](import.md)):",
        "",
        "```json",
        json.dumps(config.DEFAULTS["import.stage_map"], ensure_ascii=False, indent=2),
        "```",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write docs/configuration.md from the config registry.")
    parser.add_argument("--check", action="store_true", help="Only compare; exit 1 when the page is stale.")
    parser.add_argument("--out", type=Path, default=DOC_PATH, help="Where to write (default: %(default)s).")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is stale: run python -m {__name__}", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
