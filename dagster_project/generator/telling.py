"""How a story is written down: one event at a time, with business-hours time steps and filled-in text.

`StoryTelling` is the plumbing every story uses (`stories._Story` tells the plot on top of it): it stamps
each event with the org's next id and its local time, cuts the story off at the window's end, and
draws notes and memory atoms from the catalog.
"""

from __future__ import annotations

import random
import string
from typing import TYPE_CHECKING, Any

from . import catalog as cat
from .clock import CLOSE, DAY, HH_MM, HOUR, MINUTE, OPEN, SECOND, SS, US3

if TYPE_CHECKING:
    from .orgs import Org

Event = tuple[str, str, str, str, str, str, str | None, dict[str, Any]]


_TEMPLATE_FIELDS: dict[str, tuple[str, ...]] = {}  # template -> its placeholder names (a parse cache)
_FILL_POOLS = {
    "contact": cat.CONTACT_NAMES,
    "competitor": cat.COMPETITORS,
    "partner": cat.PARTNERS,
    "region": cat.REGIONS,
}


def pick(seq: tuple[Any, ...] | list[Any], u: float) -> Any:
    return seq[int(u * len(seq))]


class StoryTelling:
    """The writing side of one story: `emit` an event, advance the clock, fill a text, add a note."""

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
        return self.fill(pick(pool, self.r()))

    def note(self, t: int, etype: str, eid: str, actor: str | None) -> None:
        self.emit(t, f"{etype}.note_added", etype, eid, actor, {"text": self.note_text()})

    def memory(self, t: int, etype: str, eid: str, actor: str | None, force_redact: bool = False) -> int:
        """A `memory.recorded` atom (returns its time); some are later corrected or redacted."""
        r = self.r
        redact = force_redact or r() < 0.03
        if redact:
            atom_type = "note"
            content = f"Personal mobile of {pick(cat.CONTACT_NAMES, r())}: +44 7700 900{int(r() * 1000):03d}"
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
            content = self.fill(pick(pool, r()))
        payload: dict[str, Any] = {"atom_type": atom_type, "content": content}
        if r() < 0.35:
            system, url, weight = pick(cat.MEMORY_SOURCES, r())
            payload["source"] = {
                "system": system,
                "url": url.format(n=int(r() * 1e6)),
                "trust_weight": weight,
            }
        if r() < 0.4:
            payload["tags"] = [pick(cat.TAGS, r())]
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
            reason = pick(("PII: personal phone number", "Contact asked to be forgotten"), r())
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
