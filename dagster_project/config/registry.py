"""The config registry: the one module that owns every rule value, with per-org effective-dated overrides.

Built-in defaults are the contract's (docs/contract.md: "Lifecycle", "SLAs", "Memory") and the
Today-panel score's (docs/configuration.md). An org overrides a key with a `config.changed` event,
effective from its `occurred_at`. Every rule that judges an event asks `value(org, key, at)` for the
event's own time, so a re-fold with late events gives the same answer whatever the arrival order.
Invalid changes never raise: they become `invalid_config` rows and the previous value stays in force.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

import orjson
import re2

from dagster_project.config.enrichment import check_enrichment
from dagster_project.config.identity_keys import check_region
from dagster_project.config.import_stages import DEFAULT_STAGE_MAP, check_stage_map
from dagster_project.contract.events import ATOM_TYPES
from dagster_project.contract.states import MACHINE_STATES, Outcome, Rule

CONFIG_EVENT = "config.changed"

# --- built-in defaults -------------------------------------------------------------------------------

CANDIDATE_TRANSITIONS: dict[str, list[str]] = {
    "new": ["triaged", "archived"],
    "triaged": ["nurture", "on_hold", "promoted", "archived"],
    "nurture": ["triaged", "on_hold", "promoted", "archived"],
    "on_hold": ["triaged", "nurture", "promoted", "archived"],
    "promoted": [],
    "archived": [],
}
PURSUIT_TRANSITIONS: dict[str, list[str]] = {
    "qual": ["pink", "lost"],
    "pink": ["red", "qual", "lost"],
    "red": ["submit", "pink", "lost"],
    "submit": ["won", "lost"],
    "won": [],
    "lost": [],
}
PINK_ITEMS = ["budget_confirmed", "technical_scope_defined", "decision_makers_identified", "timeline_agreed"]
RED_ITEMS = ["proposal_reviewed", "pricing_approved", "legal_terms_agreed", "delivery_plan_finalized"]
SLA_THRESHOLD_HOURS = {"triage": 24, "proposal": 72, "response": 96}
SLA_AT_RISK_FRACTION = 0.75
MEMORY_SCORE = {"decision": 100, "risk": 90, "preference": 80, "note": 60, "status": 40}
MEMORY_RETENTION_DAYS = {"decision": 365, "risk": 365, "preference": 365, "note": 90, "status": 30}
MEMORY_HALF_LIFE_DAYS = {"decision": 180, "risk": 180, "preference": 180, "note": 30, "status": 30}
# Identity resolution (docs/identity.md): the region of phones without a country code; person records an org
# needs to run the matcher, then to train it (off: less precise); link probability; largest matcher block.
IDENTITY = {"default_region": "US", "auto_link": False, "matcher_min_records": 50, "match_probability": 0.95}
IDENTITY |= {"train_min_records": 10**9, "max_block_size": 50}
OUTBOX = {"max_attempts": 8, "backoff_cap_minutes": 60, "stale_claim_minutes": 5}
# The dashboards' health lines, judged in the marts and drawn from the value each mart publishes.
HEALTH_GATE_PASS_RATE = 0.8  # a gate's pass rate below this is below the line
HEALTH_SLA_BREACH_RATE_PCT = 5.0  # an SLA metric's breach rate (%) above this is below the line
# Follow-ups (marts.follow_ups): days without any event after which a sent proposal, or a signal that was
# answered but not yet linked or dismissed, is due for a follow-up.
FOLLOW_UP_QUIET_DAYS = {"proposal": 5, "signal": 3}

# `memory.note_rules`: how a `*.note_added` text gets its atom type (dagster_project/memory/classify.py).
# Type → ordered regular expressions, matched case-insensitively anywhere in the text; the types are
# tried in the fixed priority decision > risk > preference and the first match wins, else `note`.
# General sales vocabulary only (benchmarks/note_classifier.py measures it on data/memory/).
NOTE_RULE_TYPES = ("decision", "risk", "preference")
NOTE_RULE_MAX_PATTERNS = 200
NOTE_RULE_MAX_LENGTH = 300
# How much of a note the rules read (see classify.py: this bounds the time an org's rules take).
NOTE_RULE_MAX_TEXT = 10_000
# RE2's memory for one compiled pattern: a pattern that needs more is refused, not matched slowly.
NOTE_RULE_MAX_MEM = 8 << 20
NOTE_RULES: dict[str, list[str]] = {
    "decision": [
        r"\b(decided|decides|decision (was |has been )?made|final (call|decision)|go/no-go: go)\b",
        r"(?<!not )(?<!n't )(?<!never )\bagreed\b",
        r"\b(approved|approves|authori[sz]ed|greenlit|green-lit|signed off|sign-off given)\b",
        r"\b(signed|countersigned|executed) (the )?(contract|msa|sow|order|agreement|deal|at)\b",
        r"\b(contract|msa|sow|agreement|deal) (is |was |has been )?(signed|executed|closed)\b",
        r"\b(closed[- ]won|closed[- ]lost|awarded|verbal yes|said yes|voted to)\b",
        r"\b(chose|chosen|selected|opted (for|to)|went with|(going|moving|pressing) (forward|ahead) with|going with)\b",
        r"\b(accepted|rejected|declined|terminated|cancell?ed) (the |our |their |a )?\w+",
        r"\b(committed|commits) to\b",
        r"\b(settled|landed) on\b",
        r"\b(finali[sz]ed|locked in|locked)\b",
        r"\bpo (was )?(issued|raised|received)\b|\bpurchase order (issued|raised|received)\b",
        r"\bwill (renew|proceed|sign|present|go ahead|extend)\b",
        r"(?<!n't )(?<!not )(?<!yet to be )\bconfirmed\b",
        r"\bpicked (us|them|our|their|the|a|an)\b|\b(went for|green light|thumbs up|vendor of record|no-bid|bid decision)\b",
        r"\b(date|price|pricing|scope|budget|seats|count|term|rate)s? (is |was |has been |now )?(fixed|set|agreed)\b",
        r"\b(dropping|dropped|removing|removed|adding|added) .{0,40}\b(from|to) the (offer|scope|proposal|deal)\b",
        r"\bsigned\b|,? final\.?$",
    ],
    "risk": [
        r"\b(at risk|risk (that|of|to|on|is)|risky|red flag|warning|jeopardi[sz]e)\b",
        r"\b(budget|spending|hiring) (freeze|cut|cuts|squeeze)\b|\bno budget\b",
        r"\b(competitor|competitors|competing|competition|incumbent|rival)\b",
        r"\b(talking|speaking) to\b.*\b(as well|too|also)\b|\bshortlist(ed)? (also|as well)\b",
        r"\b(leaving|resign(ed|ing|s)?|quit|medical leave|parental leave|reorg|re-org|restructur\w*|layoffs?)\b",
        r"\b(concern|concerns|concerned|worried|worries|skeptical|sceptical|hesitant|lukewarm|unhappy|frustrated|upset|shaky)\b",
        r"\b(block|blocks|blocked|blocker|blocking|showstopper|deal ?breaker)\b",
        r"\b(delay|delays|delayed|slip|slips|slipping|postpone\w*|stall\w*|pushed back|losing momentum)\b",
        r"\b(too (high|expensive|costly)|objection|cheaper|undercut|discount)\b",
        r"\b(went|gone|going) (silent|quiet|dark)\b|\bno (reply|response|answer)\b|\bghost(ed|ing)\b",
        r"\bmissed\b.*\b(calls?|meetings?|deadlines?)\b",
        r"\b(threaten\w*|walk away|walk|pull out|pulling out)\b",
        r"\b(unclear|in doubt|uncertain|unconfirmed)\b|\b(haven'?t|hasn'?t|not) (yet )?confirmed\b",
        r"\b(cannot|can't|won't|will not|unable to) (accept|allow|meet|hit|agree|support)\b",
        r"\b(liability|indemnity|penalt(y|ies)|lawsuit|litigation|non-compliance)\b",
        r"\b(paid late|late payments?|\d+\+? days late|overdue|bad debt)\b",
        r"\b(conflict of interest|merger|acquisition|takeover)\b",
        r"\b(disagree\w*|push(ing)? back|pushback|scope creep|growing scope|split (the )?(award|contract|deal))\b",
        r"\b(in-house|build (it )?themselves|diy)\b",
        r"\b(may|might|could) (not )?(slip|delay|block|lose|disappear|require|wipe|blow|derail|kill|fail|walk)\b",
        r"\b(may|might|could|won'?t|will not) (not )?(approve|agree|sign|support|add|take|cost)\b",
        r"\b(budget|headcount|funding|spend|staff)\w* .{0,30}\b(cut|cuts|cutting|slashed|reduced|frozen)\b",
        r"\b(cut|cuts|cutting|slashing|reducing)\b .{0,20}\b(budget|headcount|funding|spend|staff|jobs)\b",
        r"\b(unsure|not sure|not clear|doubts?|doubtful|wary|distrust\w*|bad experience|outrageous|overpriced|pricey)\b",
        r"\b(lacks?|lacking|missing|gaps?)\b .{0,30}\b(feature|requirement|capability|reference|certification|mandatory)\w*",
        r"\b(silence|silent|unresponsive|unreachable|disengaged|hasn'?t engaged|not engaged)\b",
        r"\b(tight|aggressive|unrealistic) (deadline|timeline|schedule|budget)|\btight for\b|\b(moved|brought) (up|forward)\b",
        r"\b(re-?tender|re-?bid|re-?evaluat\w*|re-?compete)\b",
        r"\b(moved|moving|transferred) to (a )?(different|another|new) (division|role|team|department|company)\b",
        r"\b(flagged|flags)\b",
    ],
    "preference": [
        r"\b(prefer|prefers|preferred|preference|preferably)\b",
        r"\b(would|'d) (rather|like|prefer)\b|\brather than\b|\binstead of\b",
        r"\b(likes|dislikes|hates|loves|favou?rs|favou?red|keen on|fan of|partial to|averse to)\b",
        r"\blean(s|ing)? (towards?|to)\b|\bno appetite for\b",
        r"\b(wants?|wanted|requests|requested|insists?|insisted|expects?|requires?)\b(?! (a |an )?(discount|refund|answer|decision))",
        r"\b(asked|asks) (us |that )",
        r"\b(works? best|most responsive|best time|best way|preferred channel|style is)\b",
        r"^\s*(always|never|avoid|please)\b|\b(don'?t|do not|never) (call|email|send|contact|schedule)\b",
        r"\baddressed as\b|\b(route|routed|goes?|go) (all )?\w* ?through\b",
        r"\b(values|big on|enjoys|appreciates|cares about|go-to)\b",
        r"\bonly (accepts?|takes?|wants?|uses?|works? with|reads?)\b",
        r"\b(must|should|has to|have to) (be|go|come) (on|via|through|in|by)\b",
        r"\b(is|are) (ok|okay|fine|best) (to|with|for)\b",
    ],
}

# The built-in patterns run on Python's `re` (reviewed; lookbehind); every other runs on RE2.
NOTE_RULE_BUILTINS = frozenset(p for patterns in NOTE_RULES.values() for p in patterns)


def re2_options() -> re2.Options:
    """Options for an org's note-rule patterns: case-insensitive, bounded memory, no logging."""
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # a refused pattern is reported as invalid_config, not on stderr
    options.max_mem = NOTE_RULE_MAX_MEM
    return options


# Today-panel points, `ranking.<component>.<case>` (docs/configuration.md: candidate score
# U + V + S − W, pursuit score U + V + S + C − W). Points may be 0.
RANKING_POINTS: dict[str, float] = {
    "candidate_urgency.breach": 100,  # open SLA breach
    "candidate_urgency.stale": 50,  # untouched > stale_after_hours
    "candidate_urgency.aging": 25,  # untouched > aging_after_hours
    "candidate_urgency.fresh": 10,  # otherwise (also never touched)
    "candidate_value.high": 30,
    "candidate_value.med": 15,
    "candidate_value.low": 5,
    "candidate_value.none": 0,
    "candidate_stage.nurture": 15,
    "candidate_stage.triaged": 10,
    "candidate_stage.on_hold": 5,
    "candidate_workload.per_item": 2,  # × the owner's open candidates (self included)
    "pursuit_urgency.breach": 100,
    "pursuit_urgency.overdue": 75,  # due_date before today
    "pursuit_urgency.due_soon": 50,  # due within due_soon_days
    "pursuit_urgency.normal": 20,  # otherwise (also no due date)
    "pursuit_value.large": 40,  # forecast ≥ large_min_usd
    "pursuit_value.medium": 25,
    "pursuit_value.small": 15,
    "pursuit_value.other": 5,  # below small_min_usd or unknown
    "pursuit_stage.submit": 35,
    "pursuit_stage.red": 25,
    "pursuit_stage.pink": 15,
    "pursuit_stage.qual": 10,
    "pursuit_compliance.high": 20,  # compliance_score ≥ high_min
    "pursuit_compliance.mid": 10,
    "pursuit_compliance.low": 5,
    "pursuit_compliance.none": 0,
    "pursuit_workload.per_item": 3,  # × the capture lead's open pursuits (self included)
}
# The cut-offs of the same formula and its tiers; positive numbers.
RANKING_THRESHOLDS: dict[str, float] = {
    "candidate_urgency.stale_after_hours": 168,
    "candidate_urgency.aging_after_hours": 72,
    "pursuit_urgency.due_soon_days": 3,
    "pursuit_value.large_min_usd": 100_000,
    "pursuit_value.medium_min_usd": 50_000,
    "pursuit_value.small_min_usd": 25_000,
    "pursuit_compliance.high_min": 8.0,
    "pursuit_compliance.mid_min": 6.0,
    "pursuit_compliance.low_min": 4.0,
    "tier.critical_min": 100,
    "tier.high_min": 75,
    "tier.medium_min": 50,
}

GATE_MODES = ("enforce", "warn")

# --- value checks: each returns a human detail when the value is bad, else None ----------------------

Check = Callable[[Any], str | None]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# Upper bounds, so that no accepted value can overflow what reads it (a retention of 10**8 days is past
# datetime's year 9999; hours become microseconds in dbt's bigint arithmetic). Far above any real use.
MAX_HOURS = 87_600  # ten years
MAX_DAYS = 36_500  # a hundred years
MAX_POINTS = 1_000_000  # scores, points and tier cut-offs
MAX_AMOUNT = 1_000_000_000_000  # currency cut-offs
MAX_ATTEMPTS = 100
MAX_BACKOFF_MINUTES = 10_080  # a week
MAX_STALE_CLAIM_MINUTES = 1_440  # a day


def _positive_number(high: float) -> Check:
    def check(value: Any) -> str | None:
        if not _is_number(value) or not 0 < value <= high:
            return f"must be a positive number at most {high:,}, got {_show(value)}"
        return None

    return check


def _non_negative_number(high: float) -> Check:
    def check(value: Any) -> str | None:
        if not _is_number(value) or not 0 <= value <= high:
            return f"must be a number >= 0 and at most {high:,}, got {_show(value)}"
        return None

    return check


def _positive_int(high: int) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= high:
            return f"must be a positive integer at most {high:,}, got {_show(value)}"
        return None

    return check


def _fraction(value: Any) -> str | None:
    if not _is_number(value) or not 0 < value < 1:
        return f"must be a number in (0, 1), got {_show(value)}"
    return None


def _share(value: Any) -> str | None:
    if not _is_number(value) or not 0 < value <= 1:
        return f"must be a number in (0, 1], got {_show(value)}"
    return None


def _gate_mode(value: Any) -> str | None:
    if value not in GATE_MODES:
        return f"must be one of {', '.join(GATE_MODES)}, got {_show(value)}"
    return None


def _string_list(value: Any, *, non_empty: bool, choices: tuple[str, ...] | None = None) -> str | None:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        return f"must be a list of non-empty strings, got {_show(value)}"
    if non_empty and not value:
        return "must name at least one item"
    if len(set(value)) != len(value):
        return "lists an item twice"
    if choices is not None and (unknown := sorted(set(value) - set(choices))):
        return f"names unknown values {', '.join(unknown)} (allowed: {', '.join(choices)})"
    return None


def _checklist(value: Any) -> str | None:
    return _string_list(value, non_empty=True)


def _pinned_types(value: Any) -> str | None:
    return _string_list(value, non_empty=False, choices=ATOM_TYPES)


def _note_rules(value: Any) -> str | None:
    if not isinstance(value, dict):
        return f"must be an object atom type -> list of regular expressions, got {_show(value)}"
    if unknown := sorted(set(value) - set(NOTE_RULE_TYPES)):
        return f"names unknown types {', '.join(unknown)} (allowed: {', '.join(NOTE_RULE_TYPES)})"
    for atom_type, patterns in value.items():
        if problem := _string_list(patterns, non_empty=False):
            return f"{atom_type}: {problem}"
        if len(patterns) > NOTE_RULE_MAX_PATTERNS:
            return f"{atom_type}: at most {NOTE_RULE_MAX_PATTERNS} patterns, got {len(patterns)}"
        for pattern in patterns:
            if len(pattern) > NOTE_RULE_MAX_LENGTH:
                return f"{atom_type}: a pattern is longer than {NOTE_RULE_MAX_LENGTH} characters"
            if pattern in NOTE_RULE_BUILTINS:
                continue
            try:
                re2.compile(pattern, re2_options())
            except re2.error as exc:
                reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
                return (
                    f"{atom_type}: {_show(pattern)} is not a regular expression RE2 accepts ({reason}); "
                    "an org's patterns run on RE2 (linear time): no lookaround, no backreferences"
                )
    return None


def _transitions(entity: str) -> Check:
    states = MACHINE_STATES[entity]

    def check(value: Any) -> str | None:
        if not isinstance(value, dict):
            return f"must be an object state -> list of next states, got {_show(value)}"
        unknown = set(value) - set(states)
        for targets in value.values():
            if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
                return f"must map each state to a list of state names, got {_show(targets)}"
            if len(set(targets)) != len(targets):
                return f"lists a next state twice in {_show(targets)}"
            unknown |= set(targets) - set(states)
        if unknown:
            names = ", ".join(sorted(unknown))
            return f"names unknown {entity} states {names} (states: {', '.join(states)})"
        return None

    return check


def _flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, got {_show(value)}"


def _show(value: Any) -> str:
    text = orjson.dumps(value, default=str).decode()
    return text if len(text) <= 80 else text[:77] + "..."


# --- the key table -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeySpec:
    """One config key: its built-in default, the check its override values must pass, and for a number
    the largest value that check lets through."""

    default: Any
    check: Check
    high: float | None = None


def _bounded(default: Any, check: Callable[[float], Check], high: float) -> KeySpec:
    return KeySpec(default, check(high), high)


def _build_keys() -> dict[str, KeySpec]:
    keys: dict[str, KeySpec] = {}
    for metric, hours in SLA_THRESHOLD_HOURS.items():
        keys[f"sla.{metric}.threshold_hours"] = _bounded(hours, _positive_number, MAX_HOURS)
    keys["sla.at_risk_fraction"] = KeySpec(SLA_AT_RISK_FRACTION, _fraction)
    keys["health.gate_pass_rate"] = KeySpec(HEALTH_GATE_PASS_RATE, _share)
    keys["health.sla_breach_rate_pct"] = _bounded(HEALTH_SLA_BREACH_RATE_PCT, _positive_number, 100)
    for item, days in FOLLOW_UP_QUIET_DAYS.items():
        keys[f"followup.{item}_quiet_days"] = _bounded(days, _positive_number, MAX_DAYS)
    keys["checklist.pink.items"] = KeySpec(PINK_ITEMS, _checklist)
    keys["checklist.red.items"] = KeySpec(RED_ITEMS, _checklist)
    keys["gate_mode"] = KeySpec("enforce", _gate_mode)
    keys["enrichment"] = KeySpec({}, check_enrichment)
    keys["transitions.candidate"] = KeySpec(CANDIDATE_TRANSITIONS, _transitions("candidate"))
    keys["transitions.pursuit"] = KeySpec(PURSUIT_TRANSITIONS, _transitions("pursuit"))
    for atom_type in ATOM_TYPES:
        keys[f"memory.score.{atom_type}"] = _bounded(MEMORY_SCORE[atom_type], _positive_number, MAX_POINTS)
        keys[f"memory.retention_days.{atom_type}"] = _bounded(
            MEMORY_RETENTION_DAYS[atom_type], _positive_number, MAX_DAYS
        )
        keys[f"memory.half_life_days.{atom_type}"] = _bounded(
            MEMORY_HALF_LIFE_DAYS[atom_type], _positive_number, MAX_DAYS
        )
    keys["memory.pinned_types"] = KeySpec([], _pinned_types)
    keys["import.stage_map"] = KeySpec(DEFAULT_STAGE_MAP, check_stage_map)
    keys["memory.note_rules"] = KeySpec(NOTE_RULES, _note_rules)
    for name, points in RANKING_POINTS.items():
        keys[f"ranking.{name}"] = _bounded(points, _non_negative_number, MAX_POINTS)
    for name, cutoff in RANKING_THRESHOLDS.items():
        high = (
            MAX_HOURS
            if name.endswith("_hours")
            else MAX_DAYS
            if name.endswith("_days")
            else MAX_AMOUNT
            if name.endswith("_usd")
            else MAX_POINTS
        )
        keys[f"ranking.{name}"] = _bounded(cutoff, _positive_number, high)
    outbox_max = {
        "max_attempts": MAX_ATTEMPTS,
        "backoff_cap_minutes": MAX_BACKOFF_MINUTES,
        "stale_claim_minutes": MAX_STALE_CLAIM_MINUTES,
    }
    identity_checks = {"default_region": check_region, "auto_link": _flag, "match_probability": _fraction}
    for name, value in IDENTITY.items():  # the rest are record counts
        spec = KeySpec(value, identity_checks[name]) if name in identity_checks else None
        keys[f"identity.{name}"] = spec or _bounded(value, _positive_int, 10**9)
    for name, number in OUTBOX.items():
        keys[f"outbox.{name}"] = _bounded(number, _positive_int, outbox_max[name])
    return dict(sorted(keys.items()))


KEYS: dict[str, KeySpec] = _build_keys()
DEFAULTS: dict[str, Any] = {key: spec.default for key, spec in KEYS.items()}


def freeze(value: Any) -> Any:
    """A read-only copy of a JSON value (lists become tuples, objects read-only mappings)."""
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict | MappingProxyType):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    return value


def json_text(value: Any) -> str:
    """Canonical JSON text of a config value (sorted keys), as stored in `config_registry.value`."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


@dataclass(frozen=True)
class ConfigVerdict:
    """The judgement of one `config.changed` payload: `ok`, or `rule` = invalid_config with a detail."""

    ok: bool
    key: str | None
    value: Any = None
    detail: str | None = None

    @property
    def rule(self) -> str | None:
        return None if self.ok else Rule.INVALID_CONFIG


def validate_change(payload: Mapping[str, Any]) -> ConfigVerdict:
    """Judge a `config.changed` payload (`key`, `value`). Never raises."""
    key = payload.get("key") if isinstance(payload, Mapping) else None
    if not isinstance(key, str):
        return ConfigVerdict(False, None, detail=f"key must be a string, got {_show(key)}")
    spec = KEYS.get(key)
    if spec is None:
        return ConfigVerdict(False, key, detail=f"unknown config key {key!r}")
    if "value" not in payload:
        return ConfigVerdict(False, key, detail=f"{key}: value is missing")
    value = payload["value"]
    try:
        problem = spec.check(value)
    except Exception as exc:  # a check must never take the fold down; report what broke
        problem = f"could not be checked ({type(exc).__name__})"
    if problem is not None:
        return ConfigVerdict(False, key, detail=f"{key} {problem}")
    return ConfigVerdict(True, key, value)


# --- the registry ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigChange:
    """An accepted override: `value` for `key` in `org_id` from `effective_from` on."""

    org_id: str
    key: str
    value: Any
    effective_from: datetime
    event_id: str


class ConfigRegistry:
    """Effective-dated config per org: built-in defaults plus accepted `config.changed` overrides.

    A change is in force from its `occurred_at` inclusive (so it applies before an event at the same
    instant); changes at the same instant apply in `event_id` order, the last one winning.
    """

    def __init__(self, changes: Iterable[ConfigChange] = (), rejections: Iterable[dict[str, Any]] = ()):
        ordered = sorted(changes, key=lambda c: (c.org_id, c.key, c.effective_from, c.event_id))
        self._changes: dict[tuple[str, str], list[ConfigChange]] = {}
        for change in ordered:
            self._changes.setdefault((change.org_id, change.key), []).append(change)
        self._times = {k: [c.effective_from for c in v] for k, v in self._changes.items()}
        self._frozen = {k: [freeze(c.value) for c in v] for k, v in self._changes.items()}
        self._defaults = {key: freeze(value) for key, value in DEFAULTS.items()}
        self.rejections: list[dict[str, Any]] = sorted(
            rejections, key=lambda r: (r["org_id"], r["occurred_at"], r["event_id"])
        )

    @classmethod
    def from_events(cls, events: Iterable[Mapping[str, Any]]) -> ConfigRegistry:
        """Build from accepted events (any orgs, any order); other event names are skipped."""
        changes: list[ConfigChange] = []
        rejections: list[dict[str, Any]] = []
        for event in events:
            if event["event_name"] != CONFIG_EVENT:
                continue
            verdict = validate_change(event.get("payload") or {})
            if verdict.ok:
                changes.append(
                    ConfigChange(
                        event["org_id"], verdict.key, verdict.value, event["occurred_at"], event["event_id"]
                    )
                )
            else:
                rejections.append(config_rejection(event, verdict.detail or "invalid config"))
        return cls(changes, rejections)

    def value(self, org_id: str, key: str, at: datetime) -> Any:
        """The (read-only) value of `key` in force for `org_id` at `at`. Unknown keys raise KeyError."""
        times = self._times.get((org_id, key))
        if times:
            index = bisect_right(times, at)
            if index:
                return self._frozen[(org_id, key)][index - 1]
        return self._defaults[key]

    def values(self, org_id: str, at: datetime) -> dict[str, Any]:
        """Every key's value in force for `org_id` at `at`."""
        return {key: self.value(org_id, key, at) for key in KEYS}

    def orgs(self) -> list[str]:
        """Orgs with at least one accepted override."""
        return sorted({org for org, _ in self._changes})

    def history(self, org_id: str) -> list[dict[str, Any]]:
        """`config_registry` rows for one org: a default row per key, then each override, effective-dated.

        `effective_from` is NULL for a default (in force since always); `effective_to` is the next
        change's `effective_from`, NULL while still in force.
        """
        rows: list[dict[str, Any]] = []
        for key, default in DEFAULTS.items():
            changes = self._changes.get((org_id, key), [])
            starts: list[datetime | None] = [c.effective_from for c in changes]
            rows.append(
                _history_row(org_id, key, default, None, starts[0] if starts else None, None, "default")
            )
            for i, change in enumerate(changes):
                end = starts[i + 1] if i + 1 < len(starts) else None
                rows.append(
                    _history_row(
                        org_id, key, change.value, change.effective_from, end, change.event_id, "override"
                    )
                )
        return rows


def _history_row(
    org_id: str,
    key: str,
    value: Any,
    start: datetime | None,
    end: datetime | None,
    event_id: str | None,
    source: str,
) -> dict[str, Any]:
    return {
        "org_id": org_id,
        "key": key,
        "value": json_text(value),
        "effective_from": start,
        "effective_to": end,
        "event_id": event_id,
        "source": source,
    }


def config_rejection(event: Mapping[str, Any], detail: str) -> dict[str, Any]:
    """The `rejected_events` row for an invalid `config.changed` event."""
    return {
        "org_id": event["org_id"],
        "event_id": event["event_id"],
        "event_name": event["event_name"],
        "entity_type": event["entity_type"],
        "entity_id": event["entity_id"],
        "occurred_at": event["occurred_at"],
        "rule": Rule.INVALID_CONFIG,
        "detail": detail,
        "outcome": Outcome.REJECTED,
    }
