"""The tenants of the demo data: each org's clock, team, client pool, id counters and config schedule."""

from __future__ import annotations

import random
import unicodedata
from datetime import datetime
from typing import Any

from . import catalog as cat
from .clock import DAY, HOUR, MINUTE, OrgClock

SPAN_DAYS = 120
PINK_ITEMS = ("budget_confirmed", "technical_scope_defined", "decision_makers_identified", "timeline_agreed")
RED_ITEMS = ("proposal_reviewed", "pricing_approved", "legal_terms_agreed", "delivery_plan_finalized")


def ascii_slug(text: str, sep: str = ".") -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return sep.join("".join(c for c in part if c.isalnum()) for part in plain.split())


class Org:
    """One tenant: its clock, team, client pool, id counters and config schedule."""

    def __init__(
        self, idx: int, end: datetime, pool_size: int, rng: random.Random, span_days: int = SPAN_DAYS
    ) -> None:
        if idx < len(cat.ORGS):
            self.org_id, tz, self.domain = cat.ORGS[idx]
        else:
            base = cat.ORGS[idx % len(cat.ORGS)]
            self.org_id, tz, self.domain = f"org-{idx + 1:03d}", base[1], f"org-{idx + 1:03d}.example"
        self.idx = idx
        self.id_prefix = f"evt-{self.org_id}-"
        self.tz_name = tz
        self.clock = OrgClock(tz, end, span_days)
        people = [(f, last) for f in cat.FIRST_NAMES for last in cat.LAST_NAMES]
        picked = rng.sample(people, 13)
        self.reps = tuple(f"{f}.{last}@{self.domain}" for f, last in picked[:10])
        self.leads = tuple(f"{f}.{last}@{self.domain}" for f, last in picked[10:])
        self.admin = f"revops.admin@{self.domain}"
        # Who the team are (`user.updated`): each sign-in email by the person's name. A former rep, named
        # from the catalogue without a draw (so the other data stays as it was), is named and then
        # erased: the demo shows a forgotten user falling back to their id.
        self.team: dict[str, tuple[str, str]] = {
            **{
                f"{f}.{last}@{self.domain}": (f"{f.title()} {last.title()}", "Account executive")
                for f, last in picked[:10]
            },
            **{
                f"{f}.{last}@{self.domain}": (f"{f.title()} {last.title()}", "Capture lead")
                for f, last in picked[10:]
            },
            self.admin: ("Revenue Operations", "Administrator"),
        }
        first, last = (
            cat.FIRST_NAMES[idx % len(cat.FIRST_NAMES)],
            cat.LAST_NAMES[-1 - idx % len(cat.LAST_NAMES)],
        )
        self.former = (f"former.{first}.{last}@{self.domain}", f"{first.title()} {last.title()}")
        combos = [(p, s) for p in cat.CLIENT_PREFIXES for s in cat.CLIENT_SUFFIXES]
        self.clients: list[tuple[str, str, str, str]] = []
        for prefix, (suffix, industry) in rng.sample(combos, min(pool_size, len(combos))):
            name = f"{prefix} {suffix}"
            slug = ascii_slug(name, "-")
            domain = slug.replace("-", "") + cat.TLDS[len(self.clients) % len(cat.TLDS)]
            self.clients.append((f"cli-{slug}", name, domain, industry))
        self.announced: set[str] = set()  # membership only, never iterated
        self.n_event = self.n_signal = self.n_candidate = self.n_pursuit = 0
        self.pink_items = PINK_ITEMS + (("security_review_completed",) if idx % 4 == 3 else ())
        self.red_items = RED_ITEMS
        self.config: list[tuple[int, str, Any]] = []
        self.warn_from = self.warn_to = 0
        self._plan_config(rng)
        self.stories_from = self.config[0][0] + HOUR

    def _plan_config(self, rng: random.Random) -> None:
        snap, start = self.clock.snap, self.clock.start
        kind = self.idx % 4
        plan: list[tuple[int, str, Any]]
        if kind == 0:
            plan = [
                (0, "sla.triage.threshold_hours", 24),
                (0, "gate_mode", "enforce"),
                (0, "memory.pinned_types", ["decision"]),
                (40, "sla.triage.threshold_hours", 12),
                (41, "legacy.import_mode", "strict"),  # unknown key: rejected as invalid_config
            ]
        elif kind == 1:  # history imported from a system without gates, then gates switched on
            plan = [
                (0, "gate_mode", "warn"),
                (0, "checklist.pink.items", list(PINK_ITEMS)),
                (60, "gate_mode", "enforce"),
                (60, "sla.response.threshold_hours", 120),
            ]
        elif kind == 2:
            plan = [
                (0, "sla.proposal.threshold_hours", 96),
                (0, "checklist.red.items", list(RED_ITEMS)),
                (0, "sla.at_risk_fraction", 0.8),
                (0, "gate_mode", "enforce"),
            ]
        else:
            plan = [
                (0, "checklist.pink.items", list(self.pink_items)),
                (0, "memory.retention_days.note", 60),
                (30, "sla.triage.threshold_hours", 8),
            ]
        t_prev = 0
        for day, key, value in plan:
            t = snap(start + day * DAY + 30 * MINUTE + int(rng.random() * 20 * MINUTE), rng)
            t = max(t, t_prev + MINUTE + int(rng.random() * 5 * MINUTE))
            t_prev = t
            self.config.append((t, key, value))
            if key == "gate_mode":
                if value == "warn":
                    self.warn_from, self.warn_to = t, self.clock.end + DAY
                elif self.warn_to > t:
                    self.warn_to = t

    def gate_warn(self, t: int) -> bool:
        """Whether `gate_mode = warn` is in force at local time `t`."""
        return self.warn_from <= t < self.warn_to

    def event_id(self) -> str:
        self.n_event += 1
        return f"{self.id_prefix}{self.n_event:08d}"
