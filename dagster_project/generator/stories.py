"""What happens to each entity: coherent, seeded sales stories, one at a time.

A *story* follows one client's inquiry from its signals through triage, a candidate, a promotion and a
pursuit to won or lost, with notes, memory atoms and the odd deliberately illegal move. Stories are
generated one by one (bounded memory) and mirror the contract's guarded state machines, so the story
knows which of its own events the apply step will reject and carries on from the state actually
reached. Illegal *transitions* are only planned while an org enforces gates; gate failures are planned
in both modes (under `gate_mode = warn` they are applied, and the story follows suit).
"""

from __future__ import annotations

import random
import string
import unicodedata
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from dagster_project.contract.events import SOURCE_TYPES

from . import catalog as cat
from .clock import CLOSE, DAY, HH_MM, HOUR, MINUTE, OPEN, SECOND, SS, US3, OrgClock

# One event as written: the 8 envelope fields in contract order; `actor` may be None.
Event = tuple[str, str, str, str, str, str, str | None, dict[str, Any]]

SPAN_DAYS = 120
PINK_ITEMS = ("budget_confirmed", "technical_scope_defined", "decision_makers_identified", "timeline_agreed")
RED_ITEMS = ("proposal_reviewed", "pricing_approved", "legal_terms_agreed", "delivery_plan_finalized")
# The contract's default lifecycle (events.md, "Lifecycle rules"); the stories mirror it to know which of
# their own moves the apply step rejects. No org in the demo overrides `transitions.*`.
CANDIDATE_NEXT = {
    "new": ("triaged", "archived"),
    "triaged": ("nurture", "on_hold", "promoted", "archived"),
    "nurture": ("triaged", "on_hold", "promoted", "archived"),
    "on_hold": ("triaged", "nurture", "promoted", "archived"),
    "promoted": (),
    "archived": (),
}
PURSUIT_NEXT = {
    "qual": ("pink", "lost"),
    "pink": ("red", "qual", "lost"),
    "red": ("submit", "pink", "lost"),
    "submit": ("won", "lost"),
    "won": (),
    "lost": (),
}
_SOURCE_WEIGHTS = (0.32, 0.2, 0.12, 0.08, 0.18, 0.1)  # aligned with contract.SOURCE_TYPES
_SOURCE_CUM = tuple(sum(_SOURCE_WEIGHTS[: i + 1]) for i in range(len(_SOURCE_WEIGHTS)))


def _ascii_slug(text: str, sep: str = ".") -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return sep.join("".join(c for c in part if c.isalnum()) for part in plain.split())


_CONTACT_SLUGS = {name: _ascii_slug(name) for name in cat.CONTACT_NAMES}


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
        combos = [(p, s) for p in cat.CLIENT_PREFIXES for s in cat.CLIENT_SUFFIXES]
        self.clients: list[tuple[str, str, str, str]] = []
        for prefix, (suffix, industry) in rng.sample(combos, min(pool_size, len(combos))):
            name = f"{prefix} {suffix}"
            slug = _ascii_slug(name, "-")
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


class World:
    """All orgs plus the endless stream of stories (`stories()`); the caller decides when to stop."""

    def __init__(
        self, orgs: int, end: datetime, events: int, rng: random.Random, span_days: int = SPAN_DAYS
    ) -> None:
        self.rng = rng
        pool = max(30, min(800, events // max(1, orgs * 60)))
        self.orgs = [Org(i, end, pool, rng, span_days) for i in range(orgs)]
        weights = [1.0 / (1 + 0.35 * i) for i in range(orgs)]
        total = sum(weights)
        acc = 0.0
        self._cum = []
        for w in weights:
            acc += w / total
            self._cum.append(acc)

    def config_story(self, org: Org) -> list[Event]:
        out: list[Event] = []
        for t, key, value in org.config:
            out.append(
                (
                    org.event_id(),
                    org.org_id,
                    org.clock.fmt(t),
                    "config.changed",
                    "org",
                    org.org_id,
                    org.admin,
                    {"key": key, "value": value},
                )
            )
        return out

    def stories(self) -> Iterator[list[Event]]:
        """Config first, then one showcase story per org (every event name), then random stories."""
        for org in self.orgs:
            yield self.config_story(org)
        for org in self.orgs:
            yield _Story(org, self.rng, showcase=True).run()
        r, cum, orgs = self.rng.random, self._cum, self.orgs
        last = len(orgs) - 1
        while True:
            u = r()
            i = 0
            while i < last and u > cum[i]:
                i += 1
            yield _Story(orgs[i], self.rng).run()


_TEMPLATE_FIELDS: dict[str, tuple[str, ...]] = {}  # template -> its placeholder names (a parse cache)
_FILL_POOLS = {
    "contact": cat.CONTACT_NAMES,
    "competitor": cat.COMPETITORS,
    "partner": cat.PARTNERS,
    "region": cat.REGIONS,
}


def _pick(seq: tuple[Any, ...] | list[Any], u: float) -> Any:
    return seq[int(u * len(seq))]


class _Story:
    """One client inquiry, told as events. `showcase` forces every branch that names a new event."""

    def __init__(self, org: Org, rng: random.Random, showcase: bool = False) -> None:
        self.org = org
        self.rng = rng
        self.r = rng.random
        self.sc = showcase
        self.out: list[Event] = []
        self.clock = org.clock
        self.days = org.clock._days
        self.end = org.clock.end
        self.fmt = org.clock.fmt
        self.snap = org.clock.snap

    # --- plumbing -------------------------------------------------------------------------------
    def emit(
        self, t: int, name: str, etype: str, eid: str, actor: str | None, payload: dict[str, Any]
    ) -> str | None:
        """Append one event; events after the window's end are dropped (the story is cut off there)."""
        if t > self.end:
            return None
        org = self.org
        org.n_event += 1
        ev_id = "%s%08d" % (org.id_prefix, org.n_event)  # noqa: UP031 - faster than an f-string here
        # OrgClock.fmt, inlined: this runs once per event.
        d, rest = divmod(t, DAY)
        prefix, off = self.days.get(d) or self.clock.day_info(d)
        m, rest = divmod(rest, MINUTE)
        s, us = divmod(rest, SECOND)
        ts = f"{prefix}{HH_MM[m]}{SS[s]}{US3[us // 1000]}{US3[us % 1000]}{off}"
        self.out.append((ev_id, org.org_id, ts, name, etype, eid, actor, payload))
        return ev_id

    def adv(self, t: int, lo_h: float, hi_h: float) -> int:
        """Advance by lo..hi hours (at least a second, microsecond jitter), then snap into business hours."""
        u = self.r()
        t += int((lo_h + (hi_h - lo_h) * u) * HOUR) + SECOND + int(u * 1e12) % SECOND
        d, rest = divmod(t, DAY)
        if (d + 3) % 7 < 5 and OPEN <= rest < CLOSE:
            return t
        return self.snap(t, self.rng)

    def chance(self, p: float) -> bool:
        return self.sc or self.r() < p

    def fill(self, template: str) -> str:
        """`template` with its placeholders filled (only those it names draw random numbers)."""
        fields = _TEMPLATE_FIELDS.get(template)
        if fields is None:
            fields = tuple(f for _, f, _, _ in string.Formatter().parse(template) if f)
            _TEMPLATE_FIELDS[template] = fields
        if not fields:
            return template
        r = self.r
        values: dict[str, Any] = {}
        for f in fields:
            if f == "topic":
                values[f] = self.topic
            elif f == "n":
                values[f] = 10 * (1 + int(r() * 50))
            elif f == "pct":
                values[f] = 5 + int(r() * 25)
            else:
                pool = _FILL_POOLS[f]
                values[f] = pool[int(r() * len(pool))]
        return template.format_map(values)

    def note_text(self) -> str:
        u = self.r()
        if u < 0.25:
            pool = cat.PREFERENCE_NOTES
        elif u < 0.5:
            pool = cat.RISK_NOTES
        elif u < 0.7:
            pool = cat.DECISION_NOTES
        else:
            pool = cat.PLAIN_NOTES
        return self.fill(_pick(pool, self.r()))

    def note(self, t: int, etype: str, eid: str, actor: str | None) -> None:
        self.emit(t, f"{etype}.note_added", etype, eid, actor, {"text": self.note_text()})

    def memory(self, t: int, etype: str, eid: str, actor: str | None, force_redact: bool = False) -> int:
        """A `memory.recorded` atom (returns its time); some are later corrected or redacted."""
        r = self.r
        redact = force_redact or r() < 0.03
        if redact:
            atom_type = "note"
            content = f"Personal mobile of {_pick(cat.CONTACT_NAMES, r())}: +44 7700 900{int(r() * 1000):03d}"
        else:
            u = r()
            if u < 0.2:
                atom_type, pool = "decision", cat.DECISION_NOTES
            elif u < 0.45:
                atom_type, pool = "risk", cat.RISK_NOTES
            elif u < 0.65:
                atom_type, pool = "preference", cat.PREFERENCE_NOTES
            elif u < 0.9:
                atom_type, pool = "note", cat.PLAIN_NOTES
            else:
                atom_type, pool = "status", cat.STATUS_NOTES
            content = self.fill(_pick(pool, r()))
        payload: dict[str, Any] = {"atom_type": atom_type, "content": content}
        if r() < 0.35:
            system, url, weight = _pick(cat.MEMORY_SOURCES, r())
            payload["source"] = {
                "system": system,
                "url": url.format(n=int(r() * 1e6)),
                "trust_weight": weight,
            }
        if r() < 0.4:
            payload["tags"] = [_pick(cat.TAGS, r())]
        if r() < 0.2:
            payload["expires_at"] = self.fmt(t + int((30 + r() * 150) * DAY))
        atom_id = self.emit(t, "memory.recorded", etype, eid, actor if r() < 0.7 else None, payload)
        if atom_id is None:
            return t
        if r() < 0.3:
            payload["atom_id"] = atom_id  # optional; always the event's own id
        recorded_at = t
        if redact:
            t = self.adv(t, 2, 200)
            reason = _pick(("PII: personal phone number", "Contact asked to be forgotten"), r())
            self.emit(
                t, "memory.redacted", etype, eid, self.org.admin, {"atom_id": atom_id, "reason": reason}
            )
        elif self.sc or r() < 0.04:
            t = self.adv(t, 1, 100)
            self.emit(
                t,
                "memory.corrected",
                etype,
                eid,
                actor,
                {
                    "atom_id": atom_id,
                    "content": content.rstrip(".") + " (confirmed on call).",
                    "reason": "Clarified",
                },
            )
        return recorded_at

    # --- the story ------------------------------------------------------------------------------
    def run(self) -> list[Event]:
        org, r = self.org, self.r
        clock = org.clock
        if self.sc:
            t = self.snap(org.stories_from + int((5 + 10 * r()) * DAY), self.rng)
        else:
            t = self.snap(org.stories_from + int(r() * (clock.end - org.stories_from)), self.rng)
        self.topic = _pick(cat.TOPICS, r())
        self.client = client = _pick(org.clients, r())
        self.owner = owner = _pick(org.reps, r())
        cid, cname, cdomain, industry = client
        if cid not in org.announced:
            # Notes and atoms about a client only follow its own client.updated, so the client surely
            # exists at their time (other stories may reference it earlier: clients exist implicitly).
            org.announced.add(cid)
            self.emit(
                t,
                "client.updated",
                "client",
                cid,
                owner,
                {"name": cname, "domain": cdomain, "industry": industry},
            )
            if self.chance(0.06):
                self.note(self.adv(t, 0, 4), "client", cid, owner)
            if self.chance(0.05):
                self.memory(self.adv(t, 0, 6), "client", cid, owner, force_redact=self.sc)
        elif r() < 0.03:
            self.emit(t, "client.updated", "client", cid, owner, {"industry": industry, "domain": cdomain})

        # Signals: 1-3 per inquiry (same client, different channels), each triaged on its own clock.
        n_signals = 2 if self.sc else 1 + (r() < 0.25) + (r() < 0.05)
        live: list[str] = []
        last_created = t
        for i in range(n_signals):
            t = self.adv(t, 0.02, 8.0 if i else 0.3)
            last_created = t
            sig = self._signal(t, i)
            if sig is not None:
                live.append(sig)
        if not live or not self.chance(0.45):
            return self.out
        self._candidate(self.adv(last_created, 0.5, 30), live)
        return self.out

    def _signal(self, t: int, i: int) -> str | None:
        """Create one signal and triage it; returns its id unless it was dismissed."""
        org, r, owner = self.org, self.r, self.owner
        org.n_signal += 1
        sig = f"sig-{org.n_signal:07d}"
        if self.sc:
            source = ("email", "web")[i]
        else:
            u = r()
            k = 0
            while k < 5 and u > _SOURCE_CUM[k]:
                k += 1
            source = SOURCE_TYPES[k]
        contact = _pick(cat.CONTACT_NAMES, r())
        cid, cname, cdomain, _ = self.client
        payload: dict[str, Any] = {
            "source_type": source,
            "snippet": self.fill(_pick(cat.SNIPPETS[source], r())),
            "contact_name": contact,
            "contact_email": f"{_CONTACT_SLUGS[contact]}@{cdomain}",
            "company_domain": cdomain,
            "company_name": cname,
            "urgency": round(r(), 2),
        }
        if source == "call" or r() < 0.2:
            payload["contact_phone"] = f"+1-555-01{int(r() * 100):02d}"
        if r() < 0.7:
            payload["owner"] = owner
        actor = None if source in ("web", "ad") else owner
        self.emit(t, "signal.created", "signal", sig, actor, payload)

        if (self.sc and i == 1) or (not self.sc and r() < 0.12):
            slow = r() < 0.1
            td = self.adv(t, 26, 70) if slow else self.adv(t, 0.1, 6)
            self.emit(
                td, "signal.dismissed", "signal", sig, owner, {"reason": _pick(cat.DISMISS_REASONS, r())}
            )
            return None
        u = r()
        tt = t
        if self.sc or u < 0.08:
            tt = self.adv(t, 0.02, 2)
            self.emit(tt, "signal.updated", "signal", sig, org.admin, {"owner": _pick(org.reps, r())})
        if self.sc or u < 0.92:
            v = r()
            if v < 0.7:
                tt = self.adv(tt, 0.02, 3)
            elif v < 0.9:
                tt = self.adv(tt, 3, 20)
            else:
                tt = self.adv(tt, 25, 80)  # a triage SLA breach (24 h default)
            self.emit(tt, "signal.touched", "signal", sig, owner, {"channel": _pick(cat.CHANNELS, r())})
        if self.chance(0.1):
            self.note(self.adv(tt, 0.05, 4), "signal", sig, owner)
        return sig

    def _cand_move(self, t: int, state: str, to: str, payload: dict[str, Any], name: str) -> str:
        """Emit a candidate transition; return the state the apply step reaches."""
        self.emit(t, name, "candidate", self.cand, self.owner, payload)
        return to if to in CANDIDATE_NEXT[state] else state

    def _candidate(self, t: int, signal_ids: list[str]) -> None:
        org, r, sc = self.org, self.r, self.sc
        org.n_candidate += 1
        self.cand = cand = f"cand-{org.n_candidate:07d}"
        u = r()
        self.band = band = "high" if sc or u < 0.15 else ("med" if u < 0.55 else "low")
        tags = sorted({_pick(cat.TAGS, r()) for _ in range(int(r() * 4))})
        title = f"{self.client[1]}: {self.topic[0].upper()}{self.topic[1:]}"
        payload = {
            "title": title,
            "client_id": self.client[0],
            "value_band": band,
            "owner": self.owner,
            "signal_ids": signal_ids,
            "tags": tags,
        }
        self.emit(t, "candidate.created", "candidate", cand, self.owner, payload)
        state = "new"
        plan = None
        if not sc and r() < 0.04:
            plan = _pick(("promote_from_new", "nurture_from_new", "after_archive"), r())
        if self.chance(0.15):
            t = self.adv(t, 0.1, 24)
            u = r()
            if u < 0.4:
                upd: dict[str, Any] = {"value_band": "med" if band != "med" else "high"}
            elif u < 0.7:
                upd = {"tags": sorted(set(tags) | {_pick(cat.TAGS, r())})}
            elif u < 0.85:
                upd = {"owner": _pick(org.reps, r())}
            else:
                upd = {"title": title + " (phase 2)"}
            self.emit(t, "candidate.updated", "candidate", cand, self.owner, upd)
        if self.chance(0.3):
            t = self.adv(t, 0.1, 12)
            self.note(t, "candidate", cand, self.owner)
        if self.chance(0.15):
            t = self.memory(self.adv(t, 0.1, 12), "candidate", cand, self.owner)

        t = self.adv(t, 0.3, 24)
        retry_pid = None
        if plan == "promote_from_new" and not org.gate_warn(t):
            retry_pid = self._next_pursuit()
            self._promote(t, state, retry_pid)  # illegal from `new`: rejected, the candidate stays new
            t = self.adv(t, 0.1, 2)
        elif plan == "nurture_from_new" and not org.gate_warn(t):
            state = self._cand_move(t, state, "nurture", {"to": "nurture"}, "candidate.status_changed")
            t = self.adv(t, 0.1, 2)
        if not sc and r() < 0.1:
            reason = _pick(cat.CANDIDATE_ARCHIVE_REASONS, r())
            state = self._cand_move(
                t, state, "archived", {"to": "archived", "reason": reason}, "candidate.status_changed"
            )
            if plan == "after_archive":  # out of a terminal state: always rejected
                t = self.adv(t, 1, 48)
                self._cand_move(t, state, "triaged", {"to": "triaged"}, "candidate.status_changed")
            return
        state = self._cand_move(t, state, "triaged", {"to": "triaged"}, "candidate.status_changed")

        script = iter(("nurture", "triaged", "promote")) if sc else None
        for _ in range(4):
            if script is not None:
                step = next(script)
            else:
                u = r()
                step = (
                    "promote"
                    if u < 0.55
                    else "nurture"
                    if u < 0.68
                    else "on_hold"
                    if u < 0.78
                    else "archived"
                    if u < 0.93
                    else "stall"
                )
            t = self.adv(t, 0.5, 30)
            if step == "promote":
                pid = retry_pid or self._next_pursuit()  # a rejected promotion created nothing: reuse
                if self._promote(t, state, pid) == "promoted":
                    self._pursuit(self.adv(t, 0.1, 2), pid)
                return
            if step == "stall":
                return
            if step == "archived":
                reason = _pick(cat.CANDIDATE_ARCHIVE_REASONS, r())
                self._cand_move(
                    t, state, "archived", {"to": "archived", "reason": reason}, "candidate.status_changed"
                )
                return
            to = step if state != step else "triaged"
            payload = {"to": to}
            if to == "nurture":
                payload["reason"] = _pick(cat.NURTURE_REASONS, r())
            elif to == "on_hold":
                payload["reason"] = _pick(cat.HOLD_REASONS, r())
            state = self._cand_move(t, state, to, payload, "candidate.status_changed")
            if to != "triaged" and not sc:
                t = self.adv(t, 24, 400)

    def _next_pursuit(self) -> str:
        self.org.n_pursuit += 1
        return f"pur-{self.org.n_pursuit:07d}"

    def _promote(self, t: int, state: str, pid: str) -> str:
        r, org = self.r, self.org
        lo, hi = {"low": (10, 50), "med": (50, 250), "high": (250, 2000)}[self.band]
        self.forecast = forecast = 1000 * int(lo + (hi - lo) * r())
        self.lead = lead = _pick(org.leads, r())
        payload = {
            "pursuit_id": pid,
            "due_date": org.clock.date_str(t + int((14 + 46 * r()) * DAY)),
            "forecast_value_usd": forecast,
            "capture_lead": lead,
        }
        return self._cand_move(t, state, "promoted", payload, "candidate.promoted")

    # --- pursuit --------------------------------------------------------------------------------
    def _pursuit(self, t: int, pid: str) -> None:
        org, r, sc = self.org, self.r, self.sc
        self.pid, self.stage, self.proposals = pid, "qual", 0
        self.done: dict[str, set[str]] = {"pink": set(), "red": set()}
        k = 4.0 if (not sc and r() < 0.12) else 1.0  # slow pursuits breach the 72 h proposal SLA
        plan = (
            None
            if sc or r() >= 0.07
            else _pick(("skip_stage", "pink_missing", "no_proposal", "after_terminal"), r())
        )
        lead = self.lead

        if self.chance(0.25):
            upd = {
                "forecast_value_usd": int(self.forecast * (0.8 + 0.4 * r())) // 1000 * 1000,
                "capture_lead": lead,
            }
            self.emit(self.adv(t, 0.1, 2), "pursuit.updated", "pursuit", pid, lead, upd)
        t = self.adv(t, 0.5 * k, 3 * k)
        if plan == "skip_stage" and not org.gate_warn(t):
            self._stage(t, "red")  # qual -> red skips pink: illegal_transition
            t = self.adv(t, 0.2, 3)
        if not sc and r() < 0.05:
            self._lose(t)
            return
        self._stage(t, "pink")

        missing = _pick(org.pink_items, r()) if plan == "pink_missing" else None
        items = list(org.pink_items)
        self.rng.shuffle(items)
        for item in items:
            if item != missing:
                t = self._check(self.adv(t, 0.1 * k, 0.8 * k), "pink", item)
        if self.chance(0.4):  # side events: they do not hold up the pursuit
            self.note(self.adv(t, 0.1, 3), "pursuit", pid, lead)
        if self.chance(0.1):
            self.memory(self.adv(t, 0.1, 3), "pursuit", pid, lead)
        if not sc and r() < 0.06:  # rework: back to qual and forward again
            t = self.adv(t, 0.5, 8)
            self._stage(t, "qual")
            t = self.adv(t, 2, 24)
            self._stage(t, "pink")
        if not sc and r() < 0.05:
            self._lose(self.adv(t, 1, 24))
            return
        t = self.adv(t, 0.3 * k, 2 * k)
        self._stage(t, "red")

        items = list(org.red_items)
        self.rng.shuffle(items)
        for item in items:
            t = self._check(self.adv(t, 0.1 * k, 0.8 * k), "red", item)
        if self.chance(0.6):
            score = round(6 + 4 * r(), 1)
            self.emit(
                self.adv(t, 0.1, 2), "pursuit.updated", "pursuit", pid, lead, {"compliance_score": score}
            )
        if plan != "no_proposal":
            t = self._proposal(self.adv(t, 0.3 * k, 2 * k))
        if not sc and r() < 0.04:
            self._lose(self.adv(t, 1, 48))
            return
        if not sc and r() < 0.04:  # red -> pink -> red: legal back-and-forth
            t = self.adv(t, 0.5, 4)
            self._stage(t, "pink")
            t = self.adv(t, 0.5, 8)
            self._stage(t, "red")
        t = self.adv(t, 0.2 * k, 1.5 * k)
        self._stage(t, "submit")  # with a pink item missing: gate:pink_incomplete (or warned)
        if missing is not None:
            t = self._check(self.adv(t, 0.5, 6), "pink", missing)
            if self.stage == "red":
                t = self.adv(t, 0.2, 3)
                self._stage(t, "submit")
        if self.stage != "submit":
            return
        if self.proposals and self.chance(0.2):
            t = self._proposal(self.adv(t, 2, 30))
        if not sc and r() < 0.06:
            return  # awaiting the client's decision
        t = self.adv(t, 100, 300) if (not sc and r() < 0.1) else self.adv(t, 2, 40)
        if self.chance(0.52):
            if plan == "no_proposal":
                self._stage(t, "won")  # gate:no_sent_proposal (or warned)
                if self.stage == "submit":
                    t = self._proposal(self.adv(t, 0.2, 4))
                    t = self.adv(t, 2, 48)
                    self._win(t)
            else:
                self._win(t)
        else:
            self._lose(t)
        if plan == "after_terminal":  # out of a terminal state: rejected in every mode
            self._stage(self.adv(t, 2, 72), "red" if r() < 0.5 else "qual")
        if self.chance(0.3):
            self.note(self.adv(t, 0.5, 24), "pursuit", pid, lead)

    def _stage(self, t: int, to: str, **extra: str) -> None:
        """Emit a stage change and follow the state the apply step reaches (gates mirrored)."""
        cur = self.stage
        self.emit(t, "pursuit.stage_changed", "pursuit", self.pid, self.lead, {"to": to, **extra})
        if to not in PURSUIT_NEXT[cur]:
            return  # illegal transition (or out of a terminal state): rejected
        ok = True
        if to == "submit":
            ok = self.done["pink"].issuperset(self.org.pink_items)
        elif cur == "submit":
            ok = self.done["red"].issuperset(self.org.red_items) and (to != "won" or self.proposals > 0)
        if ok or self.org.gate_warn(t):
            self.stage = to

    def _check(self, t: int, checklist: str, item: str) -> int:
        if self.r() < 0.04:  # ticked, unticked, ticked again
            self.emit(
                t,
                "pursuit.checklist_item_set",
                "pursuit",
                self.pid,
                self.lead,
                {"checklist": checklist, "item": item, "done": False},
            )
            t = self.adv(t, 0.1, 2)
        self.emit(
            t,
            "pursuit.checklist_item_set",
            "pursuit",
            self.pid,
            self.lead,
            {"checklist": checklist, "item": item, "done": True},
        )
        self.done[checklist].add(item)
        return t

    def _proposal(self, t: int) -> int:
        self.proposals += 1
        v = self.proposals
        payload = {"proposal_id": f"prop-{self.pid[4:]}-v{v}", "version": v}
        self.emit(t, "pursuit.proposal_sent", "pursuit", self.pid, self.lead, payload)
        return t

    def _win(self, t: int) -> None:
        r = self.r
        if not self.sc and r() < 0.05:
            self._stage(t, "won")  # applied, flagged: no reason given
            return
        code = _pick(tuple(cat.WON_REASONS), r())
        if r() < 0.3:
            self._stage(t, "won", reason=cat.WON_REASONS[code])
        else:
            self._stage(t, "won", reason=cat.WON_REASONS[code], reason_code=code)

    def _lose(self, t: int) -> None:
        r = self.r
        if not self.sc and r() < 0.05:
            self._stage(t, "lost")
            return
        code = _pick(tuple(cat.LOST_REASONS), r())
        self._stage(t, "lost", reason=self.fill(cat.LOST_REASONS[code]), reason_code=code)
