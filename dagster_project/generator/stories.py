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
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from dagster_project.contract.events import SOURCE_TYPES

from . import catalog as cat
from .clock import DAY, HOUR, MINUTE
from .orgs import SPAN_DAYS, Org, ascii_slug
from .outcomes import (
    FAST_FIRST_RESPONSE,
    FAST_RESPONSE_HOURS,
    REFERRAL,
    RISK_MITIGATION,
    RISK_MITIGATION_RATE,
    RISK_MITIGATION_TAG,
    win_probability,
)
from .telling import Event, StoryTelling, pick

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


_CONTACT_SLUGS = {name: ascii_slug(name) for name in cat.CONTACT_NAMES}


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

    def team_story(self, org: Org) -> list[Event]:
        """Who the org's users are, at its first config change (before any story names them): one
        `user.updated` per rep, capture lead and the admin, and a former rep named and then erased."""
        at = org.clock.fmt(org.config[0][0])
        former, former_name = org.former
        people = [
            (user, {"name": name, "email": user, "title": title, "active": True})
            for user, (name, title) in sorted(org.team.items())
        ]
        people.append(
            (former, {"name": former_name, "email": former, "title": "Account executive", "active": False})
        )
        out: list[Event] = [
            (org.event_id(), org.org_id, at, "user.updated", "user", user, org.admin, payload)
            for user, payload in people
        ]
        reason = {"reason": "left the company and asked to be forgotten"}
        out.append((org.event_id(), org.org_id, at, "user.erased", "user", former, org.admin, reason))
        return out

    def stories(self) -> Iterator[list[Event]]:
        """Config and the team first, then one showcase story per org (every event name), then random
        stories."""
        for org in self.orgs:
            yield self.config_story(org)
            yield self.team_story(org)
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


class _Story(StoryTelling):
    """One client inquiry, told as events. `showcase` forces every branch that names a new event.

    The plot (signals, the candidate, the pursuit); `StoryTelling` writes its events down.
    """

    # --- the story ------------------------------------------------------------------------------
    def run(self) -> list[Event]:
        org, r = self.org, self.r
        clock = org.clock
        if self.sc:
            t = self.snap(org.stories_from + int((5 + 10 * r()) * DAY), self.rng)
        else:
            t = self.snap(org.stories_from + int(r() * (clock.end - org.stories_from)), self.rng)
        self.topic = pick(cat.TOPICS, r())
        self.client = client = pick(org.clients, r())
        self.owner = owner = pick(org.reps, r())
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
        # The outcome effects the inquiry carries (generator/outcomes.py): set by its first live signal.
        self.effects: set[str] = set()
        for i in range(n_signals):
            t = self.adv(t, 0.02, 8.0 if i else 0.3)
            last_created = t
            sig = self._signal(t, i, first=not live)
            if sig is not None:
                live.append(sig)
        if not live or not self.chance(0.45):
            return self.out
        self._candidate(self.adv(last_created, 0.5, 30), live)
        return self.out

    def _signal(self, t: int, i: int, first: bool = False) -> str | None:
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
        contact = pick(cat.CONTACT_NAMES, r())
        cid, cname, cdomain, _ = self.client
        payload: dict[str, Any] = {
            "source_type": source,
            "snippet": self.fill(pick(cat.SNIPPETS[source], r())),
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
        if self.sc and i == 0:
            self._people(t, sig, payload)

        if (self.sc and i == 1) or (not self.sc and r() < 0.12):
            slow = r() < 0.1
            td = self.adv(t, 26, 70) if slow else self.adv(t, 0.1, 6)
            self.emit(
                td, "signal.dismissed", "signal", sig, owner, {"reason": pick(cat.DISMISS_REASONS, r())}
            )
            return None
        u = r()
        tt = t
        if self.sc or u < 0.08:
            tt = self.adv(t, 0.02, 2)
            self.emit(tt, "signal.updated", "signal", sig, org.admin, {"owner": pick(org.reps, r())})
        if self.sc or u < 0.92:
            v = r()
            if v < 0.7:
                tt = self.adv(tt, 0.02, 3)
            elif v < 0.9:
                tt = self.adv(tt, 3, 20)
            else:
                tt = self.adv(tt, 25, 80)  # a triage SLA breach (24 h default)
            self.emit(tt, "signal.touched", "signal", sig, owner, {"channel": pick(cat.CHANNELS, r())})
            if first and tt - t <= FAST_RESPONSE_HOURS * HOUR:
                self.effects.add(FAST_FIRST_RESPONSE.name)
        if first and source == "referral":
            self.effects.add(REFERRAL.name)
        if self.chance(0.1):
            self.note(self.adv(tt, 0.05, 4), "signal", sig, owner)
        return sig

    def _people(self, t: int, sig: str, signal: dict[str, Any]) -> None:
        """The showcase's contacts: the signal's sender as a contact, a second spelling of them merged and
        split again, a client merged and split, and a contact erased. Steps of whole minutes, no draws:
        the random stories after the showcase stay as they were."""
        org, cid = self.org, self.client[0]
        person, twin, gone = (f"ct-{sig[4:]}-{n}" for n in ("a", "b", "c"))
        other = next((c[0] for c in org.clients if c[0] != cid), cid)
        steps = [
            (
                "contact",
                person,
                "contact.updated",
                {
                    "name": signal["contact_name"],
                    "email": signal["contact_email"],
                    "client_id": cid,
                    "source_system": "app",
                    "source_id": person,
                },
            ),
            ("contact", person, "contact.linked", {"signal_id": sig, "client_id": cid}),
            (
                "contact",
                twin,
                "contact.updated",
                {
                    "name": signal["contact_name"].upper(),
                    "email": " " + signal["contact_email"].title() + " ",
                },
            ),
            ("contact", twin, "contact.merged", {"into_contact_id": person}),
            ("contact", twin, "contact.split", {"from_contact_id": person}),
            ("client", cid, "client.merged", {"into_client_id": other}),
            ("client", cid, "client.split", {"from_client_id": other}),
            (
                "contact",
                gone,
                "contact.updated",
                {"name": "Erin Ased", "email": f"erin@{signal['company_domain']}"},
            ),
            ("contact", gone, "contact.erased", {"reason": "the person asked to be forgotten"}),
        ]
        for k, (etype, eid, name, payload) in enumerate(steps, 1):
            self.emit(t + k * MINUTE, name, etype, eid, org.admin, payload)

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
        tags = sorted({pick(cat.TAGS, r()) for _ in range(int(r() * 4))})
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
            plan = pick(("promote_from_new", "nurture_from_new", "after_archive"), r())
        if self.chance(0.15):
            t = self.adv(t, 0.1, 24)
            u = r()
            if u < 0.4:
                upd: dict[str, Any] = {"value_band": "med" if band != "med" else "high"}
            elif u < 0.7:
                upd = {"tags": sorted(set(tags) | {pick(cat.TAGS, r())})}
            elif u < 0.85:
                upd = {"owner": pick(org.reps, r())}
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
            reason = pick(cat.CANDIDATE_ARCHIVE_REASONS, r())
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
                if self.chance(RISK_MITIGATION_RATE):  # weighed while qualifying the lead
                    t = self.adv(self._mitigation(t), 0.1, 2)
                pid = retry_pid or self._next_pursuit()  # a rejected promotion created nothing: reuse
                if self._promote(t, state, pid) == "promoted":
                    self._pursuit(self.adv(t, 0.1, 2), pid)
                return
            if step == "stall":
                return
            if step == "archived":
                reason = pick(cat.CANDIDATE_ARCHIVE_REASONS, r())
                self._cand_move(
                    t, state, "archived", {"to": "archived", "reason": reason}, "candidate.status_changed"
                )
                return
            to = step if state != step else "triaged"
            payload = {"to": to}
            if to == "nurture":
                payload["reason"] = pick(cat.NURTURE_REASONS, r())
            elif to == "on_hold":
                payload["reason"] = pick(cat.HOLD_REASONS, r())
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
        self.lead = lead = pick(org.leads, r())
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
            else pick(("skip_stage", "pink_missing", "no_proposal", "after_terminal"), r())
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

        missing = pick(org.pink_items, r()) if plan == "pink_missing" else None
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
        if self.sc or r() < win_probability(self.effects):
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

    def _mitigation(self, t: int) -> int:
        """A risk-mitigation note on the candidate as it is qualified, before its promotion: one of the
        outcome effects (generator/outcomes.py). Recorded before the pursuit exists, so every stage the
        pursuit enters, its first included, is scored knowing it (docs/generator.md says why)."""
        payload = {
            "atom_type": "risk",
            "content": self.fill(pick(cat.RISK_MITIGATION_NOTES, self.r())),
            "tags": [RISK_MITIGATION_TAG],
        }
        if self.emit(t, "memory.recorded", "candidate", self.cand, self.owner, payload) is not None:
            self.effects.add(RISK_MITIGATION.name)
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
        code = pick(tuple(cat.WON_REASONS), r())
        if r() < 0.3:
            self._stage(t, "won", reason=cat.WON_REASONS[code])
        else:
            self._stage(t, "won", reason=cat.WON_REASONS[code], reason_code=code)

    def _lose(self, t: int) -> None:
        r = self.r
        if not self.sc and r() < 0.05:
            self._stage(t, "lost")
            return
        code = pick(tuple(cat.LOST_REASONS), r())
        self._stage(t, "lost", reason=self.fill(cat.LOST_REASONS[code]), reason_code=code)
